"""The NextAuth client's parsing and decisions, for next-auth v4 and Auth.js v5.

The reference app only runs next-auth v4, so Auth.js v5 is played here by a small fake that answers the
way @auth/core does (``authjs.`` cookies, ``X-Auth-Return-Redirect``, ``null`` for no session, 200 for a
failed sign-in in JSON mode). Fakes are used in this file only; tests/auth/test_auth_suite.py runs the real app.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote

import httpx
import pytest

from opscheck.auth.answers import (
    AuthServerError,
    EndpointStatus,
    NotNextAuth,
    SessionAnswer,
    SignInAttempt,
    returned_url,
    session_cookies,
    url_error,
)
from opscheck.auth.client import NextAuth
from opscheck.auth.flavors import V4, V5, cookie_kind, detect_flavor, flavor_of_server_error
from opscheck.auth.open_redirect import expect_no_open_redirect, honoured, redirect_payloads, try_redirect
from opscheck.auth.rules import (
    Inconclusive,
    SignInControl,
    cookie_rule_problem,
    expect_anonymous_refused,
    expect_endpoints_healthy,
    expect_rejected,
    expect_session_for,
)
from opscheck.clients.cookies import SetCookie, parse_set_cookie
from opscheck.errors import CheckFailed, TargetUnreachable
from opscheck.run.context import CheckRecord
from opscheck.secrets import Secret, redactor
from tests.support.servers import closed_port

USER = "smoke@example.com"
BASE = "http://app.test"
SECURE_BASE = "https://app.test"


# -- a fake NextAuth (v4 or v5) ------------------------------------------------------------------------------
@dataclass
class FakeNextAuth:
    """Enough of NextAuth's credentials flow to exercise the client: one user, JWT-like opaque sessions."""

    version: str  # "v4" | "v5"
    base: str = BASE
    password: str = field(default_factory=lambda: f"pw-{secrets.token_hex(8)}")
    status: int | None = None  # answer every request with this status (e.g. 500, 404)
    callback_any_origin: bool = False
    requests: list[httpx.Request] = field(default_factory=list)
    sessions: dict[str, str] = field(default_factory=dict)  # token -> user

    @property
    def secure(self) -> bool:
        return self.base.startswith("https://")

    def name(self, kind: str) -> str:
        stem = "next-auth" if self.version == "v4" else "authjs"
        prefix = ("__Host-" if kind == "csrf-token" else "__Secure-") if self.secure else ""
        return f"{prefix}{stem}.{kind}"

    def cookie(self, kind: str, value: str, extra: str = "") -> str:
        secure = "; Secure" if self.secure else ""
        return f"{self.name(kind)}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{extra}"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status is not None:
            body = {"message": "There is a problem with the server configuration. Check the server logs."}
            return httpx.Response(self.status, json=body if self.status >= 500 else None)
        jar = dict(
            part.strip().split("=", 1) for part in request.headers.get("cookie", "").split(";") if "=" in part
        )
        action = request.url.path.removeprefix("/api/auth/")
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        json_mode = (
            form.get("json") == "true"
            if self.version == "v4"
            else "x-auth-return-redirect" in request.headers
        )
        csrf_cookie = jar.get(self.name("csrf-token"))
        token = csrf_cookie.split("%7C")[0] if csrf_cookie else None
        set_cookies: list[str] = []
        if action == "csrf":
            if token is None:
                token = secrets.token_hex(32)
                set_cookies.append(self.cookie("csrf-token", f"{token}%7C{secrets.token_hex(32)}"))
            return self._answer(
                200, {"csrfToken": token}, set_cookies, {"cache-control": "private, no-cache, no-store"}
            )
        if action == "providers":
            return self._answer(200, {"credentials": {"id": "credentials", "type": "credentials"}})
        if action == "session":
            user = self.sessions.get(jar.get(self.name("session-token"), ""))
            if user is None:
                return self._answer(200, {} if self.version == "v4" else None)
            expires = (datetime.now(UTC) + timedelta(days=30)).isoformat().replace("+00:00", "Z")
            return self._answer(200, {"user": {"email": user, "name": "Smoke User"}, "expires": expires})
        if action == "callback/credentials":
            return self._sign_in(form, token, json_mode)
        if action == "signout":
            if form.get("csrfToken") != token:
                return self._redirect(f"{self.base}/api/auth/signout?csrf=true", json_mode)
            cleared = [f"{self.name('session-token')}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"]
            return self._redirect(f"{self.base}/", json_mode, cleared)
        return httpx.Response(404, text="not found")

    def _sign_in(self, form: dict[str, str], token: str | None, json_mode: bool) -> httpx.Response:
        if form.get("csrfToken") != token or token is None:
            error = "csrf=true" if self.version == "v4" else "error=MissingCSRF"
            return self._redirect(f"{self.base}/api/auth/signin?{error}", json_mode)
        if form.get("username") != USER or form.get("password") != self.password:
            if self.version == "v4":
                url = f"{self.base}/api/auth/error?error=CredentialsSignin&provider=credentials"
                return self._answer(401, {"url": url}) if json_mode else self._redirect(url, False)
            return self._redirect(
                f"{self.base}/api/auth/signin?error=CredentialsSignin&code=credentials", json_mode
            )
        session = secrets.token_urlsafe(48)
        self.sessions[session] = USER
        callback = form.get("callbackUrl", "/")
        if callback.startswith("/"):
            callback = f"{self.base}{callback}"
        elif not callback.startswith(self.base) and not self.callback_any_origin:
            callback = self.base
        cookies = [self.cookie("session-token", session, "; Expires=Wed, 01 Jan 2098 00:00:00 GMT")]
        if self.callback_any_origin:
            cookies.append(self.cookie("callback-url", quote(callback, safe="")))
        return self._redirect(callback, json_mode, cookies)

    def _answer(
        self,
        status: int,
        body: object,
        cookies: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        pairs = [("set-cookie", c) for c in cookies or []] + list((headers or {}).items())
        pairs.append(("content-type", "application/json"))
        return httpx.Response(status, content=json.dumps(body).encode(), headers=pairs)

    def _redirect(self, url: str, json_mode: bool, cookies: list[str] | None = None) -> httpx.Response:
        if json_mode:
            return self._answer(200, {"url": url}, cookies)
        return httpx.Response(302, headers=[("location", url), *(("set-cookie", c) for c in cookies or [])])


def client_for(fake: FakeNextAuth) -> NextAuth:
    def factory() -> httpx.Client:
        return httpx.Client(base_url=fake.base, transport=httpx.MockTransport(fake))

    return NextAuth(
        fake.base, timeout_s=2, client_factory=factory, credentials=lambda: (USER, Secret(fake.password))
    )


FLAVOURS = [
    pytest.param("v4", BASE, id="v4-http"),
    pytest.param("v5", BASE, id="v5-http"),
    pytest.param("v4", SECURE_BASE, id="v4-https"),
    pytest.param("v5", SECURE_BASE, id="v5-https"),
]


# -- Set-Cookie parsing ----------------------------------------------------------------------------------------
def test_set_cookie_attributes_flags_and_a_description_without_the_value() -> None:
    value = f"eyJ{secrets.token_hex(20)}"
    cookie = parse_set_cookie(
        f"__Secure-next-auth.session-token={value}; Path=/; Expires=Sun, 27 Dec 2099 00:16:41 GMT; "
        "HttpOnly; Secure; SameSite=Lax"
    )
    assert (cookie.name, cookie.value) == ("__Secure-next-auth.session-token", value)
    assert cookie.http_only
    assert cookie.secure
    assert cookie.same_site == "lax"
    assert cookie.path == "/"
    assert cookie.prefix == "__Secure-"
    assert cookie.base_name == "next-auth.session-token"
    assert cookie_kind(cookie) == "session-token"
    assert not cookie.clears
    assert cookie.size == len(cookie.name) + 1 + len(value)
    assert value not in cookie.describe() + repr(cookie)
    assert cookie.describe().startswith("__Secure-next-auth.session-token=…; Path=/; Expires=")
    assert value in redactor()


@pytest.mark.parametrize(
    "header",
    [
        "next-auth.session-token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
        "authjs.session-token=abc123456; Max-Age=0; Path=/",
        "authjs.session-token=abc123456; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
    ],
)
def test_a_cookie_that_is_emptied_or_expired_clears(header: str) -> None:
    assert parse_set_cookie(header).clears


def test_chunked_session_cookies_and_csrf_cookie_kinds() -> None:
    chunk = parse_set_cookie("__Secure-authjs.session-token.1=part2xyz; Path=/; Secure; HttpOnly")
    assert (cookie_kind(chunk), chunk.base_name, chunk.prefix) == (
        "session-token",
        "authjs.session-token",
        "__Secure-",
    )
    csrf = parse_set_cookie('__Host-authjs.csrf-token="tok%7Chash"; Path=/; Secure; HttpOnly; SameSite=Lax')
    assert (cookie_kind(csrf), csrf.prefix, csrf.value) == ("csrf-token", "__Host-", "tok%7Chash")
    assert cookie_kind(parse_set_cookie("theme=dark; Path=/")) is None


def test_csrf_cookie_value_is_registered_raw_decoded_and_in_parts() -> None:
    token, digest = secrets.token_hex(32), secrets.token_hex(32)
    parse_set_cookie(f"next-auth.csrf-token={token}%7C{digest}; Path=/; HttpOnly")
    text = redactor().scrub(f"a={token}%7C{digest} b={token}|{digest} c={token} d={digest}")
    assert token not in text
    assert digest not in text


# -- version detection and returned URLs ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("names", "body", "flavor"),
    [
        (["next-auth.csrf-token"], ..., V4),
        (["__Host-next-auth.csrf-token", "__Secure-next-auth.callback-url"], ..., V4),
        (["__Host-authjs.csrf-token"], ..., V5),
        (["authjs.session-token.0"], ..., V5),
        ([], {}, V4),
        ([], None, V5),
        (["theme"], ..., None),
        ([], {"user": {}}, None),
    ],
)
def test_version_is_detected_from_cookie_names_then_from_the_empty_session(
    names: list[str], body: object, flavor: object
) -> None:
    assert detect_flavor(names, body) is flavor


