"""Security: a backup in S3 is encrypted at rest."""

import pytest

from opscheck.errors import CheckFailed
from opscheck.restore.drill import Drill
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("backup-strategy", severity="P2")
def test_backup_is_encrypted_at_rest(restore_drill: Drill, check: CheckRecord) -> None:
    restore_drill.record_metrics(check)
    backup = restore_drill.backup()
    if not backup.location.startswith("s3://"):
        pytest.skip(f"{backup.location} is not S3: encryption at rest is the file system's business")
    check.metric("encryption", backup.encryption)
    if not backup.encryption:
        raise CheckFailed(f"server-side encryption of {backup.key}", "SSE-S3 or SSE-KMS", "none")
