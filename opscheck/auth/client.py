"""NextAuth from the outside: the CSRF, credentials sign-in, session and sign-out flows a browser runs.

Works with next-auth v4 and Auth.js v5, over http and https (the environment's ``ca_bundle`` for private
CAs). Which of the two answers is detected from what the server says, not configured:

==================  ==============================  ==================================
                    next-auth v4                    Auth.js v5
==================  ==============================  ==================================
cookies             ``next-auth.session-token`` …   ``authjs.session-token`` …
JSON, not redirect  form field ``json=true``        header ``X-Auth-Return-Redirect: 1``
no session          ``{}``                          ``null``
==================  ==============================  ==================================

On https the session and callback cookies carry the ``__Secure-`` prefix and the CSRF cookie ``__Host-``.

A sign-in succeeded only when the callback response sets a session cookie **and** the URL it sends the
browser to carries no ``error=`` (or v4's ``csrf=true``): status codes lie (v4 answers 200 in JSON mode when
the CSRF check fails). Every CSRF token and every session or CSRF cookie value is registered with the
redactor the moment it arrives, so no report can print it.

The first contact with the server is made once and remembered: a server that cannot be reached, or that is
not a NextAuth app at all, costs one timeout (or one 404) for a whole run, not one per check.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import httpx

from opscheck.clients import cookies
from opscheck.clients.http import DEFAULT_MAX_BODY_BYTES, OpsClient, request_headers
from opscheck.config import Environment
from opscheck.errors import CheckFailed, OpscheckError, TargetUnreachable
from opscheck.secrets import Secret, clip, mask_url, redactor

__all__ = [
    "AUTH_BASE_PATH",
    "ENDPOINTS_CHECK",
    "V4",
    "V5",
    "AuthServerError",
    "CsrfAnswer",
    "EndpointStatus",
    "Flavor",
    "NextAuth",
    "NotNextAuth",
    "SessionAnswer",
    "SetCookie",
    "SignInAttempt",
    "SignOutResult",
    "detect_flavor",
    "flavor_of_server_error",
    "parse_set_cookie",
    "returned_url",
    "session_cookies",
    "url_error",
]

AUTH_BASE_PATH = "/api/auth"
#: the largest cookie (name=value) every browser keeps; larger ones are dropped silently
MAX_COOKIE_BYTES = 4096
_PREFIXES = ("__Secure-", "__Host-")
_CHUNK = re.compile(r"^(?P<base>.+?)\.(?P<index>\d+)$")
#: the cookies a sign-in sets besides the session cookie (NextAuth's names, and the usual custom spellings)
_HELPER_COOKIE = re.compile(r"csrf|callback[-_.]?url|pkce|code[-_.]?verifier|state|nonce", re.IGNORECASE)
_SERVER_CONFIG_PROBLEM = "problem with the server configuration"


# ---------------------------------------------------------------------------------------------------
# Versions
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Flavor:
    """One NextAuth major version and the conventions it answers with."""

    label: str
    cookie_prefix: str

    def cookie_name(self, kind: str, *, secure: bool) -> str:
        """Default cookie name of ``kind`` (``session-token``, ``csrf-token``, ``callback-url``)."""
        prefix = ("__Host-" if kind == "csrf-token" else "__Secure-") if secure else ""
        return f"{prefix}{self.cookie_prefix}.{kind}"

    def json_mode(self) -> tuple[dict[str, str], dict[str, str]]:
        """(form fields, headers) that make the server answer ``{"url": ...}`` instead of redirecting."""
        if self is V5:
            return {}, {"X-Auth-Return-Redirect": "1"}
        return {"json": "true"}, {}

    def __str__(self) -> str:
        return self.label


V4 = Flavor("next-auth v4", "next-auth")
V5 = Flavor("Auth.js v5", "authjs")
_FLAVORS = (V4, V5)


def _ask_for_json(flavor: Flavor | None, form: dict[str, str]) -> dict[str, str]:
    """Add to ``form`` the fields, and return the headers, that ask ``flavor`` (every flavour when not
    known yet) to answer a POST with ``{"url": ...}`` instead of a redirect."""
    headers: dict[str, str] = {}
    for candidate in (flavor,) if flavor else _FLAVORS:
        fields, extra = candidate.json_mode()
        form.update(fields)
        headers.update(extra)
    return headers


def _flavor_of_cookie(name: str) -> Flavor | None:
    base = _unprefixed(name)
    for flavor in _FLAVORS:
        if base.startswith(f"{flavor.cookie_prefix}."):
            return flavor
    return None


def flavor_of_server_error(body: str) -> Flavor | None:
    """The version behind a 500 that reports a configuration problem: v4 says "There is a problem with the
    server configuration", Auth.js v5 (``@auth/core``) "There was a problem ..." (an outage sets no cookie)."""
    text = body.lower()
    if f"there was a {_SERVER_CONFIG_PROBLEM}" in text:
        return V5
    if f"there is a {_SERVER_CONFIG_PROBLEM}" in text:
        return V4
    return None