def test_each_version_asks_for_json_its_own_way() -> None:
    assert V4.json_mode() == ({"json": "true"}, {})
    assert V5.json_mode() == ({}, {"X-Auth-Return-Redirect": "1"})
    assert V4.cookie_name("session-token", secure=True) == "__Secure-next-auth.session-token"
    assert V5.cookie_name("csrf-token", secure=True) == "__Host-authjs.csrf-token"
    assert V5.cookie_name("csrf-token", secure=False) == "authjs.csrf-token"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://a/api/auth/error?error=CredentialsSignin&provider=credentials", "CredentialsSignin"),  # v4
        ("http://a/api/auth/signin?error=CredentialsSignin&code=credentials", "CredentialsSignin"),  # v5
        ("http://a/api/auth/signin?csrf=true", "MissingCSRF"),  # v4
        ("http://a/api/auth/signin?error=MissingCSRF", "MissingCSRF"),  # v5
        ("http://a/dashboard", None),
        (None, None),
    ],
)
def test_errors_are_read_from_the_returned_url(url: str | None, error: str | None) -> None:
    assert url_error(url) == error


def test_returned_url_comes_from_json_or_the_location_header() -> None:
    assert returned_url(httpx.Response(200, json={"url": "http://a/x"})) == "http://a/x"
    assert returned_url(httpx.Response(302, headers={"location": "http://a/y"})) == "http://a/y"
    assert returned_url(httpx.Response(200, text="<html>")) is None


