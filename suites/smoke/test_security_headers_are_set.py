"""Security headers on the home page: HSTS (https), nosniff, framing protection, Referrer-Policy."""

import pytest

from opscheck.clients.http import Probe
from opscheck.config import Environment
from opscheck.errors import CheckFailed
from opscheck.smoke.rules import SECURITY_HEADER_RULES, answered, security_header_problem


@pytest.mark.runbook("security-headers", severity="P3")
@pytest.mark.parametrize("rule", list(SECURITY_HEADER_RULES))
def test_security_header_is_set(rule: str, home_probe: Probe, opscheck_env: Environment) -> None:
    https_only, expected = SECURITY_HEADER_RULES[rule]
    if not opscheck_env.smoke.security_headers:
        pytest.skip("smoke.security_headers = false for this environment")
    if https_only and not opscheck_env.is_https:
        pytest.skip(f"{rule} only applies to https targets")
    probe = answered(home_probe)
    problem = security_header_problem(rule, probe.headers)
    if problem:
        raise CheckFailed(f"response headers of GET {probe.url}", expected, problem)
