"""Backup Strategy: daily backups cover the whole retention window, with no gap over a day."""

import pytest

from opscheck.errors import CheckFailed
from opscheck.restore.drill import Drill
from opscheck.restore.policy import retention_gaps
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("backup-strategy", severity="P2")
def test_backups_cover_retention_window(restore_drill: Drill, check: CheckRecord) -> None:
    restore_drill.record_metrics(check)
    backups = restore_drill.env.backups
    catalog = restore_drill.catalog()
    facts = restore_drill.store.bucket_facts()
    for name, value in facts.as_dict().items():
        check.metric(name, value)
    gaps = retention_gaps(catalog, restore_drill.now, backups.retention_days)
    check.metric("backups_in_store", len(catalog))
    if gaps:
        listed = "; ".join(
            f"{g.start:%Y-%m-%d %H:%M} to {g.end:%Y-%m-%d %H:%M} ({g.hours:.0f} h)" for g in gaps[:5]
        )
        raise CheckFailed(
            f"backup coverage of the last {backups.retention_days:g} days",
            "no gap longer than a day",
            f"{len(gaps)} gap(s): {listed}",
        )
