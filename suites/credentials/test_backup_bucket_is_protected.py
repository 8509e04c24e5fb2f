"""Backup Strategy: the backup bucket keeps versions, encrypts by default and blocks public access."""

import pytest

from opscheck.credentials.aws import BUCKET_RULES, AwsAccess
from opscheck.credentials.findings import enforce


@pytest.mark.runbook("backup-strategy", severity="P2")
@pytest.mark.parametrize("rule", BUCKET_RULES)
def test_backup_bucket_is_protected(rule: str, accepted_aws: AwsAccess) -> None:
    enforce(accepted_aws.bucket_finding(rule))
