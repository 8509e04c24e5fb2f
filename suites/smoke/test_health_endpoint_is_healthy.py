"""Site Down (P0): the health endpoint answers 200, says it is healthy, and answers within budget."""

import pytest

from opscheck.config import Environment
from opscheck.context import CheckRecord
from opscheck.http import Probe
from opscheck.smoke import answered, expect_healthy, expect_within_budget


@pytest.mark.runbook("site-down-p0", severity="P0")
def test_health_endpoint_is_healthy(
    health_probe: Probe, opscheck_env: Environment, check: CheckRecord
) -> None:
    probe = answered(health_probe, check)
    health = expect_healthy(probe)
    if health.version:
        check.metric("version", health.version)
    expect_within_budget(probe, opscheck_env.smoke.max_latency_ms)
