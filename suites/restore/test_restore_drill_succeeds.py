"""Complete System Recovery (P0): the backup restores into a fresh PostgreSQL within the RTO."""

import pytest

from opscheck.errors import CheckFailed
from opscheck.restore.drill import Drill
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("complete-system-recovery", severity="P0")
def test_restore_drill_succeeds_within_rto(restore_drill: Drill, check: CheckRecord) -> None:
    try:
        restored = restore_drill.restored()
    finally:
        restore_drill.record_metrics(check)
    check.metric("restore_sql_mb_per_s", restored.sql_mb_per_s)
    rto_s = restore_drill.env.backups.rto_minutes * 60
    if restored.seconds > rto_s:
        raise CheckFailed(
            f"restore time of {restored.backup.name}",
            f"within the RTO of {rto_s / 60:g} min",
            f"{restored.seconds / 60:.1f} min",
        )
