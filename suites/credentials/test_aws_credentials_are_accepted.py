"""Credential Rotation: AWS accepts the backup credentials (STS GetCallerIdentity)."""

import pytest

from opscheck.credentials.aws import AwsAccess
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("credential-rotation", severity="P1")
def test_aws_credentials_are_accepted(aws_access: AwsAccess, check: CheckRecord) -> None:
    identity = aws_access.caller_identity()
    check.metric("aws_identity", identity["Arn"])
