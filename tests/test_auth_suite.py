"""The shipped auth suite against the REAL reference app (Next.js 16 + next-auth 4 from npm, built once and
cached), over http and over https (behind a local TLS terminator with a test certificate, so NextAuth really
sets ``Secure`` and the ``__Secure-``/``__Host-`` prefixes).

Each fault mode of the app (``OPSCHECK_APP_FAULT``) must be caught by the check meant for it, with its
severity and runbook section, while every other check keeps its verdict; the app in normal mode passes every
check. Every run's outputs (terminal, summary JSON, junit.xml, allure-results) are scanned for the smoke
password and for every session cookie and CSRF token that went over the wire: none may appear.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpcore  # noqa: F401  (see test_smoke_suite: one httpcore for in-process and subprocess runs)
import pytest

from opscheck.auth import flavors
from opscheck.auth.advice import configuration_advice
from tests.support.reference_apps import SMOKE_USER, V4, RunningApp
from tests.support.reference_apps import AppFleet as ReferenceApps
from tests.support.servers import LocalHTTPServer, Route, closed_port, silent_tcp_server
from tests.support.suite_run import (
    AUTH_SUITE,
    ENV,
    SuiteRun,
    run_suite,
    write_environments,
    write_opscheck_toml,
)

pytestmark = pytest.mark.xdist_group("reference-app")

SECTION = "Authentication Issues"
RUN_TIMEOUT_S = 120.0

# -- check names (test ids inside suites/auth) --------------------------------------------------------
ENDPOINTS = "test_auth_endpoints_answer_without_server_errors"
CSRF = "test_csrf_endpoint_answers_with_an_uncached_token"
PROVIDERS = "test_providers_list_every_expected_provider"
SIGN_IN = "test_smoke_user_can_sign_in"
SESSION = "test_session_names_the_smoke_user"
WRONG_PASSWORD = "test_wrong_password_is_rejected"
NO_CSRF = "test_sign_in_without_csrf_token_is_rejected"
UNKNOWN_USER = "test_unknown_user_is_rejected"
HTTPONLY = "test_auth_cookie_rule[httponly]"
SAMESITE = "test_auth_cookie_rule[samesite]"
SECURE_PREFIX = "test_auth_cookie_rule[secure-prefix]"
HOST_PREFIX = "test_auth_cookie_rule[csrf-host-prefix]"
COOKIE_SIZE = "test_auth_cookies_fit_in_4kb"
ANONYMOUS = "test_protected_path_refuses_requests_without_a_session[/api/me]"
SIGNED_IN = "test_protected_path_serves_the_signed_in_user[/api/me]"
OPEN_REDIRECT = "test_foreign_callback_url_is_not_honoured"
SIGN_OUT = "test_sign_out_clears_the_session"

ALL_CHECKS = (
    ENDPOINTS, CSRF, PROVIDERS, SIGN_IN, SESSION, WRONG_PASSWORD, NO_CSRF, UNKNOWN_USER, HTTPONLY, SAMESITE,
    SECURE_PREFIX, HOST_PREFIX, COOKIE_SIZE, ANONYMOUS, SIGNED_IN, OPEN_REDIRECT, SIGN_OUT,
)  # fmt: skip
HTTPS_ONLY = (SECURE_PREFIX, HOST_PREFIX)
#: the negative canaries: they pass only when the smoke user's own sign-in works in the same run
CANARIES = (WRONG_PASSWORD, NO_CSRF, UNKNOWN_USER)
#: checks that need the smoke user's name (all but the unknown-user canary also need the password)
NEED_CREDENTIALS = (
    SIGN_IN, SESSION, WRONG_PASSWORD, NO_CSRF, HTTPONLY, SAMESITE, COOKIE_SIZE, SIGNED_IN, OPEN_REDIRECT, SIGN_OUT
)  # fmt: skip

#: what a healthy app gives over http (the https-only cookie rules skip)
HEALTHY_HTTP = {**dict.fromkeys(ALL_CHECKS, "passed"), **dict.fromkeys(HTTPS_ONLY, "skipped")}

#: fault mode -> {check: (severity, words of its message)}: the checks meant to catch it; every other check
#: keeps its healthy verdict
FAULTS: dict[str, dict[str, tuple[str, str]]] = {
    "any-password": {
        WRONG_PASSWORD: ("P0", "ACCEPTED: HTTP 200, a session cookie"),
        UNKNOWN_USER: ("P0", "anyone can sign in this way"),
    },
    "open-protected": {ANONYMOUS: ("P0", "HTTP 200 with 76 bytes: the path serves data without a session")},
    "cookie-no-httponly": {HTTPONLY: ("P2", "saw next-auth.session-token=…; Path=/")},
    "foreign-callback": {OPEN_REDIRECT: ("P2", "another host https://opscheck-canary.invalid/after-sign-in")},
    # the classic `url.startsWith(baseUrl)`: a single foreign URL passes it, the battery does not
    "prefix-redirect": {OPEN_REDIRECT: ("P2", "host suffix http://127.0.0.1:")},
}

#: fault mode -> how the remediation of its check starts: advice for that problem, before the runbook section
FIRST_STEP = {
    "any-password": "Anyone can sign in: stop the bypass first",
    "open-protected": "Protect the path",
    "cookie-no-httponly": "Fix the cookie options",
    "foreign-callback": "Fix the redirect callback",
    "prefix-redirect": "Fix the redirect callback",
}

#: options that give redaction every chance to fail: full reports, locals, debug logs into junit
LOUD = ("-rA", "--showlocals", "--log-level=DEBUG", "-o", "junit_logging=all", "-vv")


# -- the reference app, started once per mode ----------------------------------------------------------
@dataclass
class AppFleet:
    """The v4 reference app (next-auth 4) keyed by (fault, https), from the shared harness
    (``tests/support/reference_apps.py``): each started on first use and stopped at module end."""

    apps: ReferenceApps

    def get(self, fault: str = "", *, https: bool = False) -> RunningApp:
        return self.apps.get(V4, fault, https=https)


@pytest.fixture(scope="module")
def fleet(reference_apps: ReferenceApps) -> AppFleet:
    return AppFleet(reference_apps)


# -- running the suite ------------------------------------------------------------------------------------
def write_config(
    directory: Path,
    base_url: str,
    *,
    ca_bundle: Path | None = None,
    timeout_s: float = 5,
    retries: int | None = None,
    fail_on_jwt_replay: bool | None = None,
    protected_paths: tuple[str, ...] = ("/api/me",),
    auth: dict[str, Any] | None = None,
    tables: dict[str, dict[str, Any]] | None = None,
) -> Path:
    top: dict[str, Any] = {"timeout_s": timeout_s}
    if ca_bundle is not None:
        top["ca_bundle"] = ca_bundle
    if retries is not None:
        top["retries"] = retries
    auth_table: dict[str, Any] = {
        "username": "${SMOKE_USER}",
        "password": "${SMOKE_PASSWORD}",
        "expected_providers": ["credentials"],
        "protected_paths": list(protected_paths),
        **(auth or {}),
    }
    if fail_on_jwt_replay is not None:
        auth_table["fail_on_jwt_replay"] = fail_on_jwt_replay
    return write_opscheck_toml(directory, base_url=base_url, top=top, auth=auth_table, **(tables or {}))


def run_auth(
    pytester: pytest.Pytester,
    tmp_path: Path,
    base_url: str,
    *args: str,
    name: str = "run",
    in_process: bool = False,
    **config: Any,
) -> SuiteRun:
    """Run ``suites/auth`` against ``base_url`` (in a subprocess, as CI does, unless ``in_process``)."""
    directory = tmp_path / name
    directory.mkdir()
    path = write_config(directory, base_url, **config)
    return run_suite(pytester, AUTH_SUITE, path, directory / "reports", *args, in_process=in_process)


def signed_in_as_smoke_user(monkeypatch: pytest.MonkeyPatch, app: RunningApp) -> None:
    monkeypatch.setenv("SMOKE_USER", SMOKE_USER)
    monkeypatch.setenv("SMOKE_PASSWORD", app.password)


def assert_check(
    run: SuiteRun, name: str, outcome: str, *, severity: str | None = None, says: str = ""
) -> dict[str, Any]:
    check: dict[str, Any] = run.check(name)
    context = f"{name}: {json.dumps(check, indent=1)}\n--- output ---\n{run.output}"
    assert check["outcome"] == outcome, context
    if severity is not None:
        assert check["severity"] == severity, context
    if outcome in {"failed", "error"}:
        assert check["runbook_section"] == SECTION, context
        assert check["remediation"], context
    assert says.lower() in (check["message"] or "").lower(), context
    return check


def forms(value: str) -> set[str]:
    """The spellings a secret could leak in: raw, URL-encoded, JSON-escaped, base64."""
    raw = value.encode()
    return {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


def assert_no_leaks(run: SuiteRun, app: RunningApp, *, at_least: int = 4) -> None:
    """None of the secrets of this run appears in any output, in any spelling.

    ``at_least``: how many distinct values must have been seen (password, session cookie, CSRF cookie and
    its parts, CSRF token), so a scan that found nothing to look for cannot pass.
    """
    wire = app.wire_secrets()
    assert len(wire) >= at_least, f"only {len(wire)} secret value(s) went over the wire"
    everything = run.all_text()
    leaks = sorted({value[:12] for value in wire for form in forms(value) if form in everything})
    assert leaks == [], f"secret values (first 12 chars shown) found in the outputs: {leaks}"


# -- normal mode ---------------------------------------------------------------------------------------------
def test_reference_app_passes_every_check_over_http(
    pytester: pytest.Pytester, tmp_path: Path, fleet: AppFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fleet.get()
    signed_in_as_smoke_user(monkeypatch, app)
    run = run_auth(pytester, tmp_path, app.base_url, *LOUD)
    assert run.outcomes() == HEALTHY_HTTP, run.output
    assert run.ret == 0
    for name in HTTPS_ONLY:
        assert "https deployments only" in assert_check(run, name, "skipped")["message"]
    assert run.check(CSRF).metrics["nextauth"] == "next-auth v4"
    assert run.check(SESSION).metrics["session_days"] <= 30
    sign_out = run.check(SIGN_OUT)
    assert sign_out.metrics["jwt_replay_after_sign_out"] is True
    assert any("replayed JWT" in note for note in sign_out.notes), dict(sign_out)
    assert_no_leaks(run, app)


def test_reference_app_passes_every_check_over_https_with_secure_prefixed_cookies(
    pytester: pytest.Pytester, tmp_path: Path, fleet: AppFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fleet.get(https=True)
    assert app.base_url.startswith("https://")
    signed_in_as_smoke_user(monkeypatch, app)
    run = run_auth(pytester, tmp_path, app.base_url, *LOUD, ca_bundle=app.ca_bundle)
    assert run.outcomes() == dict.fromkeys(ALL_CHECKS, "passed"), run.output
    assert run.ret == 0
    wire = app.proxy.response_bytes()
    assert b"__Secure-next-auth.session-token=" in wire
    assert b"__Host-next-auth.csrf-token=" in wire
    assert_no_leaks(run, app)


# -- fault modes -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_mode_is_caught_by_its_check(
    fault: str, pytester: pytest.Pytester, tmp_path: Path, fleet: AppFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fleet.get(fault)
    signed_in_as_smoke_user(monkeypatch, app)
    run = run_auth(pytester, tmp_path, app.base_url, *LOUD)
    caught = FAULTS[fault]
    for name, (severity, says) in caught.items():
        check = assert_check(run, name, "failed", severity=severity, says=says)
        assert check["remediation_headline"].startswith(FIRST_STEP[fault]), check
        assert "Authentication Issues [runbook]" in check["remediation"]  # the runbook section follows
    assert run.others(*caught) == {n: o for n, o in HEALTHY_HTTP.items() if n not in caught}, run.output
    assert run.ret == 1
    if fault == "prefix-redirect":
        message = run.check(OPEN_REDIRECT).message
        assert "user info http://127.0.0.1:" in message
        assert "on sign-in and sign-out" in message
        assert "another host" not in message
    if fault == "cookie-no-httponly":
        seen = run.check(HTTPONLY).message.split(", saw ")[1]
        assert "SameSite=Lax" in seen
        assert "HttpOnly" not in seen
    assert_no_leaks(run, app)


def test_missing_nextauth_secret_fails_with_remediation_naming_it(
    pytester: pytest.Pytester, tmp_path: Path, fleet: AppFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fleet.get("no-secret")
    signed_in_as_smoke_user(monkeypatch, app)
    run = run_auth(pytester, tmp_path, app.base_url, *LOUD)
    check = assert_check(run, ENDPOINTS, "failed", severity="P1", says="HTTP 500 from /api/auth/csrf")
    assert "NEXTAUTH_SECRET" in check["message"]
    assert (
        configuration_advice(flavors.V4, None) in check["remediation"]
    )  # v4's words: its 500 says "There is"
    assert "set it (`openssl rand -base64 32`) and redeploy" in (run.reports / "junit.xml").read_text()
    # the endpoint check judges the 5xx, the sign-in check its own callback; every other check that meets
    # a 5xx is inconclusive and points at the endpoint check
    assert_check(run, SIGN_IN, "failed", severity="P1", says="HTTP 500")
    for name in (
        CSRF,
        PROVIDERS,
        SESSION,
        HTTPONLY,
        SAMESITE,
        COOKIE_SIZE,
        SIGNED_IN,
        OPEN_REDIRECT,
        SIGN_OUT,
    ):
        assert_check(
            run, name, "error", says="HTTP 500 saying there is a problem with the server configuration"
        )
        assert ENDPOINTS in run.check(name).message
    # /api/me answers 500 too: it serves no data, but whether it is protected cannot be told
    assert_check(run, ANONYMOUS, "error", severity="P0", says="cannot be told")
    # nobody can sign in: a rejected wrong password proves nothing (the positive control failed)
    for name in CANARIES:
        assert_check(
            run, name, "error", severity="P0", says=f"inconclusive: sign-in itself is broken, see {SIGN_IN}"
        )
    assert run.ret == 1
    assert_no_leaks(run, app, at_least=1)  # NextAuth sets no cookie when it has no secret


@pytest.mark.parametrize("fault", ["no-secret", "config-500"])
def test_total_auth_outage_fails_a_p0_gate(
    fault: str, pytester: pytest.Pytester, tmp_path: Path, fleet: AppFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every auth endpoint answers 500 (no secret; a configuration NextAuth refuses although the secret is
    set): the P0 canaries must not pass because everything is rejected, so a P0 gate fails (no protected
    path is configured, so the canaries are the only P0 checks)."""
    app = fleet.get(fault)
    signed_in_as_smoke_user(monkeypatch, app)
    run = run_auth(pytester, tmp_path, app.base_url, "--gate", "P0", protected_paths=())
    for name in CANARIES:
        assert_check(run, name, "error", severity="P0", says="inconclusive: sign-in itself is broken")
    assert run.summary["exit_status"] == 1
    assert run.ret == 1, run.output