# -- the flows against both versions ---------------------------------------------------------------------------
@pytest.mark.parametrize(("version", "base"), FLAVOURS)
def test_sign_in_session_and_sign_out(version: str, base: str) -> None:
    fake = FakeNextAuth(version, base)
    with client_for(fake) as nextauth:
        attempt = nextauth.sign_in_attempt()
        assert attempt.succeeded, attempt.describe()
        assert nextauth.flavor is (V4 if version == "v4" else V5)
        post = next(r for r in fake.requests if r.method == "POST")
        if version == "v4":
            assert b"json=true" in post.content
            assert "x-auth-return-redirect" not in post.headers
        else:
            assert post.headers["x-auth-return-redirect"] == "1"
            assert b"json=true" not in post.content
        cookie = attempt.session_cookie
        assert cookie is not None
        assert cookie.secure is base.startswith("https")
        assert cookie.name == (V4 if version == "v4" else V5).cookie_name(
            "session-token", secure=cookie.secure
        )

        session = nextauth.session(attempt.client)
        record = CheckRecord()
        expect_session_for(session, USER, record)
        assert 29.9 < record.metrics["session_days"] <= 30

        result = nextauth.sign_out(attempt.client)
        assert result.cleared_session
        after = nextauth.session(attempt.client)
        assert after.empty
        assert not after.active
        assert after.body == ({} if version == "v4" else None)
        replayed = nextauth.session_with(attempt.session_cookies)
        assert replayed.active  # the fake, like NextAuth's JWT strategy, cannot revoke a token


