"""What the auth suite expects of a NextAuth deployment, as functions that raise with a clear message.

The client in :mod:`opscheck.auth.client` does the talking; the functions here judge what it saw, so the
checks in ``suites/auth`` stay a few lines each.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

import httpx

from opscheck.auth.advice import (
    bypass_advice,
    configuration_advice,
    unprotected_path_advice,
)
from opscheck.auth.answers import EndpointStatus, SessionAnswer, SignInAttempt, session_lifetime
from opscheck.auth.client import NextAuth
from opscheck.auth.flavors import Flavor, cookie_kind
from opscheck.clients.cookies import SetCookie
from opscheck.errors import CheckFailed, OpscheckError, SettingMissing
from opscheck.run.context import CheckRecord
from opscheck.secrets import mask_url, redactor

__all__ = [
    "COOKIE_RULES",
    "MAX_SESSION_AGE",
    "SIGN_IN_CHECK",
    "UNCONFIGURED_AUTH_ADVICE",
    "Inconclusive",
    "SignInControl",
    "canary_password",
    "canary_username",
    "cookie_rule_problem",
    "expect_anonymous_refused",
    "expect_endpoints_healthy",
    "expect_rejected",
    "expect_session_for",
    "expect_signed_in_access",
    "oversized_cookies",
    "redirect_problem",
]

#: NextAuth's default session lifetime, and the most the suite accepts (plus clock slack)
MAX_SESSION_AGE = timedelta(days=30)
_CLOCK_SLACK = timedelta(minutes=5)

#: what to do when every auth endpoint answers 5xx and nothing else is known (see auth_advice)
UNCONFIGURED_AUTH_ADVICE = configuration_advice(None, None)


class Inconclusive(OpscheckError):
    """The target answered, but in a way that lets the check neither pass nor fail it (outcome error)."""

    outcome = "error"


# ---------------------------------------------------------------------------------------------------
# Endpoints
# ---------------------------------------------------------------------------------------------------
def expect_endpoints_healthy(
    statuses: Mapping[str, EndpointStatus],
    check: CheckRecord,
    flavor: Flavor | None = None,
    secret_set: bool | None = None,
) -> None:
    """No auth endpoint answers 5xx. ``secret_set`` (known from ``credentials.env_file``) picks the advice."""
    __tracebackhide__ = True
    for name, status in statuses.items():
        check.metric(f"{name}_status", status.status)
    broken = [s for s in statuses.values() if s.status >= 500]
    if not broken:
        return
    said = (
        " (NextAuth: 'There is a problem with the server configuration')"
        if any(s.config_problem for s in broken)
        else ""
    )
    listing = ", ".join(f"HTTP {s.status} from {s.path}" for s in broken)
    everything = " on every endpoint" if len(broken) == len(statuses) else ""
    cause = (
        "NextAuth refuses its configuration although the secret is set"
        if secret_set
        else "NextAuth refuses its configuration (a missing NEXTAUTH_SECRET does this, or another error its "
        "server log names)"
    )
    failure = CheckFailed(
        "NextAuth endpoints", "answers without server errors", f"{listing}{said}{everything}: {cause}"
    )
    failure.lead = configuration_advice(flavor, secret_set)
    raise failure


# ---------------------------------------------------------------------------------------------------
# Sign-in and session
# ---------------------------------------------------------------------------------------------------
#: the check whose sign-in is the negative canaries' positive control
SIGN_IN_CHECK = "test_smoke_user_can_sign_in"


@dataclass(frozen=True)
class SignInControl:
    """The positive control of the negative canaries: the smoke user's own sign-in, made once per run.

    A canary ("a wrong password is rejected") proves something only when the right password is accepted
    by the same deployment in the same run: on an outage everything is rejected, and rejection alone would
    look right.
    """

    attempt: SignInAttempt | None
    problem: OpscheckError | None = None

    @classmethod
    def run(cls, nextauth: NextAuth) -> SignInControl:
        """Sign the smoke user in; an unset credential variable is raised (the run is misconfigured)."""
        try:
            return cls(nextauth.sign_in_attempt())
        except SettingMissing:
            raise
        except OpscheckError as exc:
            return cls(None, exc)

    def require(self) -> SignInAttempt:
        """The successful sign-in, or the error that kept it from succeeding."""
        if self.attempt is None:
            assert self.problem is not None
            raise self.problem
        return self.attempt


def canary_password() -> str:
    """A random password no real account has (registered as a secret all the same)."""
    value = f"opscheck-wrong-{secrets.token_urlsafe(12)}"
    redactor().add(value)
    return value


def canary_username(domain: str = "opscheck.invalid") -> str:
    """A user name that cannot exist (the .invalid top-level domain is reserved)."""
    return f"no-such-user-{secrets.token_hex(6)}@{domain}"


def expect_rejected(
    attempt: SignInAttempt,
    what: str,
    check: CheckRecord,
    control: SignInControl,
    *,
    csrf_canary: bool = False,
) -> None:
    """The sign-in ``attempt`` (a negative canary) was rejected while the smoke user's own sign-in works.

    Accepted: a failure (an auth bypass). A rejection counts only when it is NextAuth's own: a returned URL
    with its error (``error=CredentialsSignin``, v4's ``csrf=true``). Rejected, but the positive control
    failed, or the answer was a 5xx, a 429 (rate limited) or anything else without NextAuth's error (a 403
    from a proxy or WAF in front of the app): an error, because the credentials were never judged.
    """
    __tracebackhide__ = True
    check.metric("status", attempt.status)
    if attempt.error:
        check.metric("error", attempt.error)
    if attempt.succeeded:
        bypass = CheckFailed(
            f"credentials sign-in with {what}",
            "rejected (no session cookie, an error in the returned URL)",
            f"ACCEPTED: {attempt.describe()}; anyone can sign in this way",
        )
        bypass.lead = bypass_advice(attempt.flavor)
        raise bypass
    if control.problem is not None:
        raise Inconclusive(
            f"inconclusive: sign-in itself is broken, see {SIGN_IN_CHECK} ({control.problem}); "
            f"a rejected sign-in with {what} proves nothing while the right password is rejected too"
        )
    if attempt.status == 429:
        raise Inconclusive(
            f"inconclusive: credentials sign-in with {what} answered HTTP 429, rate limited: the credentials "
            "were never judged (a sign-in that lets everyone in would hide behind the limiter); exempt the "
            "smoke runner from the sign-in rate limit or run the auth suite less often"
        )
    if attempt.status >= 500:
        raise Inconclusive(
            f"inconclusive: credentials sign-in with {what} answered HTTP {attempt.status}, a crash rather "
            f"than a rejection; see {SIGN_IN_CHECK}"
        )
    if attempt.error is None:
        raise Inconclusive(
            f"inconclusive: credentials sign-in with {what} answered {attempt.describe()}, not NextAuth's "
            "rejection (its error redirect, e.g. error=CredentialsSignin): something in front of the app (a proxy "
            "or WAF) answered, so the credentials were never judged and a sign-in that lets everyone in would hide "
            "behind it; let the smoke runner's sign-ins through to the app"
        )
    if csrf_canary and attempt.error == "CredentialsSignin":
        raise CheckFailed(
            f"credentials sign-in with {what}",
            "rejected by the CSRF check before the credentials are looked at",
            "the server checked the credentials although the CSRF token was missing (error CredentialsSignin)",
        )


def expect_session_for(answer: SessionAnswer, username: str, check: CheckRecord) -> None:
    """The session names ``username`` and expires in the future, within 30 days."""
    __tracebackhide__ = True
    if not answer.active:
        raise CheckFailed(
            "GET /api/auth/session after sign-in", f"a session for {username!r}", answer.describe()
        )
    if not answer.identifies(username):
        raise CheckFailed(
            "GET /api/auth/session after sign-in", f"the session of {username!r}", answer.describe()
        )
    left = session_lifetime(answer)
    if left is None:
        raise CheckFailed(
            "GET /api/auth/session after sign-in", "an ISO 8601 'expires'", repr(answer.body.get("expires"))
        )
    check.metric("session_days", round(left.total_seconds() / 86400, 2))
    if left <= timedelta(0):
        raise CheckFailed(
            "session expiry", "in the future", f"{answer.body.get('expires')} (already expired)"
        )
    if left > MAX_SESSION_AGE + _CLOCK_SLACK:
        raise CheckFailed(
            "session expiry",
            f"at most {MAX_SESSION_AGE.days} days ahead",
            f"{left.total_seconds() / 86400:.1f} days ahead ({answer.body.get('expires')})",
        )


# ---------------------------------------------------------------------------------------------------
# Cookies
# ---------------------------------------------------------------------------------------------------
# rule -> (https only, expectation)
COOKIE_RULES: dict[str, tuple[bool, str]] = {
    "httponly": (False, "the session cookie is HttpOnly (no script can read it)"),
    "samesite": (False, "the session cookie has SameSite=Lax or SameSite=Strict"),
    "secure-prefix": (True, "the session cookie is Secure and named __Secure-…"),
    "csrf-host-prefix": (True, "the CSRF cookie is Secure, Path=/, without Domain and named __Host-…"),
}


def cookie_rule_problem(rule: str, attempt: SignInAttempt) -> str | None:
    """What is wrong with ``rule`` in the cookies a successful sign-in set, or None when it is met."""
    session = attempt.session_cookie
    if rule == "httponly":
        assert session is not None
        return None if all(c.http_only for c in attempt.session_cookies) else session.describe()
    if rule == "samesite":
        assert session is not None
        bad = [c for c in attempt.session_cookies if c.same_site not in {"lax", "strict"}]
        return bad[0].describe() if bad else None
    if rule == "secure-prefix":
        assert session is not None
        bad = [c for c in attempt.session_cookies if not c.secure or c.prefix not in {"__Secure-", "__Host-"}]
        return bad[0].describe() if bad else None
    if rule == "csrf-host-prefix":
        csrf = next((c for c in attempt.all_cookies if cookie_kind(c) == "csrf-token" and not c.clears), None)
        if csrf is None:
            return "no CSRF cookie was set by GET /api/auth/csrf in a fresh cookie jar"
        ok = csrf.prefix == "__Host-" and csrf.secure and csrf.path == "/" and csrf.domain is None
        return None if ok else csrf.describe()
    raise ValueError(f"unknown cookie rule {rule!r}")


def oversized_cookies(cookies: tuple[SetCookie, ...], limit: int) -> list[SetCookie]:
    return [c for c in cookies if c.size > limit]


# ---------------------------------------------------------------------------------------------------
# Protected paths
# ---------------------------------------------------------------------------------------------------
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def _site_host(url: str) -> str:
    """The host of ``url``: the site, as browsers see it, ignores the port; loopback names count as one host
    (Next.js reports 127.0.0.1 as localhost in the redirects it builds from a request)."""
    host = (urlsplit(url).hostname or "").lower()
    return "loopback" if host in _LOOPBACK_HOSTS else host


def _same_path(a: str, b: str) -> bool:
    return (a.rstrip("/") or "/") == (b.rstrip("/") or "/")


def redirect_problem(path: str, location: str, site: str, signin_path: str = "") -> str | None:
    """Why a redirect of an anonymous ``GET path`` does not count as refusing it, or None when it does.

    It counts when it stays on the site (the host of ``site``, the base URL) and goes elsewhere than ``path``
    itself (a custom sign-in page at any path is fine), and, when ``signin_path`` (``auth.signin_path``) is
    set, goes exactly there.
    """
    target = urljoin(f"{site.rstrip('/')}{path}", location.strip())
    shown = mask_url(target)
    if _site_host(target) != _site_host(site):
        return f"a redirect off the site, to {shown}"
    target_path = urlsplit(target).path or "/"
    if signin_path:
        if not _same_path(target_path, signin_path):
            return f"a redirect to {shown}, not to auth.signin_path {signin_path}"
        return None
    if _same_path(target_path, urlsplit(path).path or "/"):
        return f"a redirect to {shown}, the path itself (the resource is served there)"
    return None


def expect_anonymous_refused(
    path: str,
    response: httpx.Response,
    check: CheckRecord,
    *,
    site: str,
    signin_path: str = "",
    flavor: Flavor | None = None,
) -> None:
    """Without a session: 401/403, or a redirect that stays on the site and leaves the resource (a sign-in
    page, NextAuth's or a custom one; exactly ``signin_path`` when it is set). Data (2xx) is the P0 failure."""
    __tracebackhide__ = True
    status = response.status_code
    check.metric("status", status)
    checked = f"GET {path} without a session"
    expected = "401, or a redirect to " + (
        f"auth.signin_path {signin_path}" if signin_path else "a sign-in page"
    )
    if status in (401, 403):
        return
    location = response.headers.get("location") or ""
    if 300 <= status < 400:
        problem = redirect_problem(path, location, site, signin_path) if location else "no Location"
        if problem is None:
            check.metric("redirect", mask_url(location))
            return
        raise CheckFailed(checked, expected, f"HTTP {status}: {problem}")
    if 200 <= status < 300:
        served = CheckFailed(
            checked,
            expected,
            f"HTTP {status} with {len(response.content)} bytes: the path serves data without a session",
        )
        served.lead = unprotected_path_advice(path, flavor)
        raise served
    if status >= 500:
        raise Inconclusive(
            f"{checked}: answered HTTP {status}, so whether it is protected cannot be told; "
            "see the auth endpoint checks"
        )
    raise CheckFailed(checked, expected, f"HTTP {status} (is auth.protected_paths right?)")


def expect_signed_in_access(path: str, response: httpx.Response, check: CheckRecord) -> None:
    __tracebackhide__ = True
    check.metric("status", response.status_code)
    if response.status_code != 200:
        location = response.headers.get("location")
        extra = f" redirecting to {mask_url(location)}" if location else ""
        raise CheckFailed(
            f"GET {path} with the smoke user's session", "HTTP 200", f"HTTP {response.status_code}{extra}"
        )
