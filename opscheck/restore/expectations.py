"""What a restored database must show: the expected tables and rows, finished migrations, sound indexes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from opscheck.clients.postgres import answered_within, connect_readonly
from opscheck.errors import CheckFailed
from opscheck.restore.tablenames import display_name, parse_table_name
from opscheck.secrets import mask_url

__all__ = [
    "MigrationState",
    "amcheck_indexes",
    "display_name",
    "estimated_counts",
    "exact_counts",
    "live_migration_state",
    "merge_counts",
    "migration_state",
    "missing_tables",
    "parse_table_name",
    "row_counts",
    "table_names",
]


def table_names(conn: psycopg.Connection[Any]) -> set[tuple[str, str]]:
    """(schema, name) of every table, partitioned table, materialized view and foreign table."""
    rows = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'm', 'f') "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
    ).fetchall()
    return {(row[0], row[1]) for row in rows}


def missing_tables(conn: psycopg.Connection[Any], expected: list[str]) -> list[str]:
    """The names of ``expected`` (``[schema.]table``) that the database lacks, as written."""
    present = table_names(conn)
    return [name for name in expected if parse_table_name(name) not in present]


def row_counts(
    conn: psycopg.Connection[Any], exact: set[str] | None = None
) -> tuple[dict[str, int], dict[str, str]]:
    """(rows per table, tables whose exact count failed → why).

    Tables named in ``exact`` (``[schema.]table``) get an exact ``count(*)`` under that name; every other
    table the planner's estimate (after ANALYZE), under ``schema.table`` (``table`` for public).
    """
    return merge_counts(estimated_counts(conn), *exact_counts(conn, exact or set()))


def estimated_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """ANALYZE, then the planner's row estimate of every table under ``schema.table`` (``table`` for public)."""
    conn.execute("ANALYZE")
    estimates = conn.execute(
        "SELECT n.nspname, c.relname, greatest(c.reltuples, 0)::bigint FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
    ).fetchall()
    return {display_name(schema, name): int(count) for schema, name, count in estimates}


def exact_counts(conn: psycopg.Connection[Any], names: set[str]) -> tuple[dict[str, int], dict[str, str]]:
    """``count(*)`` of each ``[schema.]table`` named: (counts by the name as given, failed → why)."""
    counts: dict[str, int] = {}
    failed: dict[str, str] = {}
    for name in sorted(names):
        schema, table = parse_table_name(name)
        try:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
            ).fetchone()
        except psycopg.Error as exc:
            failed[name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            continue
        counts[name] = int(row[0]) if row else 0
    return counts, failed


def merge_counts(
    estimates: dict[str, int], exact: dict[str, int], failed: dict[str, str]
) -> tuple[dict[str, int], dict[str, str]]:
    """Estimates, with each exactly counted (or uncountable) table under the name it was asked by instead."""
    counts = dict(estimates)
    for name in [*exact, *failed]:
        counts.pop(display_name(*parse_table_name(name)), None)
    counts.update(exact)
    return counts, failed


@dataclass
class MigrationState:
    latest: str | None
    latest_finished_at: str | None
    unfinished: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)


def migration_state(conn: psycopg.Connection[Any], table: str = "_prisma_migrations") -> MigrationState:
    """The newest finished Prisma migration, and any unfinished or rolled-back ones."""
    ident = sql.Identifier(table)
    latest = conn.execute(
        sql.SQL(
            "SELECT migration_name, finished_at::text FROM {} WHERE finished_at IS NOT NULL "
            "AND rolled_back_at IS NULL ORDER BY finished_at DESC, migration_name DESC LIMIT 1"
        ).format(ident)
    ).fetchone()
    unfinished = conn.execute(
        sql.SQL("SELECT migration_name FROM {} WHERE finished_at IS NULL AND rolled_back_at IS NULL").format(
            ident
        )
    ).fetchall()
    rolled_back = conn.execute(
        sql.SQL("SELECT migration_name FROM {} WHERE rolled_back_at IS NOT NULL").format(ident)
    ).fetchall()
    return MigrationState(
        latest[0] if latest else None,
        latest[1] if latest else None,
        [row[0] for row in unfinished],
        [row[0] for row in rolled_back],
    )


def live_migration_state(url: str, *, timeout_s: float) -> MigrationState:
    """:func:`migration_state` of the live database at ``url``, read in a read-only session whose
    statements end by ``timeout_s`` (plus a second) like the ``db`` fixture's."""
    with (
        connect_readonly(url, timeout_s=timeout_s) as conn,
        answered_within(conn, timeout_s + 1, f"_prisma_migrations of PostgreSQL at {mask_url(url)}"),
    ):
        return migration_state(conn)


def amcheck_indexes(conn: psycopg.Connection[Any]) -> int:
    """``bt_index_check`` on every btree index of the user schemas; returns how many were checked."""
    with conn.transaction():  # xdist workers share the restored database: one CREATE EXTENSION at a time
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('opscheck: CREATE EXTENSION amcheck'))")
        conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
    indexes = conn.execute(
        "SELECT c.oid, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
        # relkind 'i' only: a partitioned index ('I') has no storage (amcheck rejects it); the indexes
        # of every leaf partition are 'i' and are checked
        "WHERE a.amname = 'btree' AND c.relkind = 'i' "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
        "AND c.relpersistence != 't' AND i.indisready AND i.indisvalid"
    ).fetchall()
    for oid, name in indexes:
        try:
            conn.execute("SELECT bt_index_check(%s::regclass)", (oid,))
        except psycopg.Error as exc:
            raise CheckFailed(
                f"amcheck of index {name}", "a consistent btree", str(exc).splitlines()[0]
            ) from None
    return len(indexes)