@pytest.mark.parametrize(("version", "base"), FLAVOURS)
def test_rejections_are_decided_from_cookie_and_url_not_status(version: str, base: str) -> None:
    fake = FakeNextAuth(version, base)
    with client_for(fake) as nextauth:
        wrong = nextauth.attempt_sign_in(USER, "wrong-password-123")
        assert not wrong.succeeded
        assert wrong.error == "CredentialsSignin"
        assert wrong.status == (401 if version == "v4" else 200)  # v5 says 200 to a failed sign-in
        no_csrf = nextauth.attempt_sign_in(USER, fake.password, send_csrf_token=False)
        assert no_csrf.status == 200  # and so does v4 to a failed CSRF check, in JSON mode
        assert not no_csrf.succeeded
        assert no_csrf.error == "MissingCSRF"
        control = SignInControl.run(nextauth)
        assert control.problem is None
        record = CheckRecord()
        expect_rejected(no_csrf, "no CSRF token", record, control, csrf_canary=True)
        assert record.metrics["error"] == "MissingCSRF"


def test_a_sign_in_that_is_accepted_fails_the_canary() -> None:
    fake = FakeNextAuth("v5")
    with client_for(fake) as nextauth:
        attempt = nextauth.attempt_sign_in(USER, fake.password)
    with pytest.raises(CheckFailed, match="ACCEPTED: HTTP 200, a session cookie"):
        expect_rejected(attempt, "a wrong password", CheckRecord(), SignInControl(attempt))


def test_a_sign_in_rejected_for_credentials_despite_a_missing_csrf_token_fails_the_csrf_canary() -> None:
    attempt = SignInAttempt(USER, 401, f"{BASE}/api/auth/error?error=CredentialsSignin", (), httpx.Client())
    control = SignInControl(attempt)  # stands in for a working sign-in: only its problem matters here
    with pytest.raises(CheckFailed, match="although the CSRF token was missing"):
        expect_rejected(attempt, "no CSRF token", CheckRecord(), control, csrf_canary=True)


def test_sign_in_failure_says_why_without_the_password() -> None:
    fake = FakeNextAuth("v4", password="pw-the-real-one-123")
    with client_for(fake) as nextauth, pytest.raises(CheckFailed) as failure:
        nextauth.sign_in(USER, "pw-not-the-one-456")
    message = str(failure.value)
    assert "HTTP 401, no session cookie (cookies set: none), returned error CredentialsSignin" in message
    assert "pw-" not in message


