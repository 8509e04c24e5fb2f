"""What NextAuth's endpoints answered, as values the auth rules judge, and the errors that stop a check.

A sign-in succeeded only when the callback response sets a session cookie **and** the URL it sends the
browser to carries no ``error=`` (or v4's ``csrf=true``): status codes lie (v4 answers 200 in JSON mode when
the CSRF check fails).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from opscheck.auth.flavors import SERVER_CONFIG_PROBLEM, Flavor, cookie_kind, flavor_of_server_error
from opscheck.clients.cookies import SetCookie, unprefixed
from opscheck.errors import OpscheckError
from opscheck.secrets import mask_url

__all__ = [
    "ENDPOINTS_CHECK",
    "AuthServerError",
    "CsrfAnswer",
    "EndpointStatus",
    "NotNextAuth",
    "SessionAnswer",
    "SignInAttempt",
    "SignOutResult",
    "json_body",
    "returned_url",
    "session_cookies",
    "session_lifetime",
    "url_error",
]


class NotNextAuth(OpscheckError):
    """Nothing answers like NextAuth under ``auth.base_path`` (a 404, an HTML page): the app is not judged.

    Most often the app's auth routes live elsewhere (Auth.js v5 apps commonly use ``/auth``), so the message
    says so and names the key instead of failing the app.
    """

    outcome = "error"

    def __init__(self, checked: str, seen: str, base_url: str, base_path: str) -> None:
        self.checked = checked
        self.seen = seen
        self.base_path = base_path
        super().__init__(
            f"{checked}: expected NextAuth's answer, saw {seen}: nothing answers like NextAuth under "
            f"{base_path} at {mask_url(base_url)}, so the app was not judged. If its auth routes live "
            'elsewhere, set auth.base_path (Auth.js v5 apps often use "/auth"); else check base_url'
        )


#: the check that judges 5xx answers of the auth endpoints; every other check that meets one is inconclusive
ENDPOINTS_CHECK = "test_auth_endpoints_answer_without_server_errors"


class AuthServerError(OpscheckError):
    """An auth endpoint answered 5xx, or sent the browser to ``error=Configuration``: NextAuth itself is
    failing (a missing secret does this).

    The outcome is an error: a check that runs into a 5xx cannot judge what it is about (a rejected
    sign-in, a cookie flag). The endpoint check, and the sign-in check for the callback, fail instead.
    """

    outcome = "error"

    def __init__(self, checked: str, status: int, body: str, *, configuration_error: bool = False) -> None:
        self.checked = checked
        self.status = status
        self.config_problem = configuration_error or SERVER_CONFIG_PROBLEM in body.lower()
        #: the NextAuth version its configuration-error body is worded in (None if it cannot be told)
        self.flavor = flavor_of_server_error(body)
        said = " saying there is a problem with the server configuration" if self.config_problem else ""
        self.seen = f"HTTP {status}" + (" with error=Configuration" if configuration_error else said)
        super().__init__(
            f"inconclusive: {checked} answered {self.seen}, so NextAuth itself is failing and this check "
            f"cannot judge the deployment; see {ENDPOINTS_CHECK}"
        )


def json_body(response: httpx.Response) -> Any:
    """The response's body as JSON, or ``...`` when it is not JSON (``None`` is v5's "no session")."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return ...


@dataclass(frozen=True)
class CsrfAnswer:
    """What ``GET /api/auth/csrf`` answered."""

    status: int
    token: str | None = field(repr=False)
    cache_control: str
    cookies: tuple[SetCookie, ...]
    flavor: Flavor | None
    #: whether the body was a JSON object (a NextAuth answer), and its start (for 5xx diagnostics)
    json_object: bool = False
    text: str = field(default="", repr=False)

    @property
    def usable(self) -> bool:
        return self.status == 200 and self.token is not None

    @property
    def csrf_cookie(self) -> SetCookie | None:
        return next((c for c in self.cookies if cookie_kind(c) == "csrf-token"), None)


@dataclass(frozen=True)
class SessionAnswer:
    """What ``GET /api/auth/session`` answered: ``user`` and ``expires`` when there is a session."""

    status: int
    body: Any = field(repr=False)
    cookies: tuple[SetCookie, ...] = ()

    @property
    def user(self) -> dict[str, Any] | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("user"), dict):
            return self.body["user"]  # type: ignore[no-any-return]
        return None

    @property
    def active(self) -> bool:
        return self.user is not None

    @property
    def empty(self) -> bool:
        """``{}`` (v4) or ``null`` (v5): no session."""
        return self.body is None or self.body == {}

    @property
    def expires(self) -> datetime | None:
        raw = self.body.get("expires") if isinstance(self.body, dict) else None
        if not isinstance(raw, str):
            return None
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def identifies(self, username: str) -> bool:
        """Whether the session's user is ``username`` (by email, name or id, case-insensitively)."""
        user = self.user or {}
        wanted = username.strip().lower()
        return any(
            isinstance(user.get(k), str) and user[k].strip().lower() == wanted
            for k in ("email", "name", "id")
        )

    def describe(self) -> str:
        if self.empty:
            return f"no session ({json.dumps(self.body)})"
        user = self.user
        if user is None:
            return f"HTTP {self.status} with an unexpected body"
        who = user.get("email") or user.get("name") or user.get("id")
        return f"a session for {who!r} expiring {self.body.get('expires')!r}"