def detect_flavor(cookie_names: Iterable[str], session_body: Any = ...) -> Flavor | None:
    """The NextAuth version behind these cookie names, else behind an empty session body, else None."""
    for name in cookie_names:
        flavor = _flavor_of_cookie(name)
        if flavor is not None:
            return flavor
    if session_body is None:
        return V5
    if session_body == {}:
        return V4
    return None


# ---------------------------------------------------------------------------------------------------
# Cookies
# ---------------------------------------------------------------------------------------------------
def _unprefixed(name: str) -> str:
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


@dataclass(frozen=True)
class SetCookie:
    """One ``Set-Cookie`` header. Its value never shows in ``repr`` or :meth:`describe`."""

    name: str
    value: str = field(repr=False)
    #: attribute names in lower case; flags (``HttpOnly``, ``Secure``) map to ""
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return next((p for p in _PREFIXES if self.name.startswith(p)), "")

    @property
    def base_name(self) -> str:
        """The name without ``__Secure-``/``__Host-`` prefix and without a chunk suffix (``.0``)."""
        base = _unprefixed(self.name)
        chunk = _CHUNK.match(base)
        return chunk.group("base") if chunk else base

    @property
    def helper(self) -> bool:
        """A CSRF, callback-URL, PKCE, state or nonce cookie: set around a sign-in, never the session."""
        return bool(_HELPER_COOKIE.search(self.base_name))

    @property
    def kind(self) -> str | None:
        """``session-token``, ``csrf-token``, ``callback-url`` or None for a cookie NextAuth does not own."""
        base = self.base_name
        for kind in ("session-token", "csrf-token", "callback-url"):
            if base.endswith(kind):
                return kind
        return None

    @property
    def http_only(self) -> bool:
        return "httponly" in self.attributes

    @property
    def secure(self) -> bool:
        return "secure" in self.attributes

    @property
    def same_site(self) -> str | None:
        value = self.attributes.get("samesite")
        return value.lower() if value else None

    @property
    def path(self) -> str | None:
        return self.attributes.get("path")

    @property
    def domain(self) -> str | None:
        return self.attributes.get("domain") or None

    @property
    def max_age(self) -> int | None:
        raw = self.attributes.get("max-age")
        try:
            return int(raw) if raw is not None else None
        except ValueError:
            return None

    @property
    def expires(self) -> datetime | None:
        raw = self.attributes.get("expires")
        if not raw:
            return None
        with contextlib.suppress(TypeError, ValueError, IndexError):
            parsed = parsedate_to_datetime(raw)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return None

    @property
    def clears(self) -> bool:
        """Whether this header deletes the cookie (empty value, ``Max-Age<=0`` or an expiry in the past)."""
        if not self.value:
            return True
        if self.max_age is not None:
            return self.max_age <= 0
        expires = self.expires
        return expires is not None and expires <= datetime.now(UTC)

    @property
    def size(self) -> int:
        """Bytes of ``name=value``, what browsers hold against their 4096-byte limit."""
        return len(self.name.encode()) + 1 + len(self.value.encode())

    def describe(self) -> str:
        """The header without its value: ``name=…; Path=/; HttpOnly; SameSite=Lax``."""
        parts = [f"{self.name}=…"]
        for key, value in self.attributes.items():
            label = _ATTRIBUTE_LABELS.get(key, key)
            parts.append(f"{label}={value}" if value else label)
        return "; ".join(parts)


