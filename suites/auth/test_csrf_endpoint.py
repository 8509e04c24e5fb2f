"""Authentication Issues (P1): /api/auth/csrf answers 200 with a token that no cache may keep."""

import pytest

from opscheck.auth.client import NextAuth
from opscheck.config import AuthSettings
from opscheck.errors import CheckFailed
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("authentication-issues", severity="P1")
def test_csrf_endpoint_answers_with_an_uncached_token(
    nextauth: NextAuth, auth: AuthSettings, check: CheckRecord
) -> None:
    answer = nextauth.csrf()
    check.metric("nextauth", str(answer.flavor or "unknown"))
    if "no-store" not in answer.cache_control.lower():
        raise CheckFailed(
            f"Cache-Control of GET {nextauth.where('csrf')}",
            "no-store (a cached CSRF token would be shared between users)",
            repr(answer.cache_control or None),
        )
