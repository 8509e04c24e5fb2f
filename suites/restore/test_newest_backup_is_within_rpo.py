"""Backup Strategy: the newest backup is no older than the RPO allows."""

import pytest

from opscheck.errors import CheckFailed
from opscheck.restore.drill import Drill
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("backup-strategy", severity="P1")
def test_newest_backup_is_within_rpo(restore_drill: Drill, check: CheckRecord) -> None:
    restore_drill.record_metrics(check)
    catalog = restore_drill.catalog()
    if not catalog:
        raise CheckFailed(f"backups at {restore_drill.store.describe()}", "at least one backup", "none")
    newest = catalog[-1]
    age = newest.age_hours(restore_drill.now)
    check.metric("newest_backup", newest.name)
    check.metric("newest_backup_age_hours", round(age, 2))
    if newest.clock_skew_hours > 6:
        check.note(
            f"{newest.name}: name says {newest.taken_at:%Y-%m-%d %H:%M}, stored at {newest.modified_at:%Y-%m-%d %H:%M}"
        )
    rpo = restore_drill.env.backups.rpo_hours
    if age > rpo:
        raise CheckFailed(
            f"age of the newest backup {newest.name}", f"at most {rpo:g} h (RPO)", f"{age:.1f} h"
        )
