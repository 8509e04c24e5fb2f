"""Authentication Issues (P2): sign-out clears the session cookie and the session is empty afterwards; a
sign-out that answers 5xx fails (users cannot end their sessions).

A session token captured before sign-out that still works afterwards is reported as a note: NextAuth's JWT
sessions cannot be revoked on the server. ``auth.fail_on_jwt_replay = true`` makes it fail the check.
"""

import pytest

from opscheck.auth.answers import AuthServerError, SignInAttempt
from opscheck.auth.client import NextAuth
from opscheck.config import AuthSettings
from opscheck.errors import CheckFailed
from opscheck.run.context import CheckRecord

REPLAY_NOTE = (
    "a session token captured before sign-out still works after it (replayed JWT): NextAuth's JWT sessions "
    "cannot be revoked on the server, so a stolen token stays valid until it expires. Keep session maxAge "
    "short, or use the database session strategy; set auth.fail_on_jwt_replay = true to fail on this"
)


@pytest.mark.runbook("authentication-issues", severity="P2")
def test_sign_out_clears_the_session(
    nextauth: NextAuth, fresh_sign_in: SignInAttempt, auth: AuthSettings, check: CheckRecord
) -> None:
    captured = fresh_sign_in.session_cookies
    session = fresh_sign_in.session_cookie
    try:
        result = nextauth.sign_out(fresh_sign_in.client, session.name if session else "")
    except AuthServerError as exc:  # the sign-in just worked: a 5xx here is this check's failure
        raise CheckFailed(exc.checked, "a sign-out that clears the session", exc.seen) from None
    if not result.cleared_session:
        raise CheckFailed(
            f"POST {nextauth.where('signout')}",
            "a Set-Cookie that clears the session cookie (Max-Age=0)",
            "; ".join(c.describe() for c in result.cookies) or "no Set-Cookie",
        )
    after = nextauth.session(fresh_sign_in.client)
    if not after.empty:
        raise CheckFailed("GET /api/auth/session after sign-out", "no session ({} or null)", after.describe())
    replayed = nextauth.session_with(captured)
    check.metric("jwt_replay_after_sign_out", replayed.active)
    if replayed.active:
        check.note(REPLAY_NOTE)
        if auth.fail_on_jwt_replay:
            raise CheckFailed(
                "session token replayed after sign-out",
                "rejected (auth.fail_on_jwt_replay = true)",
                f"still accepted: {replayed.describe()}",
            )
