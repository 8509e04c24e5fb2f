"""Every configured page answers 200 without Next.js error markers, says what it must (``contains``) and
not what it must not (``not_contains``), within the latency budget."""

import pytest

from opscheck.clients.http import Probe
from opscheck.config import Environment
from opscheck.run.context import CheckRecord
from opscheck.smoke.rules import answered, expect_page_ok, expect_within_budget


@pytest.mark.runbook("site-down-p0", severity="P1")
def test_page_answers_200(
    page: str, smoke_probes: dict[str, Probe], opscheck_env: Environment, check: CheckRecord
) -> None:
    expect_page_ok(answered(smoke_probes[page], check), opscheck_env.smoke.page_expectations.get(page))


@pytest.mark.runbook("performance-degradation", severity="P1")
def test_page_answers_within_budget(
    page: str, smoke_probes: dict[str, Probe], opscheck_env: Environment, check: CheckRecord
) -> None:
    expect_within_budget(answered(smoke_probes[page], check), opscheck_env.smoke.max_latency_ms)