_ATTRIBUTE_LABELS = {
    "httponly": "HttpOnly",
    "secure": "Secure",
    "samesite": "SameSite",
    "path": "Path",
    "domain": "Domain",
    "max-age": "Max-Age",
    "expires": "Expires",
    "partitioned": "Partitioned",
    "priority": "Priority",
}


def register_cookie_value(name: str, value: str) -> None:
    """Register a cookie value the auth endpoints set as a credential (the callback URL's excepted)."""
    cookies.register_cookie_value(name, value, set_by_sign_in=True)


def parse_set_cookie(header: str) -> SetCookie:
    """Parse one ``Set-Cookie`` header the auth endpoints sent, registering its value as a secret."""
    name, value, attributes = cookies.split_set_cookie(header)
    register_cookie_value(name, value)
    return SetCookie(name, value, attributes)


def set_cookies(response: httpx.Response) -> tuple[SetCookie, ...]:
    return tuple(parse_set_cookie(h) for h in response.headers.get_list("set-cookie"))


def session_cookies(cookies: Iterable[SetCookie], name: str = "") -> tuple[SetCookie, ...]:
    """The session cookie(s) among ``cookies`` (several when a large token is chunked: ``.0``, ``.1``).

    ``name`` (``auth.session_cookie``) picks them by name, with or without the ``__Secure-`` prefix.
    Otherwise the session cookie is the one that is not a CSRF, callback-URL, PKCE, state or nonce cookie;
    when several names remain, one containing "session" wins, else none does (ambiguous: configure it).
    """
    if name:
        wanted = _unprefixed(name)
        return tuple(c for c in cookies if wanted in (c.base_name, _unprefixed(c.name)))
    candidates = [c for c in cookies if not c.helper]
    names = sorted({c.base_name for c in candidates})
    if len(names) > 1:
        names = [n for n in names if "session" in n.lower()]
    if len(names) != 1:
        return ()
    return tuple(c for c in candidates if c.base_name == names[0])


# ---------------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------------
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
    """An auth endpoint answered 5xx: NextAuth itself is failing (a missing secret does this).

    The outcome is an error: a check that runs into a 5xx cannot judge what it is about (a rejected
    sign-in, a cookie flag). The endpoint check, and the sign-in check for the callback, fail instead.
    """

    outcome = "error"

    def __init__(self, checked: str, status: int, body: str) -> None:
        self.checked = checked
        self.status = status
        self.config_problem = _SERVER_CONFIG_PROBLEM in body.lower()
        #: the NextAuth version its configuration-error body is worded in (None if it cannot be told)
        self.flavor = flavor_of_server_error(body)
        said = " saying there is a problem with the server configuration" if self.config_problem else ""
        self.seen = f"HTTP {status}{said}"
        super().__init__(
            f"inconclusive: {checked} answered {self.seen}, so NextAuth itself is failing and this check "
            f"cannot judge the deployment; see {ENDPOINTS_CHECK}"
        )


def _json(response: httpx.Response) -> Any:
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
        return next((c for c in self.cookies if c.kind == "csrf-token"), None)


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


def returned_url(response: httpx.Response) -> str | None:
    """Where the server sends the browser: ``{"url": ...}`` in JSON mode, else the ``Location`` header."""
    body = _json(response)
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


# ---------------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------------
ClientFactory = Callable[[], httpx.Client]
Credentials = Callable[[], tuple[str, Secret]]


