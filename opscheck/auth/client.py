"""NextAuth from the outside: the CSRF, credentials sign-in, session and sign-out flows a browser runs.

Works with next-auth v4 and Auth.js v5 (``auth.flavor`` when it names one, else told apart from what the
server says, see :mod:`opscheck.auth.flavors`), over http and https (the environment's ``ca_bundle`` for
private CAs). Every CSRF token and every cookie value the auth endpoints set (the callback URL aside) is
registered with the redactor the moment it arrives, so no report can print it.

The first contact with the server is made once and remembered: a server that cannot be reached, or that is
not a NextAuth app at all, costs one timeout (or one 404) for a whole run, not one per check.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from opscheck.auth.answers import (
    AuthServerError,
    CsrfAnswer,
    EndpointStatus,
    NotNextAuth,
    SessionAnswer,
    SignInAttempt,
    SignOutResult,
    json_body,
    returned_url,
)
from opscheck.auth.flavors import (
    FLAVOR_BY_NAME,
    SERVER_CONFIG_PROBLEM,
    Flavor,
    ask_for_json,
    detect_flavor,
    flavor_of_server_error,
)
from opscheck.clients.cookies import SetCookie, parse_set_cookie
from opscheck.clients.http import DEFAULT_MAX_BODY_BYTES, OpsClient, request_headers
from opscheck.config import Environment
from opscheck.errors import CheckFailed, OpscheckError, TargetUnreachable
from opscheck.secrets import Secret, clip, mask_url, redactor

__all__ = ["AUTH_BASE_PATH", "ClientFactory", "Credentials", "NextAuth"]

AUTH_BASE_PATH = "/api/auth"


def _set_cookies(response: httpx.Response) -> tuple[SetCookie, ...]:
    """The cookies the auth endpoints set, each value registered as a credential (the callback URL's excepted)."""
    return tuple(parse_set_cookie(h, set_by_sign_in=True) for h in response.headers.get_list("set-cookie"))


ClientFactory = Callable[[], httpx.Client]
Credentials = Callable[[], tuple[str, Secret]]


class NextAuth:
    """A NextAuth client for one deployment. Each flow gets its own cookie jar (a fresh browser).

    ``credentials`` is called when a sign-in needs the smoke user, so an unset ``${SMOKE_PASSWORD}`` errors
    only the checks that sign in. ``client_factory`` builds the httpx clients (tests pass fakes).
    ``flavor`` (``auth.flavor``) pins the version: its conventions are used and nothing is detected.
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
        flavor: Flavor | None = None,
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
        self.flavor: Flavor | None = flavor
        self._pinned = flavor is not None

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
            flavor=FLAVOR_BY_NAME.get(auth.flavor) if auth else None,  # "auto" detects it
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
            cookies = _set_cookies(response)
            body = json_body(response)
            token = body.get("csrfToken") if isinstance(body, dict) else None
            token = token if isinstance(token, str) and token else None
            redactor().add(token)
            flavor = (
                self.flavor
                if self._pinned
                else detect_flavor([c.name for c in cookies] + list(client.cookies.keys()))
            )
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
        body = json_body(response)
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
        body = json_body(response)
        if response.status_code != 200 or body is ...:
            raise CheckFailed(checked, "HTTP 200 with a JSON session", f"HTTP {response.status_code}")
        if self.flavor is None:
            self.flavor = detect_flavor([], body)
        return SessionAnswer(response.status_code, body, _set_cookies(response))

    def session_with(self, cookies: tuple[SetCookie, ...]) -> SessionAnswer:
        """The session a fresh client gets when it presents ``cookies`` (e.g. a captured token, replayed)."""
        self.discover()
        client = self.new_client()
        header = "; ".join(f"{c.name}={c.value}" for c in cookies)
        response = client.get(self.path("session"), headers={"Cookie": header})
        body = json_body(response)
        return SessionAnswer(response.status_code, None if body is ... else body, _set_cookies(response))

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
            said = SERVER_CONFIG_PROBLEM in response.text[:500].lower()
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
        headers = ask_for_json(flavor, form)
        response = client.post(self.path(f"callback/{provider}"), data=form, headers=headers)
        return SignInAttempt(
            username=username,
            status=response.status_code,
            url=returned_url(response),
            cookies=_set_cookies(response),
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
            if attempt.status >= 500 or attempt.error == "Configuration":
                raise AuthServerError(
                    f"credentials sign-in as {username!r}",
                    attempt.status,
                    attempt.text,
                    configuration_error=attempt.error == "Configuration",
                )
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
        headers = ask_for_json(flavor, form)
        response = client.post(self.path("signout"), data=form, headers=headers)
        if response.status_code >= 500:
            raise AuthServerError(
                f"POST {self.where('signout')}", response.status_code, clip(response.text, 500)
            )
        return SignOutResult(
            response.status_code,
            returned_url(response),
            _set_cookies(response),
            session_name or self.session_cookie,
        )