# -- bad input -------------------------------------------------------------------------------------------------------
def test_unset_smoke_credentials_error_the_checks_that_need_them_naming_the_variable(
    pytester: pytest.Pytester, tmp_path: Path, fleet: AppFleet
) -> None:
    app = fleet.get()  # SMOKE_USER and SMOKE_PASSWORD are unset (tests/conftest.py isolates every test)
    run = run_auth(pytester, tmp_path, app.base_url)
    user_missing = f"SMOKE_USER is not set (environments.{ENV}.auth.username)"
    # a configuration problem of the run, not of the deployment: no deployment advice (the P0 canaries too)
    for name in (*NEED_CREDENTIALS, UNKNOWN_USER):  # the unknown-user canary's positive control signs in
        check = run.check(name)
        assert (check["outcome"], check["message"]) == ("error", user_missing), check
        assert check["runbook_section"] == "Configuration of this opscheck run", check
        assert "the deployment, which was not judged" in check["remediation"], check
        assert "NEXTAUTH_SECRET" not in check["remediation"], check  # the auth section's deployment advice
    others = {n: o for n, o in HEALTHY_HTTP.items() if n not in (*NEED_CREDENTIALS, UNKNOWN_USER)}
    assert run.others(*NEED_CREDENTIALS, UNKNOWN_USER) == others, run.output
    assert set(others.values()) == {"passed", "skipped"}
    # pytest's own line says what the summary says
    counts = run.result.parseoutcomes()
    outcomes = list(run.outcomes().values())
    for word, outcome in (("errors", "error"), ("failed", "failed"), ("passed", "passed")):
        assert counts.get(word, 0) == outcomes.count(outcome), (word, counts, run.output)
    assert run.ret == 1