class NextAuth:
    """A NextAuth client for one deployment. Each flow gets its own cookie jar (a fresh browser).

    ``credentials`` is called when a sign-in needs the smoke user, so an unset ``${SMOKE_PASSWORD}`` errors
    only the checks that sign in. ``client_factory`` builds the httpx clients (tests pass fakes).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        ca_bundle: Path | None = None,
        attempts: int = 3,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        base_path: str = AUTH_BASE_PATH,
        session_cookie: str = "",
        credentials: Credentials | None = None,
        client_factory: ClientFactory | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.base_path = "/" + base_path.strip("/")
        self.session_cookie = session_cookie
        self.timeout_s = timeout_s
        self._credentials = credentials
        self._factory = client_factory or (
            lambda: OpsClient(
                self.base_url,
                timeout_s=timeout_s,
                ca_bundle=ca_bundle,
                attempts=attempts,
                max_body_bytes=max_body_bytes,
                headers=headers,
            )
        )
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()
        self._first: CsrfAnswer | None = None
        self._fatal: Callable[[], OpscheckError] | None = None
        self.flavor: Flavor | None = None

    @classmethod
    def for_environment(cls, env: Environment) -> NextAuth:
        """A client for an :class:`~opscheck.config.Environment`, signing in as its ``auth`` smoke user."""

        def credentials() -> tuple[str, Secret]:
            auth = env.auth
            return auth.username, auth.password

        auth = env.auth if env.has("auth") else None
        return cls(
            env.base_url,
            timeout_s=env.timeout_s,
            ca_bundle=env.ca_bundle,
            attempts=int(env.retries),
            max_body_bytes=env.max_body_bytes,
            base_path=auth.base_path if auth else AUTH_BASE_PATH,
            session_cookie=auth.session_cookie if auth else "",
            credentials=credentials,
            headers=request_headers(env),
        )

    # -- plumbing ----------------------------------------------------------------------------------
    def path(self, endpoint: str) -> str:
        return f"{self.base_path}/{endpoint.lstrip('/')}"

    def where(self, endpoint: str) -> str:
        return mask_url(f"{self.base_url}{self.path(endpoint)}")

    def new_client(self) -> httpx.Client:
        """A client with an empty cookie jar; closed with this NextAuth client."""
        client = self._factory()
        with self._lock:
            self._clients.append(client)
        return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def credentials(self) -> tuple[str, Secret]:
        if self._credentials is None:
            raise OpscheckError("this NextAuth client has no smoke credentials: pass username and password")
        return self._credentials()

    # -- first contact -------------------------------------------------------------------------------
    def discover(self) -> CsrfAnswer:
        """The first ``/api/auth/csrf`` answer (fresh cookie jar), made once per run.

        A target that cannot be reached, or that is not a NextAuth app, is remembered and raised again at
        once on every later call: one timeout per run, not one per check. Any other answer (a 500, say)
        is returned for the caller to judge, and asked again next time.
        """
        with self._lock:
            fatal, first = self._fatal, self._first
        if fatal is not None:
            raise fatal()
        if first is not None:
            return first
        try:
            answer = self.csrf(self.new_client(), require=False)
        except TargetUnreachable as exc:
            checked, reason = exc.checked, exc.reason
            self._remember(lambda: TargetUnreachable(checked, reason))
            raise
        problem = self._not_nextauth(answer)
        if problem is not None:
            checked, seen = problem.checked, problem.seen
            self._remember(lambda: NotNextAuth(checked, seen, self.base_url, self.base_path))
            raise problem
        if answer.usable:
            with self._lock:
                self._first = answer
        return answer

    def _remember(self, fatal: Callable[[], OpscheckError]) -> None:
        with self._lock:
            self._fatal = fatal

    def _not_nextauth(self, answer: CsrfAnswer) -> NotNextAuth | None:
        if answer.status in (404, 405) or (answer.status == 200 and not answer.json_object):
            seen = f"HTTP {answer.status}" + (" with a non-JSON body" if answer.status == 200 else "")
            return NotNextAuth(f"GET {self.where('csrf')}", seen, self.base_url, self.base_path)
        return None

    # -- endpoints -----------------------------------------------------------------------------------
    def csrf(self, client: httpx.Client | None = None, *, require: bool = True) -> CsrfAnswer:
        """``GET /api/auth/csrf`` (with ``client``'s cookie jar, else the first contact's fresh one).

        With ``require``, anything but 200 with a token raises: NotNextAuth for a 404 or a non-JSON
        answer, AuthServerError for a 5xx, CheckFailed otherwise.
        """
        if client is None:
            answer = self.discover()
        else:
            response = client.get(self.path("csrf"))
            cookies = set_cookies(response)
            body = _json(response)
            token = body.get("csrfToken") if isinstance(body, dict) else None
            token = token if isinstance(token, str) and token else None
            redactor().add(token)
            flavor = detect_flavor([c.name for c in cookies] + list(client.cookies.keys()))
            if flavor is not None and self.flavor is None:
                self.flavor = flavor
            answer = CsrfAnswer(
                response.status_code,
                token,
                response.headers.get("cache-control", ""),
                cookies,
                flavor or self.flavor,
                json_object=isinstance(body, dict),
                text=clip(response.text, 500),
            )
        if require:
            self._require_csrf(answer)
        return answer

    def _require_csrf(self, answer: CsrfAnswer) -> None:
        checked = f"GET {self.where('csrf')}"
        if answer.status >= 500:
            raise AuthServerError(checked, answer.status, answer.text)
        problem = self._not_nextauth(answer)
        if problem is not None:
            raise problem
        if answer.status != 200:
            raise CheckFailed(checked, "HTTP 200 with a csrfToken", f"HTTP {answer.status}")
        if answer.token is None:
            raise CheckFailed(checked, "a JSON body with a csrfToken", "no csrfToken in the JSON body")

    def providers(self) -> dict[str, Any]:
        """``GET /api/auth/providers``: the configured providers keyed by id."""
        self.discover()
        response = self.new_client().get(self.path("providers"))
        checked = f"GET {self.where('providers')}"
        if response.status_code >= 500:
            raise AuthServerError(checked, response.status_code, clip(response.text, 500))
        body = _json(response)
        if response.status_code in (404, 405) or (response.status_code == 200 and body is ...):
            seen = f"HTTP {response.status_code}" + (" with a non-JSON body" if body is ... else "")
            raise NotNextAuth(checked, seen, self.base_url, self.base_path)
        if response.status_code != 200 or not isinstance(body, dict):
            kind = "a JSON object" if response.status_code == 200 else f"HTTP {response.status_code}"
            raise CheckFailed(checked, "HTTP 200 with a JSON object of providers", kind)
        return body

    def session(self, client: httpx.Client) -> SessionAnswer:
        """``GET /api/auth/session`` with ``client``'s cookies."""
        response = client.get(self.path("session"))
        checked = f"GET {self.where('session')}"
        if response.status_code >= 500:
            raise AuthServerError(checked, response.status_code, clip(response.text, 500))
        body = _json(response)
        if response.status_code != 200 or body is ...:
            raise CheckFailed(checked, "HTTP 200 with a JSON session", f"HTTP {response.status_code}")
        if self.flavor is None:
            self.flavor = detect_flavor([], body)
        return SessionAnswer(response.status_code, body, set_cookies(response))

    def session_with(self, cookies: tuple[SetCookie, ...]) -> SessionAnswer:
        """The session a fresh client gets when it presents ``cookies`` (e.g. a captured token, replayed)."""
        self.discover()
        client = self.new_client()
        header = "; ".join(f"{c.name}={c.value}" for c in cookies)
        response = client.get(self.path("session"), headers={"Cookie": header})
        body = _json(response)
        return SessionAnswer(response.status_code, None if body is ... else body, set_cookies(response))

    def anonymous_get(self, path: str) -> httpx.Response:
        """GET ``path`` (relative to ``base_url``) without any cookie, redirects not followed."""
        self.discover()
        return self.new_client().get(path)

    def endpoint_statuses(self, endpoints: Iterable[str]) -> dict[str, EndpointStatus]:
        """GET each auth endpoint in a fresh jar: its status, and whether it reports a configuration problem."""
        self.discover()
        client = self.new_client()
        statuses: dict[str, EndpointStatus] = {}
        for endpoint in endpoints:
            response = client.get(self.path(endpoint))
            said = _SERVER_CONFIG_PROBLEM in response.text[:500].lower()
            statuses[endpoint] = EndpointStatus(self.path(endpoint), response.status_code, said)
            if said and self.flavor is None:
                self.flavor = flavor_of_server_error(response.text[:500])
        return statuses

    def attempt_sign_in(
        self,
        username: str,
        password: str | Secret,
        *,
        callback_url: str = "/",
        send_csrf_token: bool = True,
        provider: str = "credentials",
    ) -> SignInAttempt:
        """One credentials sign-in in a fresh cookie jar; never raises for a rejected sign-in.

        The credentials go as ``username`` and ``email`` (the two names credentials providers use).
        ``send_csrf_token=False`` keeps the CSRF cookie but leaves the token out of the form: a correct
        server must reject that.
        """
        self.discover()
        secret = password.reveal() if isinstance(password, Secret) else password
        redactor().add(secret)
        client = self.new_client()
        csrf = self.csrf(client, require=False)
        form = {"username": username, "email": username, "password": secret, "callbackUrl": callback_url}
        if send_csrf_token and csrf.token:
            form["csrfToken"] = csrf.token
        flavor = csrf.flavor or self.flavor
        headers = _ask_for_json(flavor, form)
        response = client.post(self.path(f"callback/{provider}"), data=form, headers=headers)
        return SignInAttempt(
            username=username,
            status=response.status_code,
            url=returned_url(response),
            cookies=set_cookies(response),
            client=client,
            csrf=csrf,
            flavor=flavor,
            text=clip(response.text, 500),
            session_cookie_name=self.session_cookie,
        )

    def sign_in_attempt(self, *, callback_url: str = "/") -> SignInAttempt:
        """A sign-in as the configured smoke user that succeeded; CheckFailed (saying why) otherwise."""
        username, password = self.credentials()
        attempt = self.attempt_sign_in(username, password, callback_url=callback_url)
        if not attempt.succeeded:
            if attempt.status >= 500:
                raise AuthServerError(f"credentials sign-in as {username!r}", attempt.status, attempt.text)
            raise CheckFailed(
                f"credentials sign-in as {username!r} at {self.where('callback/credentials')}",
                "a session cookie and a returned URL without error=",
                attempt.describe(),
            )
        return attempt

    def sign_in(self, username: str | None = None, password: str | Secret | None = None) -> httpx.Client:
        """Sign in (as the configured smoke user by default); return the signed-in httpx client."""
        if username is None or password is None:
            return self.sign_in_attempt().client
        attempt = self.attempt_sign_in(username, password)
        if not attempt.succeeded:
            raise CheckFailed(
                f"credentials sign-in as {username!r}",
                "a session cookie and a returned URL without error=",
                attempt.describe(),
            )
        return attempt.client

    def sign_out(
        self, client: httpx.Client, session_name: str = "", *, callback_url: str = "/"
    ) -> SignOutResult:
        """``POST /api/auth/signout`` with the client's CSRF token, the way the sign-out button does it.

        ``session_name``: the session cookie's name as the sign-in found it, to tell whether it was cleared.
        """
        csrf = self.csrf(client)
        form = {"csrfToken": csrf.token or "", "callbackUrl": callback_url}
        flavor = csrf.flavor or self.flavor
        headers = _ask_for_json(flavor, form)
        response = client.post(self.path("signout"), data=form, headers=headers)
        if response.status_code >= 500:
            raise AuthServerError(
                f"POST {self.where('signout')}", response.status_code, clip(response.text, 500)
            )
        return SignOutResult(
            response.status_code,
            returned_url(response),
            set_cookies(response),
            session_name or self.session_cookie,
        )


def canary_password() -> str:
    """A random password no real account has (registered as a secret all the same)."""
    value = f"opscheck-wrong-{secrets.token_urlsafe(12)}"
    redactor().add(value)
    return value


def canary_username(domain: str = "opscheck.invalid") -> str:
    """A user name that cannot exist (the .invalid top-level domain is reserved)."""
    return f"no-such-user-{secrets.token_hex(6)}@{domain}"


def session_lifetime(answer: SessionAnswer, now: datetime | None = None) -> timedelta | None:
    """How long the session has left, from its ``expires``."""
    expires = answer.expires
    if expires is None:
        return None
    return expires - (now or datetime.now(UTC))
