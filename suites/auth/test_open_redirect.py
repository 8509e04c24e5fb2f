"""Authentication Issues (P2): no foreign callbackUrl is honoured after sign-in or sign-out (open redirect).

A battery of payloads (another host, ``//host``, ``/\\host``, ``https:host``, percent-encoded slashes,
``javascript:``, and ``http://HOST:PORT.evil`` / ``http://HOST:PORT@evil`` built from the app's own origin,
which is how the classic ``url.startsWith(baseUrl)`` check is fooled) is tried on both flows; the failure
names every payload that was honoured. A payload the app answers with an error counts as refused.
"""

import pytest

from opscheck.auth.answers import SignInAttempt
from opscheck.auth.client import NextAuth
from opscheck.auth.open_redirect import expect_no_open_redirect, redirect_payloads, try_redirect
from opscheck.config import AuthSettings
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("authentication-issues", severity="P2")
def test_foreign_callback_url_is_not_honoured(
    nextauth: NextAuth, auth: AuthSettings, smoke_sign_in: SignInAttempt, check: CheckRecord
) -> None:
    # the origin the app itself reports (its JSON url answer) may differ from base_url: try both
    origins = [smoke_sign_in.url or nextauth.base_url, nextauth.base_url]
    trials = [try_redirect(nextauth, payload) for payload in redirect_payloads(origins)]
    expect_no_open_redirect(trials, nextauth.base_url, check, smoke_sign_in.flavor)
