"""Authentication Issues (P2): a callbackUrl on another origin is not honoured after sign-in (open redirect)."""

import pytest

from opscheck.auth import expect_no_foreign_redirect
from opscheck.nextauth import SignInAttempt


@pytest.mark.runbook("authentication-issues", severity="P2")
def test_foreign_callback_url_is_not_honoured(foreign_callback_sign_in: SignInAttempt) -> None:
    expect_no_foreign_redirect(foreign_callback_sign_in)
