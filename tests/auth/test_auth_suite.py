"""The shipped auth suite against the REAL reference app (Next.js 16 + next-auth 4 from npm, built once and
cached), over http and over https (behind a local TLS terminator with a test certificate, so NextAuth really
sets ``Secure`` and the ``__Secure-``/``__Host-`` prefixes).

Each fault mode of the app (``OPSCHECK_APP_FAULT``) must be caught by the check meant for it, with its
severity and runbook section, while every other check keeps its verdict; the app in normal mode passes every
check. Every run's outputs (terminal, summary JSON, junit.xml, allure-results) are scanned for the smoke
password and for every session cookie and CSRF token that went over the wire: none may appear.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpcore  # noqa: F401  (see test_smoke_suite: one httpcore for in-process and subprocess runs)
import pytest

from opscheck.auth import flavors
from opscheck.auth.advice import configuration_advice
from tests.support.auth_run import (
    ALL_CHECKS,
    ANONYMOUS,
    CANARIES,
    COOKIE_SIZE,
    CSRF,
    ENDPOINTS,
    HEALTHY_HTTP,
    HTTPONLY,
    HTTPS_ONLY,
    LOUD,
    NEED_CREDENTIALS,
    OPEN_REDIRECT,
    PROVIDERS,
    SAMESITE,
    SESSION,
    SIGN_IN,
    SIGN_OUT,
    SIGNED_IN,
    UNKNOWN_USER,
    WRONG_PASSWORD,
    V4Apps,
    assert_check,
    assert_no_leaks,
    run_auth,
    signed_in_as_smoke_user,
    write_config,
)
from tests.support.reference_apps import SMOKE_USER
from tests.support.servers import LocalHTTPServer, Route, closed_port, silent_tcp_server
from tests.support.suite_run import (
    AUTH_SUITE,
    ENV,
    write_environments,
)

pytestmark = pytest.mark.xdist_group("reference-app")

RUN_TIMEOUT_S = 120.0

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


# -- normal mode ---------------------------------------------------------------------------------------------
def test_reference_app_passes_every_check_over_http(
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
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
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
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
    fault: str, pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
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
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
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
    fault: str, pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
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
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps
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
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
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
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
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