def test_csrf_token_and_session_cookie_are_registered_on_arrival() -> None:
    fake = FakeNextAuth("v5", SECURE_BASE)
    with client_for(fake) as nextauth:
        attempt = nextauth.sign_in_attempt()
    assert attempt.csrf is not None
    assert attempt.csrf.token is not None
    cookie = attempt.session_cookie
    assert cookie is not None
    assert attempt.csrf.token in redactor()
    assert cookie.value in redactor()
    assert fake.password in redactor()
    text = redactor().scrub(f"{attempt.csrf.token} {cookie.value} {fake.password}")
    assert text == "*** *** ***"


def test_version_unknown_sends_both_json_signals() -> None:
    fake = FakeNextAuth("v4")

    def handler(request: httpx.Request) -> httpx.Response:
        response = fake(request)
        # a server whose cookies carry custom names: nothing to tell the version by
        headers = [(k, v.replace("next-auth.", "custom.")) for k, v in response.headers.multi_items()]
        return httpx.Response(response.status_code, headers=headers, content=response.content)

    nextauth = NextAuth(
        BASE, client_factory=lambda: httpx.Client(base_url=BASE, transport=httpx.MockTransport(handler))
    )
    with nextauth:
        nextauth.attempt_sign_in(USER, "whatever-123")
    post = next(r for r in fake.requests if r.method == "POST")
    assert b"json=true" in post.content
    assert post.headers["x-auth-return-redirect"] == "1"
    assert nextauth.flavor is None


# -- targets that are not (working) NextAuth apps --------------------------------------------------------------
def test_a_404_on_csrf_is_not_nextauth_and_is_remembered() -> None:
    fake = FakeNextAuth("v4", status=404)
    with client_for(fake) as nextauth:
        with pytest.raises(
            NotNextAuth,
            match=r"saw HTTP 404: nothing answers like NextAuth under /api/auth at http://app.test",
        ):
            nextauth.csrf()
        asked = len(fake.requests)
        for call in (nextauth.providers, nextauth.sign_in, lambda: nextauth.anonymous_get("/api/me")):
            with pytest.raises(NotNextAuth):
                call()
        assert len(fake.requests) == asked  # one 404 per run, not one per check


def test_an_html_page_on_csrf_is_not_nextauth() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, text="<!doctype html><title>SPA</title>", headers={"content-type": "text/html"}
        )

    nextauth = NextAuth(
        BASE, client_factory=lambda: httpx.Client(base_url=BASE, transport=httpx.MockTransport(handler))
    )
    with nextauth, pytest.raises(NotNextAuth, match="HTTP 200 with a non-JSON body"):
        nextauth.csrf()


def test_a_500_is_an_auth_server_error_naming_the_missing_secret() -> None:
    fake = FakeNextAuth("v4", status=500)
    with client_for(fake) as nextauth:
        with pytest.raises(AuthServerError, match="problem with the server configuration") as failure:
            nextauth.csrf()
        assert failure.value.outcome == "error"
        assert "see test_auth_endpoints_answer_without_server_errors" in str(failure.value)
        statuses = nextauth.endpoint_statuses(["csrf", "providers", "session"])
        attempt = nextauth.attempt_sign_in(USER, "pw-whatever-1")  # never raises: a rejected attempt
        control = SignInControl.run(nextauth)
    assert not attempt.succeeded
    assert isinstance(control.problem, AuthServerError)
    record = CheckRecord()
    with pytest.raises(CheckFailed, match="on every endpoint: NextAuth refuses its configuration") as failure:
        expect_endpoints_healthy(statuses, record)
    assert "NEXTAUTH_SECRET" in str(failure.value)
    assert record.metrics == {"csrf_status": 500, "providers_status": 500, "session_status": 500}
    with pytest.raises(
        Inconclusive, match="inconclusive: sign-in itself is broken, see test_smoke_user_can_sign_in"
    ):
        expect_rejected(attempt, "a wrong password", record, control)


