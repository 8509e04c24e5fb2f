"""The auth suite against a real local HTTP server that answers like NextAuth, one answer changed per test:
what a WAF in front of the app, a crashing sign-out or an ``error=Configuration`` redirect looks like from
outside, and an app whose cookie names do not tell its version (``auth.flavor`` then does)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from opscheck.auth import flavors
from opscheck.auth.advice import configuration_advice
from tests.support.auth_run import (
    NO_CSRF,
    SIGN_IN,
    SIGN_OUT,
    UNKNOWN_USER,
    WRONG_PASSWORD,
    assert_check,
    run_auth,
)
from tests.support.reference_apps import SMOKE_USER
from tests.support.servers import LocalHTTPServer, RecordedRequest, Route
from tests.support.suite_run import SuiteRun

CANARIES = (WRONG_PASSWORD, UNKNOWN_USER, NO_CSRF)
WAF_PAGE = Route(
    403, "<html><h1>403 Forbidden</h1>Request blocked by policy</html>", {"Content-Type": "text/html"}
)


@dataclass
class ScriptedNextAuth:
    """The ``gate`` of a :class:`LocalHTTPServer`: NextAuth's credentials flow for the smoke user.

    ``cookie_stem`` names its cookies (``next-auth`` or ``authjs``; a migrated v5 app may keep v4's names);
    ``v5_json`` answers JSON only to ``X-Auth-Return-Redirect`` (else to v4's ``json=true``). ``rejection``
    and ``sign_out`` replace NextAuth's answers; ``configuration_error`` sends even the right password to
    ``error=Configuration`` (Auth.js v5's answer when its config or authorize() throws).
    """

    password: str
    cookie_stem: str = "next-auth"
    v5_json: bool = False
    rejection: Route | None = None
    sign_out: Route | None = None
    configuration_error: bool = False
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    session: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def cookie(self, kind: str, value: str, extra: str = "") -> str:
        return f"{self.cookie_stem}.{kind}={value}; Path=/; HttpOnly; SameSite=Lax{extra}"

    def __call__(self, request: RecordedRequest) -> Route | None:
        signed_in = f"{self.cookie_stem}.session-token={self.session}" in (request.header("cookie") or "")
        action = request.path.removeprefix("/api/auth/")
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if action == "csrf":
            cookie = self.cookie("csrf-token", f"{self.token}%7C{secrets.token_hex(8)}")
            return Route(
                body={"csrfToken": self.token}, headers={"Cache-Control": "no-store", "Set-Cookie": cookie}
            )
        if action == "providers":
            return Route(body={"credentials": {"id": "credentials", "type": "credentials"}})
        if action == "session" or request.path == "/api/me":
            expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
            user = {"user": {"email": SMOKE_USER}, "expires": expires}
            if request.path == "/api/me" and not signed_in:
                return Route(401, {"error": "unauthorized"})
            return Route(body=user if signed_in else {})
        if action == "callback/credentials":
            if form.get("csrfToken") != self.token:
                return self.send(request, form, "/api/auth/signin?csrf=true")
            if self.configuration_error:
                return self.send(request, form, "/api/auth/error?error=Configuration")
            if (form.get("username"), form.get("password")) == (SMOKE_USER, self.password):
                return self.send(request, form, "/", self.cookie("session-token", self.session))
            return self.rejection or self.send(request, form, "/api/auth/error?error=CredentialsSignin")
        if action == "signout":
            cleared = self.cookie("session-token", "", "; Max-Age=0")
            return self.sign_out or self.send(request, form, "/", cleared)
        return None

    def send(self, request: RecordedRequest, form: dict[str, str], path: str, cookie: str = "") -> Route:
        """Where NextAuth sends the browser: ``{"url": ...}`` when asked its version's way, else a 302."""
        url = f"http://{request.header('host')}{path}"
        headers = {"Set-Cookie": cookie} if cookie else {}
        asked = request.header("x-auth-return-redirect") if self.v5_json else form.get("json") == "true"
        if asked:
            return Route(body={"url": url}, headers=headers)
        return Route(302, b"", {"Location": url, **headers})


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedNextAuth:
    password = f"pw-{secrets.token_urlsafe(12)}"
    monkeypatch.setenv("SMOKE_USER", SMOKE_USER)
    monkeypatch.setenv("SMOKE_PASSWORD", password)
    return ScriptedNextAuth(password)


def run_scripted(pytester: pytest.Pytester, tmp_path: Path, scripted: ScriptedNextAuth) -> SuiteRun:
    """The auth suite, in process, against ``scripted`` served on a local port."""
    with LocalHTTPServer(gate=scripted) as server:
        return run_auth(pytester, tmp_path, server.url, in_process=True)


def test_nextauths_own_rejections_pass_the_canaries_and_sign_out_passes(
    pytester: pytest.Pytester, tmp_path: Path, scripted: ScriptedNextAuth
) -> None:
    run = run_scripted(pytester, tmp_path, scripted)
    for name in (SIGN_IN, SIGN_OUT, *CANARIES):
        assert_check(run, name, "passed")


def test_a_waf_answering_403_to_a_canary_is_inconclusive_not_a_rejection(
    pytester: pytest.Pytester, tmp_path: Path, scripted: ScriptedNextAuth
) -> None:
    """A 403 from a WAF in front of the app never reached authorize(): it proves nothing about NextAuth."""
    scripted.rejection = WAF_PAGE
    run = run_scripted(pytester, tmp_path, scripted)
    assert_check(run, SIGN_IN, "passed")
    for name in (WRONG_PASSWORD, UNKNOWN_USER):
        check = assert_check(run, name, "error", severity="P0", says="a proxy or WAF")
        assert "HTTP 403" in check["message"], check
    assert_check(run, NO_CSRF, "passed")  # NextAuth's own csrf=true answer still counts


def test_a_sign_out_answering_500_fails_the_sign_out_check(
    pytester: pytest.Pytester, tmp_path: Path, scripted: ScriptedNextAuth
) -> None:
    scripted.sign_out = Route(500, "Internal Server Error")
    run = run_scripted(pytester, tmp_path, scripted)
    assert_check(run, SIGN_IN, "passed")
    assert_check(run, SIGN_OUT, "failed", severity="P2", says="HTTP 500")


def test_a_configuration_error_redirect_fails_sign_in_with_the_configuration_advice(
    pytester: pytest.Pytester, tmp_path: Path, scripted: ScriptedNextAuth
) -> None:
    """Auth.js v5 answers a configuration it refuses with a redirect to error=Configuration, not a 5xx."""
    scripted.configuration_error = True
    run = run_scripted(pytester, tmp_path, scripted)
    check = assert_check(run, SIGN_IN, "failed", severity="P1", says="error=Configuration")
    assert configuration_advice(flavors.V4, None) in check["remediation"], check
    for name in CANARIES:  # the positive control failed: nothing the canaries saw counts
        assert_check(run, name, "error", says="sign-in itself is broken")


def test_auth_flavor_pins_the_version_the_cookie_names_would_misread(
    pytester: pytest.Pytester, tmp_path: Path, scripted: ScriptedNextAuth
) -> None:
    """A v5 app that kept next-auth 4's cookie names (to keep sessions across the migration): with
    ``auth.flavor = "v5"`` the client asks for JSON v5's way and reports the app as Auth.js v5."""
    scripted.v5_json = True
    with LocalHTTPServer(gate=scripted) as server:
        run = run_auth(pytester, tmp_path, server.url, in_process=True, auth={"flavor": "v5"})
        callbacks = [r for r in server.requests if r.path.endswith("/callback/credentials")]
    assert run.check(SIGN_IN).metrics["nextauth"] == "Auth.js v5"
    assert callbacks
    assert all(r.header("x-auth-return-redirect") == "1" for r in callbacks)
    assert all(b"json=true" not in r.body for r in callbacks)
