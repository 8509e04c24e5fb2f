"""Deployment: the health endpoint reports the version that was just deployed (waits, bounded)."""

import pytest

from opscheck.clients.http import OpsClient
from opscheck.config import Environment
from opscheck.errors import CheckFailed
from opscheck.run.context import CheckRecord
from opscheck.smoke.rules import NoHealthPathForVersion, wait_for_version


@pytest.mark.runbook("1-deployment", severity="P1")
def test_deployed_version_is_expected(http: OpsClient, opscheck_env: Environment, check: CheckRecord) -> None:
    expected = opscheck_env.expected_version
    if not expected:
        pytest.skip("expected_version is not set for this environment")
    smoke = opscheck_env.smoke
    if smoke.health_path is None:
        raise NoHealthPathForVersion()
    seen = wait_for_version(http, smoke.health_path, expected, smoke.version_wait_s)
    check.metric("version", seen)
    if seen != expected:
        raise CheckFailed(
            f"version reported by {smoke.health_path}",
            f"{expected!r} within {smoke.version_wait_s:g} s",
            repr(seen),
        )