def test_a_canary_rejected_with_a_5xx_while_sign_in_works_is_inconclusive() -> None:
    fake = FakeNextAuth("v4")
    with client_for(fake) as nextauth:
        control = SignInControl.run(nextauth)
    crashed = SignInAttempt(USER, 502, None, (), httpx.Client())
    with pytest.raises(Inconclusive, match="answered HTTP 502, a crash rather than a rejection"):
        expect_rejected(crashed, "a wrong password", CheckRecord(), control)


def test_an_unreachable_target_costs_one_attempt_per_run() -> None:
    nextauth = NextAuth(f"http://127.0.0.1:{closed_port()}", timeout_s=0.5, attempts=2)
    with nextauth:
        with pytest.raises(TargetUnreachable, match="connection refused"):
            nextauth.csrf()
        started = time.monotonic()
        for call in (
            nextauth.providers,
            lambda: nextauth.sign_in(USER, "pw-anything-1"),
            lambda: nextauth.endpoint_statuses(["csrf"]),
        ):
            with pytest.raises(TargetUnreachable, match="connection refused"):
                call()
        assert time.monotonic() - started < 0.1


# -- judging --------------------------------------------------------------------------------------------------------
def _response(status: int, location: str | None = None, body: bytes = b"") -> httpx.Response:
    headers = {"location": location} if location else {}
    return httpx.Response(status, headers=headers, content=body)


@pytest.mark.parametrize(
    "response",
    [
        _response(401),
        _response(403),
        _response(307, "/api/auth/signin?callbackUrl=%2Fapi%2Fme"),
        _response(302, "https://app.test/login"),
        _response(307, "/welcome?next=%2Fapi%2Fme"),  # a custom sign-in page (pages.signIn), any path
        _response(307, "http://localhost:3000/join"),  # Next.js reports 127.0.0.1 as localhost
    ],
)
def test_protected_path_refusals_that_pass(response: httpx.Response) -> None:
    site = (
        "http://127.0.0.1:3000" if "localhost" in response.headers.get("location", "") else "https://app.test"
    )
    expect_anonymous_refused("/api/me", response, CheckRecord(), site=site)


def test_auth_signin_path_pins_where_the_redirect_must_go() -> None:
    record = CheckRecord()
    expect_anonymous_refused(
        "/account", _response(307, "/welcome"), record, site=BASE, signin_path="/welcome"
    )
    with pytest.raises(CheckFailed, match=re.escape("not to auth.signin_path /login")):
        expect_anonymous_refused(
            "/account", _response(307, "/welcome"), record, site=BASE, signin_path="/login"
        )


def test_protected_path_answers_that_fail_or_cannot_tell() -> None:
    with pytest.raises(CheckFailed, match="HTTP 200 with 13 bytes: the path serves data"):
        expect_anonymous_refused("/api/me", _response(200, body=b'{"user": {}} '), CheckRecord(), site=BASE)
    with pytest.raises(
        CheckFailed, match=re.escape("HTTP 302: a redirect off the site, to https://elsewhere.test/home")
    ):
        expect_anonymous_refused(
            "/api/me", _response(302, "https://elsewhere.test/home"), CheckRecord(), site=BASE
        )
    with pytest.raises(CheckFailed, match=re.escape("the path itself (the resource is served there)")):
        expect_anonymous_refused("/api/me", _response(308, "/api/me/"), CheckRecord(), site=BASE)
    with pytest.raises(CheckFailed, match=re.escape("is auth.protected_paths right")):
        expect_anonymous_refused("/api/me", _response(404), CheckRecord(), site=BASE)
    with pytest.raises(Inconclusive, match="cannot be told") as error:
        expect_anonymous_refused("/api/me", _response(500), CheckRecord(), site=BASE)
    assert error.value.outcome == "error"


