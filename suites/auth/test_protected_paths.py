"""Authentication Issues: each protected path refuses requests without a session (P0 when it serves data)
and serves the signed-in smoke user (P1). Refusing is a 401/403, or a redirect that stays on the site and
leaves the resource: to NextAuth's sign-in page or a custom one at any path (``auth.signin_path`` pins it)."""

import pytest

from opscheck.auth.answers import SignInAttempt
from opscheck.auth.client import NextAuth
from opscheck.auth.rules import expect_anonymous_refused, expect_signed_in_access
from opscheck.config import AuthSettings
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("authentication-issues", severity="P0")
def test_protected_path_refuses_requests_without_a_session(
    protected_path: str, nextauth: NextAuth, auth: AuthSettings, check: CheckRecord
) -> None:
    response = nextauth.anonymous_get(protected_path)
    expect_anonymous_refused(
        protected_path,
        response,
        check,
        site=nextauth.base_url,
        signin_path=auth.signin_path,
        flavor=nextauth.flavor,
    )


@pytest.mark.runbook("authentication-issues", severity="P1")
def test_protected_path_serves_the_signed_in_user(
    protected_path: str, smoke_sign_in: SignInAttempt, check: CheckRecord
) -> None:
    expect_signed_in_access(protected_path, smoke_sign_in.client.get(protected_path), check)
