"""Authentication Issues: the cookies a sign-in sets follow the rules browsers enforce (P2), and fit (P3)."""

import pytest

from opscheck.auth.advice import cookie_advice
from opscheck.auth.answers import SignInAttempt
from opscheck.auth.rules import COOKIE_RULES, cookie_rule_problem, oversized_cookies
from opscheck.clients.cookies import MAX_COOKIE_BYTES
from opscheck.errors import CheckFailed
from opscheck.run.context import CheckRecord

RULES = [
    pytest.param(rule, marks=[pytest.mark.https_only] if https else [])
    for rule, (https, _) in COOKIE_RULES.items()
]


@pytest.mark.runbook("authentication-issues", severity="P2")
@pytest.mark.parametrize("rule", RULES)
def test_auth_cookie_rule(rule: str, smoke_sign_in: SignInAttempt) -> None:
    problem = cookie_rule_problem(rule, smoke_sign_in)
    if problem:
        failure = CheckFailed("cookies set by the sign-in", COOKIE_RULES[rule][1], problem)
        failure.lead = cookie_advice(rule, smoke_sign_in.flavor)
        raise failure


@pytest.mark.runbook("authentication-issues", severity="P3")
def test_auth_cookies_fit_in_4kb(smoke_sign_in: SignInAttempt, check: CheckRecord) -> None:
    cookies = smoke_sign_in.all_cookies
    check.metric("largest_cookie_bytes", max((c.size for c in cookies), default=0))
    too_big = oversized_cookies(cookies, MAX_COOKIE_BYTES)
    if too_big:
        listing = ", ".join(f"{c.name} ({c.size} bytes)" for c in too_big)
        raise CheckFailed(
            "cookies set by the sign-in",
            f"each at most {MAX_COOKIE_BYTES} bytes (browsers drop larger)",
            listing,
        )