def test_the_open_redirect_battery_names_every_payload_a_prefix_check_honours() -> None:
    fake = FakeNextAuth("v4")  # like many apps: honours any callbackUrl that starts with the base URL
    with client_for(fake) as nextauth:
        trials = [try_redirect(nextauth, p) for p in redirect_payloads([f"{BASE}/"])]
    record = CheckRecord()
    with pytest.raises(CheckFailed, match="2 honoured") as failure:
        expect_no_open_redirect(trials, BASE, record)
    message = str(failure.value)
    assert f"host suffix {BASE}.opscheck-canary.invalid/after-sign-in on sign-in" in message
    assert "user info http://app.test@opscheck-canary.invalid" in message
    assert "another host" not in message
    assert record.metrics == {"payloads": 10, "honoured": 2}


def test_an_app_honouring_any_origin_is_caught_by_every_host_payload() -> None:
    fake = FakeNextAuth("v4", callback_any_origin=True)
    with client_for(fake) as nextauth:
        trials = [try_redirect(nextauth, p) for p in redirect_payloads([BASE])]
    with pytest.raises(
        CheckFailed, match=re.escape("another host https://opscheck-canary.invalid/after-sign-in on sign-in")
    ):
        expect_no_open_redirect(trials, BASE, CheckRecord())


@pytest.mark.parametrize(
    ("returned", "base", "is_honoured"),
    [
        ("https://opscheck-canary.invalid/x", "http://app.test", True),
        ("//opscheck-canary.invalid/x", "https://app.test", True),
        ("/\\opscheck-canary.invalid/x", "https://app.test", True),
        ("/\t/opscheck-canary.invalid/x", "https://app.test", True),  # browsers drop tabs
        ("https:opscheck-canary.invalid/x", "http://app.test", True),
        ("https:opscheck-canary.invalid/x", "https://app.test", False),  # a relative path there
        ("http://app.test:3000@opscheck-canary.invalid/", "http://app.test:3000", True),
        ("http://app.test:3000.opscheck-canary.invalid/", "http://app.test:3000", True),
        ("JavaScript:alert(1)", "http://app.test", True),
        ("http://app.test/%2F%2Fopscheck-canary.invalid/x", "http://app.test", False),
        ("http://app.test//opscheck-canary.invalid/x", "http://app.test", False),
        ("http://app.test/", "http://app.test", False),
        (None, "http://app.test", False),
    ],
)
def test_where_a_browser_would_go(returned: str | None, base: str, is_honoured: bool) -> None:
    assert honoured(returned, base) is is_honoured


@pytest.mark.parametrize("version", ["v4", "v5"])
def test_cookie_rules_on_https_cookies_of_both_versions(version: str) -> None:
    fake = FakeNextAuth(version, SECURE_BASE)
    with client_for(fake) as nextauth:
        attempt = nextauth.sign_in_attempt()
    for rule in ("httponly", "samesite", "secure-prefix", "csrf-host-prefix"):
        assert cookie_rule_problem(rule, attempt) is None, rule
    plain = FakeNextAuth(version, BASE)
    with client_for(plain) as nextauth:
        attempt = nextauth.sign_in_attempt()
    assert cookie_rule_problem("secure-prefix", attempt) is not None
    assert "no CSRF cookie" not in (cookie_rule_problem("csrf-host-prefix", attempt) or "")