def test_fail_on_jwt_replay_fails_the_sign_out_check(
    pytester: pytest.Pytester, tmp_path: Path, fleet: AppFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fleet.get()
    signed_in_as_smoke_user(monkeypatch, app)
    run = run_auth(pytester, tmp_path, app.base_url, fail_on_jwt_replay=True)
    check = assert_check(run, SIGN_OUT, "failed", severity="P2", says="replayed after sign-out")
    assert any("replayed JWT" in note for note in check["notes"])
    assert run.others(SIGN_OUT) == {n: o for n, o in HEALTHY_HTTP.items() if n != SIGN_OUT}
    assert_no_leaks(run, app)


def test_base_url_that_is_not_nextauth_errors_naming_the_base_path_key(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    with LocalHTTPServer({"/": Route(body="<html>a plain site</html>")}) as site:
        run = run_auth(pytester, tmp_path, site.url, in_process=True)
    for name in (ENDPOINTS, CSRF, PROVIDERS):
        assert_check(run, name, "error", says="nothing answers like NextAuth under /api/auth")
    message = run.check(CSRF).message
    assert "HTTP 404" in message
    assert "/api/auth/csrf" in message
    assert "set auth.base_path" in message
    assert "failed" not in run.outcomes().values()  # a site that is not the app is not judged
    assert run.ret == 1


def test_unresponsive_server_costs_one_timeout_for_the_whole_suite(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMOKE_USER", SMOKE_USER)
    monkeypatch.setenv("SMOKE_PASSWORD", "irrelevant-here")
    with silent_tcp_server() as port:
        run = run_auth(pytester, tmp_path, f"http://127.0.0.1:{port}", timeout_s=1.5, in_process=True)
    outcomes = run.outcomes()
    assert {outcomes[n] for n in ALL_CHECKS if n not in HTTPS_ONLY} == {"error"}, run.output
    assert "timeout" in run.check(CSRF).message
    assert run.summary["duration_s"] < 6, run.summary["duration_s"]  # one 1.5 s timeout, not 15 of them


def test_refused_connection_errors_every_check_quickly(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMOKE_USER", SMOKE_USER)
    monkeypatch.setenv("SMOKE_PASSWORD", "irrelevant-here")
    run = run_auth(
        pytester, tmp_path, f"http://127.0.0.1:{closed_port()}", timeout_s=1.5, retries=2, in_process=True
    )
    assert {run.outcomes()[n] for n in ALL_CHECKS if n not in HTTPS_ONLY} == {"error"}, run.output
    assert "connection refused" in run.check(SIGN_IN).message
    assert run.summary["duration_s"] < 6


def test_environment_without_auth_section_skips_every_check(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    directory = tmp_path / "noauth"
    directory.mkdir()
    config = write_environments(directory, {ENV: {"base_url": f"http://127.0.0.1:{closed_port()}"}})
    reports = directory / "reports"
    result = pytester.runpytest_inprocess(
        str(AUTH_SUITE), "--env", ENV, "--opscheck-config", str(config), "--opscheck-reports", str(reports),
        "-p", "no:cacheprovider",
    )  # fmt: skip
    checks = json.loads((reports / "opscheck-summary.json").read_text())["checks"]
    assert {c["outcome"] for c in checks} == {"skipped"}
    expected = f"[environments.{ENV}.auth] is not configured for environment {ENV!r}"
    assert {c["message"] for c in checks} == {expected}, checks
    assert result.ret == 0


TEAM_CHECK = """
import pytest


@pytest.mark.runbook("authentication-issues", severity="P1")
def test_signed_in_user_sees_their_profile(nextauth, check):
    client = nextauth.sign_in()
    response = client.get("/api/me")
    check.metric("status", response.status_code)
    assert response.status_code == 200
    assert response.json()["user"]["email"] == "smoke@example.com"
"""


def test_a_teams_own_check_signs_in_with_the_nextauth_fixture(
    pytester: pytest.Pytester, tmp_path: Path, fleet: AppFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fleet.get()
    signed_in_as_smoke_user(monkeypatch, app)
    checks = pytester.mkdir("team")
    (checks / "test_profile.py").write_text(TEAM_CHECK, encoding="utf-8")
    config = write_config(tmp_path, app.base_url)
    reports = tmp_path / "reports"
    result = pytester.runpytest_subprocess(
        str(checks), "--env", ENV, "--opscheck-config", str(config), "--opscheck-reports", str(reports),
        "-p", "no:cacheprovider", timeout=RUN_TIMEOUT_S,
    )  # fmt: skip
    assert result.ret == 0, "\n".join(result.outlines[-30:])
    [check] = json.loads((reports / "opscheck-summary.json").read_text())["checks"]
    assert (check["outcome"], check["metrics"]) == ("passed", {"status": 200})
