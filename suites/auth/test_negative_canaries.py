"""Authentication Issues (P0): sign-ins that must fail do fail, so an authorize() that lets everyone in,
or a CSRF check that is off, is caught. An auth bypass is critical.

A canary passes only when the smoke user's own sign-in (the positive control) worked in the same run: on an
auth outage every sign-in is rejected, and that must not look like a pass."""

import pytest

from opscheck.auth.client import NextAuth
from opscheck.auth.rules import SignInControl, canary_password, canary_username, expect_rejected
from opscheck.config import AuthSettings
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("authentication-issues", severity="P0")
def test_wrong_password_is_rejected(
    nextauth: NextAuth, auth: AuthSettings, sign_in_control: SignInControl, check: CheckRecord
) -> None:
    attempt = nextauth.attempt_sign_in(auth.username, canary_password())
    expect_rejected(attempt, "the smoke user's name and a wrong password", check, sign_in_control)


@pytest.mark.runbook("authentication-issues", severity="P0")
def test_sign_in_without_csrf_token_is_rejected(
    nextauth: NextAuth, auth: AuthSettings, sign_in_control: SignInControl, check: CheckRecord
) -> None:
    attempt = nextauth.attempt_sign_in(auth.username, auth.password, send_csrf_token=False)
    expect_rejected(
        attempt, "the smoke user's credentials but no CSRF token", check, sign_in_control, csrf_canary=True
    )


@pytest.mark.runbook("authentication-issues", severity="P0")
def test_unknown_user_is_rejected(
    nextauth: NextAuth, auth: AuthSettings, sign_in_control: SignInControl, check: CheckRecord
) -> None:
    attempt = nextauth.attempt_sign_in(canary_username(), auth.password)
    expect_rejected(attempt, "an unknown user name and the smoke user's password", check, sign_in_control)
