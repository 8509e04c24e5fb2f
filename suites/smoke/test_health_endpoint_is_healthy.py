"""Site Down (P0): the health endpoint answers 200, says it is healthy, and answers within budget.

``smoke.health_expect`` says what healthy means: ``"json-ok"`` (default) a JSON document with an ok status,
``"status"`` HTTP 200 with any body. An app without a health endpoint sets ``smoke.health_path = false`` and
this check is skipped; a 404 on the configured path fails saying there is no health endpoint there.
"""

import pytest

from opscheck.clients.http import Probe
from opscheck.config import Environment
from opscheck.run.context import CheckRecord
from opscheck.smoke.rules import answered, expect_healthy, expect_within_budget


@pytest.mark.runbook("site-down-p0", severity="P0")
def test_health_endpoint_is_healthy(
    health_probe: Probe | None, opscheck_env: Environment, check: CheckRecord
) -> None:
    smoke = opscheck_env.smoke
    if health_probe is None or smoke.health_path is None:
        pytest.skip("smoke.health_path = false: the app has no health endpoint, so none is checked")
    probe = answered(health_probe, check)
    health = expect_healthy(probe, smoke.health_expect, smoke.health_path)
    if health.version:
        check.metric("version", health.version)
    expect_within_budget(probe, smoke.max_latency_ms)