def test_session_expiry_must_be_within_thirty_days() -> None:
    far = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    with pytest.raises(CheckFailed, match="at most 30 days ahead"):
        expect_session_for(SessionAnswer(200, {"user": {"email": USER}, "expires": far}), USER, CheckRecord())
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    with pytest.raises(CheckFailed, match="already expired"):
        expect_session_for(
            SessionAnswer(200, {"user": {"email": USER}, "expires": past}), USER, CheckRecord()
        )
    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with pytest.raises(CheckFailed, match=re.escape("the session of 'smoke@example.com'")):
        expect_session_for(
            SessionAnswer(200, {"user": {"email": "x@y"}, "expires": soon}), USER, CheckRecord()
        )
    with pytest.raises(CheckFailed, match=r"no session \(null\)"):
        expect_session_for(SessionAnswer(200, None), USER, CheckRecord())


def test_endpoint_statuses_below_500_are_healthy() -> None:
    record = CheckRecord()
    expect_endpoints_healthy({"csrf": EndpointStatus("/api/auth/csrf", 200, False)}, record)
    assert record.metrics == {"csrf_status": 200}


def test_sign_in_without_arguments_returns_a_client_signed_in_as_the_smoke_user() -> None:
    fake = FakeNextAuth("v5")
    with client_for(fake) as nextauth:
        client = nextauth.sign_in()
        assert nextauth.session(client).identifies(USER)


# -- which cookie is the session cookie ------------------------------------------------------------------------
def _cookies(*headers: str) -> tuple[SetCookie, ...]:
    return tuple(parse_set_cookie(h) for h in headers)


def test_the_session_cookie_is_the_one_that_is_no_helper_cookie_whatever_its_name() -> None:
    cookies = _cookies(
        "next-auth.csrf-token=abc%7Cdef; Path=/",
        "next-auth.callback-url=http%3A%2F%2Flocalhost%3A3000; Path=/",
        "next-auth.pkce.code_verifier=v; Path=/",
        "next-auth.state=s; Path=/",
        "__Secure-acme.sid.0=part-one-of-a-chunked-token; Path=/; Secure",
        "__Secure-acme.sid.1=part-two-of-a-chunked-token; Path=/; Secure",
    )
    assert [c.name for c in session_cookies(cookies)] == ["__Secure-acme.sid.0", "__Secure-acme.sid.1"]
    assert [c.name for c in session_cookies(cookies, "acme.sid")] == [
        "__Secure-acme.sid.0",
        "__Secure-acme.sid.1",
    ]
    assert session_cookies(cookies, "next-auth.session-token") == ()
    assert "part-one-of-a-chunked-token" in redactor()  # registered on arrival, custom name or not


def test_two_candidate_cookies_are_told_apart_by_session_else_none_is_guessed() -> None:
    named = _cookies("theme=dark-mode-please; Path=/", "app_session=tok-1234567890; Path=/")
    assert [c.name for c in session_cookies(named)] == ["app_session"]
    ambiguous = _cookies("theme=dark-mode-please; Path=/", "acme.sid=tok-1234567890; Path=/")
    assert session_cookies(ambiguous) == ()
    assert [c.name for c in session_cookies(ambiguous, "acme.sid")] == ["acme.sid"]


def test_the_version_behind_a_configuration_500_is_told_by_its_wording() -> None:
    v4 = '{"message":"There is a problem with the server configuration. Check the server logs for more information."}'
    assert flavor_of_server_error(v4) is V4
    assert flavor_of_server_error(v4.replace("There is", "There was")) is V5  # @auth/core's wording
    assert flavor_of_server_error("Internal Server Error") is None


@pytest.mark.parametrize("csrf_canary", [False, True])
def test_a_canary_answered_429_is_inconclusive_not_rejected(csrf_canary: bool) -> None:
    """A rate limiter in front of the sign-in (after the positive control used up the allowance) never looked
    at the credentials: an authorize() letting everyone in would hide behind it."""
    attempt = SignInAttempt(USER, 429, None, (), httpx.Client())
    control = SignInControl(SignInAttempt(USER, 200, f"{BASE}/", (), httpx.Client()))
    with pytest.raises(Inconclusive, match="answered HTTP 429, rate limited"):
        expect_rejected(attempt, "a wrong password", CheckRecord(), control, csrf_canary=csrf_canary)
