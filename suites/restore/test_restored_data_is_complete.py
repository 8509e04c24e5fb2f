"""Data Recovery: the restored database has the expected tables, enough rows and finished migrations.

Tables, row counts and amcheck come from one verification of the restored database whose queries run in
parallel (``restore_drill.verification()``); its time is the ``verification_seconds`` metric.
"""

from typing import Any

import psycopg
import pytest

from opscheck.errors import CheckFailed
from opscheck.restore.drill import Drill
from opscheck.restore.expectations import live_migration_state, migration_state, table_names
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("data-recovery", severity="P0")
def test_expected_tables_exist(restore_drill: Drill, check: CheckRecord) -> None:
    verified = restore_drill.verification()
    restore_drill.record_metrics(check)
    expected = restore_drill.env.restore.expect_tables
    missing = verified.missing(expected)
    if missing:
        raise CheckFailed(
            "tables in the restored database", ", ".join(expected), f"missing {', '.join(missing)}"
        )


@pytest.mark.runbook("data-recovery", severity="P0")
def test_tables_have_minimum_rows(restore_drill: Drill, check: CheckRecord) -> None:
    verified = restore_drill.verification()
    restore_drill.record_metrics(check)
    minimums = restore_drill.env.restore.min_rows
    counts, uncounted = verified.counts, verified.uncounted
    check.metric("row_counts", counts)
    short = {table: counts[table] for table, least in minimums.items() if counts.get(table, least) < least}
    if short or uncounted:
        seen = [f"{table}: {count}" for table, count in short.items()]
        seen += [f"{table}: could not be counted ({why})" for table, why in uncounted.items()]
        wanted = ", ".join(f"{table} >= {minimums[table]}" for table in [*short, *uncounted])
        raise CheckFailed("row counts in the restored database", wanted, "; ".join(seen))


@pytest.mark.runbook("data-recovery", severity="P1")
def test_migrations_are_complete(
    restored_db: psycopg.Connection[Any], restore_drill: Drill, check: CheckRecord
) -> None:
    restore_drill.record_metrics(check)
    if ("public", "_prisma_migrations") not in table_names(restored_db):
        pytest.skip("the restored database has no _prisma_migrations table")
    restored = migration_state(restored_db)
    check.metric("latest_migration", restored.latest)
    if restored.unfinished or restored.rolled_back:
        raise CheckFailed(
            "migrations in the restored database",
            "every migration finished",
            f"unfinished: {restored.unfinished or 'none'}; rolled back: {restored.rolled_back or 'none'}",
        )
    env = restore_drill.env
    if not env.has("database"):
        return
    live = live_migration_state(env.database.url.reveal(), timeout_s=env.timeout_s)
    check.metric("live_latest_migration", live.latest)
    if live.latest != restored.latest:
        raise CheckFailed(
            "latest migration in the backup",
            f"{live.latest!r} (as in the live database)",
            repr(restored.latest),
        )


@pytest.mark.runbook("data-recovery", severity="P1")
def test_indexes_pass_amcheck(restore_drill: Drill, check: CheckRecord) -> None:
    verified = restore_drill.verification()
    restore_drill.record_metrics(check)
    check.metric("indexes_checked", verified.amcheck())
