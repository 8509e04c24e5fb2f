"""Credential Rotation: the backup credentials' access key is younger than 90 days."""

from datetime import UTC, datetime

import pytest

from opscheck.credentials.aws import AwsAccess
from opscheck.credentials.findings import enforce
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("credential-rotation", severity="P2")
def test_aws_access_key_is_recent(accepted_aws: AwsAccess, check: CheckRecord) -> None:
    enforce(accepted_aws.access_key_finding(datetime.now(UTC)), check, accepted_aws.origin)