def session_lifetime(answer: SessionAnswer, now: datetime | None = None) -> timedelta | None:
    """How long the session has left, from its ``expires``."""
    expires = answer.expires
    if expires is None:
        return None
    return expires - (now or datetime.now(UTC))


def returned_url(response: httpx.Response) -> str | None:
    """Where the server sends the browser: ``{"url": ...}`` in JSON mode, else the ``Location`` header."""
    body = json_body(response)
    if isinstance(body, dict) and isinstance(body.get("url"), str):
        return str(body["url"])
    location = response.headers.get("location")
    return str(location) if location else None


def url_error(url: str | None) -> str | None:
    """The error a returned URL reports (``?error=CredentialsSignin``; v4's ``?csrf=true``), or None."""
    if not url:
        return None
    query = parse_qs(urlsplit(url).query)
    if query.get("error"):
        return query["error"][0] or "error"
    if query.get("csrf") == ["true"]:
        return "MissingCSRF"
    return None


def _short_url(url: str | None) -> str:
    """A returned URL for messages: origin and path, plus only its error parameter."""
    if not url:
        return "no URL"
    parts = urlsplit(url)
    error = url_error(url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    return f"{origin}{parts.path}" + (f"?error={error}" if error else "")


def session_cookies(cookies: Iterable[SetCookie], name: str = "") -> tuple[SetCookie, ...]:
    """The session cookie(s) among ``cookies`` (several when a large token is chunked: ``.0``, ``.1``).

    ``name`` (``auth.session_cookie``) picks them by name, with or without the ``__Secure-`` prefix.
    Otherwise the session cookie is the one that is not a CSRF, callback-URL, PKCE, state or nonce cookie;
    when several names remain, one containing "session" wins, else none does (ambiguous: configure it).
    """
    if name:
        wanted = unprefixed(name)
        return tuple(c for c in cookies if wanted in (c.base_name, unprefixed(c.name)))
    candidates = [c for c in cookies if not c.helper]
    names = sorted({c.base_name for c in candidates})
    if len(names) > 1:
        names = [n for n in names if "session" in n.lower()]
    if len(names) != 1:
        return ()
    return tuple(c for c in candidates if c.base_name == names[0])


@dataclass
class SignInAttempt:
    """The outcome of one credentials sign-in, decided from the session cookie and the returned URL."""

    username: str
    status: int
    url: str | None
    cookies: tuple[SetCookie, ...]
    client: httpx.Client = field(repr=False)
    csrf: CsrfAnswer | None = None
    flavor: Flavor | None = None
    text: str = field(default="", repr=False)
    #: ``auth.session_cookie``: the session cookie's name when it is configured, "" to find it
    session_cookie_name: str = ""

    @property
    def error(self) -> str | None:
        return url_error(self.url)

    @property
    def session_cookies(self) -> tuple[SetCookie, ...]:
        """The session cookie(s) this response set (more than one when NextAuth chunks a large token)."""
        live = [c for c in self.cookies if not c.clears]
        return session_cookies(live, self.session_cookie_name)

    @property
    def session_cookie(self) -> SetCookie | None:
        cookies = self.session_cookies
        return cookies[0] if cookies else None

    @property
    def succeeded(self) -> bool:
        return bool(self.session_cookies) and self.url is not None and self.error is None

    @property
    def all_cookies(self) -> tuple[SetCookie, ...]:
        """Every cookie set during the attempt: the CSRF fetch's and the callback's."""
        return (self.csrf.cookies if self.csrf else ()) + self.cookies

    def describe(self) -> str:
        session = self.session_cookie
        if session is not None:
            cookie = f"a session cookie ({session.name})"
        else:
            names = ", ".join(sorted({c.name for c in self.cookies if not c.clears})) or "none"
            wanted = (
                f" named {self.session_cookie_name!r} (auth.session_cookie)"
                if self.session_cookie_name
                else ""
            )
            cookie = f"no session cookie{wanted} (cookies set: {names})"
        said = f"error {self.error}" if self.error else _short_url(self.url)
        return f"HTTP {self.status}, {cookie}, returned {said}"


@dataclass(frozen=True)
class EndpointStatus:
    path: str
    status: int
    #: the body says "There is a problem with the server configuration" (NextAuth's 500 page)
    config_problem: bool


@dataclass(frozen=True)
class SignOutResult:
    status: int
    url: str | None
    cookies: tuple[SetCookie, ...]
    #: the session cookie's name, as the sign-in found it ("" to find it among the cleared cookies)
    session_name: str = ""

    @property
    def cleared_session(self) -> bool:
        session = session_cookies(self.cookies, self.session_name)
        return bool(session) and all(c.clears for c in session)
