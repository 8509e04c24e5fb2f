"""Authentication Issues (P1, "Auth failure"): the smoke user signs in with credentials the way a browser
does, and the session names that user with a sane expiry. The sign-in is made once per run; it is also the
positive control of the negative canaries."""

import pytest

from opscheck.auth.advice import configuration_advice, deployment_secret_set
from opscheck.auth.answers import AuthServerError, SignInAttempt
from opscheck.auth.client import NextAuth
from opscheck.auth.rules import SignInControl, expect_session_for
from opscheck.config import AuthSettings, Environment
from opscheck.errors import CheckFailed
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("authentication-issues", severity="P1")
def test_smoke_user_can_sign_in(
    sign_in_control: SignInControl,
    nextauth: NextAuth,
    auth: AuthSettings,
    opscheck_env: Environment,
    check: CheckRecord,
) -> None:
    try:
        attempt = sign_in_control.require()
    except AuthServerError as exc:  # this check owns the sign-in: a 5xx here is its failure
        failure = CheckFailed(exc.checked, "a successful sign-in", exc.seen)
        flavor = nextauth.flavor or exc.flavor
        failure.lead = configuration_advice(flavor, deployment_secret_set(opscheck_env, flavor))
        raise failure from None
    check.metric("nextauth", str(attempt.flavor or "unknown"))
    check.metric("status", attempt.status)
    if attempt.session_cookie is not None:  # found among the cookies, unless auth.session_cookie names it
        check.metric("session_cookie", attempt.session_cookie.name)


@pytest.mark.runbook("authentication-issues", severity="P1")
def test_session_names_the_smoke_user(
    nextauth: NextAuth, smoke_sign_in: SignInAttempt, check: CheckRecord
) -> None:
    session = nextauth.session(smoke_sign_in.client)
    expect_session_for(session, smoke_sign_in.username, check)
