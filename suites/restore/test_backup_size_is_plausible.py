"""Backup Strategy: the selected backup is not empty and not far smaller than the ones before it."""

import pytest

from opscheck.errors import CheckFailed
from opscheck.restore.drill import Drill
from opscheck.restore.policy import size_problem
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("backup-strategy", severity="P1")
def test_backup_size_is_plausible(restore_drill: Drill, check: CheckRecord) -> None:
    restore_drill.record_metrics(check)
    backup = restore_drill.backup()
    problem = size_problem(restore_drill.catalog(), backup)
    if problem:
        raise CheckFailed(f"size of {backup.name}", "not empty, at least half the recent median", problem)
