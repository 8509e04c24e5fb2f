"""Authentication Issues (P1, "Auth failure"): the smoke user signs in with credentials the way a browser
does, and the session names that user with a sane expiry."""

import pytest

from opscheck.auth import expect_session_for
from opscheck.config import AuthSettings
from opscheck.context import CheckRecord
from opscheck.nextauth import NextAuth, SignInAttempt


@pytest.mark.runbook("authentication-issues", severity="P1")
def test_smoke_user_can_sign_in(nextauth: NextAuth, auth: AuthSettings, check: CheckRecord) -> None:
    attempt = nextauth.sign_in_attempt()
    check.metric("nextauth", str(attempt.flavor or "unknown"))
    check.metric("status", attempt.status)


@pytest.mark.runbook("authentication-issues", severity="P1")
def test_session_names_the_smoke_user(
    nextauth: NextAuth, smoke_sign_in: SignInAttempt, check: CheckRecord
) -> None:
    session = nextauth.session(smoke_sign_in.client)
    expect_session_for(session, smoke_sign_in.username, check)
