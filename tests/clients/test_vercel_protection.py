"""Preview deployments behind Vercel Deployment Protection, against a local server that demands the bypass
header the way Vercel does (401, its SSO page and ``_vercel_sso_nonce`` cookie on every path without it).

Per-environment ``headers`` reach every request of every suite (smoke probes, the exposure scan, the NextAuth
client); their values never reach an output; ``--base-url`` / ``OPSCHECK_BASE_URL`` aim a run at one
deployment; and a protected deployment reached without the bypass is reported once, as a P0 error saying
how to configure the header, not as a failure per check.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from opscheck.auth.client import NextAuth
from opscheck.clients.http import OpsClient
from opscheck.clients.protection import BYPASS_HEADER, PROBE_PATH, is_protection_wall
from opscheck.config import load_config
from opscheck.secrets import redactor
from tests.support.servers import LocalHTTPServer, RecordedRequest, Route, closed_port
from tests.support.smoke_run import healthy_routes
from tests.support.suite_run import REPO, run_suite, write_opscheck_toml

SMOKE = REPO / "suites" / "smoke"
CREDENTIALS = REPO / "suites" / "credentials"
AUTH_SUITE = REPO / "suites" / "auth"
BYPASS_VARIABLE = "VERCEL_AUTOMATION_BYPASS_SECRET"
HEADERS = {BYPASS_HEADER: "${" + BYPASS_VARIABLE + "}"}

SSO_PAGE = (
    "<!doctype html><html><head><title>Authentication Required</title></head><body>"
    '<script>location.replace("https://vercel.com/sso-api?url=https%3A%2F%2Fapp-git-x.vercel.app%2F'
    '&nonce=8f1c")</script>Vercel Authentication</body></html>'
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No caller variables in; no secret this module registers in-process (bypass secret, CSRF token, cookie)
    left in the process-wide redactor for later tests."""
    redactor().clear()
    yield
    redactor().clear()


def vercel_wall(secret: str) -> Callable[[RecordedRequest], Route | None]:
    """Vercel's protection: every path answers 401 with the SSO page unless the bypass header holds ``secret``."""

    def gate(request: RecordedRequest) -> Route | None:
        if request.header(BYPASS_HEADER) == secret:
            return None
        headers = {
            "Server": "Vercel",
            "X-Vercel-Id": "fra1::abcd-1700000000000-0123456789ab",
            "Set-Cookie": "_vercel_sso_nonce=Qm9ndXNOb25jZQ; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax",
            "Content-Type": "text/html; charset=utf-8",
        }
        return Route(status=401, body=SSO_PAGE, headers=headers)

    return gate


def smoke_config(tmp_path: Path, base_url: str, **top: object) -> Path:
    return write_opscheck_toml(
        tmp_path, base_url=base_url, top={"timeout_s": 3, **top}, smoke={"pages": ["/", "/login", "/pricing"]}
    )


def failing(run_checks: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    return {name: c for name, c in run_checks.items() if c["outcome"] in ("failed", "error")}


# ============================================================================ reported once, not per check


@pytest.mark.parametrize("gate", ["P3", "P0"])
def test_protected_deployment_without_the_bypass_is_reported_once_as_p0(
    pytester: pytest.Pytester, tmp_path: Path, gate: str
) -> None:
    with LocalHTTPServer(healthy_routes(), gate=vercel_wall(secrets.token_urlsafe(24))) as site:
        run = run_suite(pytester, SMOKE, smoke_config(tmp_path, site.url), tmp_path / "r", "--gate", gate)

    assert run.ret == 1, run.output  # even gate P0 fails: nothing behind the wall was verified
    bad = failing(run.checks)
    assert len(bad) == 1, f"{sorted(bad)}\n{run.output}"
    (name, check) = next(iter(bad.items()))
    assert check["outcome"] == "error", check
    assert check["severity"] == "P0", check
    message = str(check["message"])
    assert "the deployment at" in message, message
    assert "is protected" in message, message
    assert f'configure the bypass header: headers = {{ "{BYPASS_HEADER}"' in message, message
    skipped = {
        n: c
        for n, c in run.checks.items()
        if c["outcome"] == "skipped" and "reported once" in str(c["message"])
    }
    assert len(skipped) >= 8, run.outcomes()  # health, version, every page twice, headers, maintenance ...
    assert all(name in str(c["message"]) for c in skipped.values())
    # the failure and opscheck's table, not one per check; pytest's own short summary (one line per error,
    # cut to the terminal's width except where CI is set) is left out of the count
    reported = run.result.stdout.str().split("short test summary info")[0]
    assert reported.count("is protected") <= 2, reported


def test_under_xdist_a_protected_deployment_is_detected_and_reported_once_per_run(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    env_file = tmp_path / "preview.env"
    env_file.write_text(f'AUTH_SECRET="{secrets.token_urlsafe(32)}"\n', encoding="utf-8")
    with LocalHTTPServer(healthy_routes(), gate=vercel_wall(secrets.token_urlsafe(24))) as site:
        config = write_opscheck_toml(
            tmp_path,
            base_url=site.url,
            top={"timeout_s": 3},
            smoke={"pages": ["/", "/login", "/pricing"]},
            credentials={"env_file": env_file.name},
        )
        run = run_suite(
            pytester, SMOKE, config, tmp_path / "r", str(CREDENTIALS), "-n", "2", "--dist", "load"
        )
        detections = [r for r in site.requests if r.path == PROBE_PATH]

    assert "2 workers" in run.result.stdout.str(), run.output
    assert run.ret == 1, run.output
    # the credentials suite's other checks fail on their own (variables this file does not set)
    bad = {n: c for n, c in failing(run.checks).items() if "is protected" in str(c["message"])}
    assert len(bad) == 1, f"{sorted(bad)}\n{run.output}"
    check = next(iter(bad.values()))
    assert (check["outcome"], check["severity"]) == ("error", "P0"), check
    (reporter,) = bad
    held_back = {n: c for n, c in run.checks.items() if "reported once" in str(c["message"])}
    assert held_back, run.outcomes()
    assert all(c["outcome"] == "skipped" and reporter in str(c["message"]) for c in held_back.values())
    assert len(detections) == 1, [r.path for r in site.requests]


def test_the_auth_suite_on_a_protected_deployment_reports_it_once_too(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMOKE_PASSWORD", secrets.token_urlsafe(16))
    with LocalHTTPServer(healthy_routes(), gate=vercel_wall(secrets.token_urlsafe(24))) as site:
        config = write_opscheck_toml(
            tmp_path,
            base_url=site.url,
            top={"timeout_s": 3},
            auth={
                "username": "smoke@example.com",
                "password": "${SMOKE_PASSWORD}",
                "protected_paths": ["/api/me"],
            },
        )
        run = run_suite(pytester, AUTH_SUITE, config, tmp_path / "r")

    assert run.ret == 1, run.output
    bad = failing(run.checks)
    assert len(bad) == 1, f"{sorted(bad)}\n{run.output}"
    assert "configure the bypass header" in str(next(iter(bad.values()))["message"])
    assert {c["outcome"] for n, c in run.checks.items() if n not in bad} == {"skipped"}


def test_an_apps_own_401_is_not_taken_for_deployment_protection(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    own_wall = Route(
        status=401, body="<html><title>Sign in</title></html>", headers={"Content-Type": "text/html"}
    )
    routes = healthy_routes(
        extra={"/": own_wall, "/login": own_wall, "/pricing": own_wall, "/api/health": own_wall}
    )
    with LocalHTTPServer(routes) as site:
        run = run_suite(pytester, SMOKE, smoke_config(tmp_path, site.url), tmp_path / "r")

    assert run.ret == 1
    assert len(failing(run.checks)) > 1, run.outcomes()
    assert "is protected" not in run.all_text()


# ================================================================================== the bypass header


def test_bypass_header_reaches_every_smoke_request_and_its_value_no_output(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = secrets.token_urlsafe(32)
    monkeypatch.setenv(BYPASS_VARIABLE, secret)
    with LocalHTTPServer(
        healthy_routes(extra={"/pricing": healthy_routes()["/"]}), gate=vercel_wall(secret)
    ) as site:
        run = run_suite(pytester, SMOKE, smoke_config(tmp_path, site.url, headers=HEADERS), tmp_path / "r")
        requests = site.requests

    assert run.ret == 0, run.output
    assert failing(run.checks) == {}
    assert requests
    assert all(r.header(BYPASS_HEADER) == secret for r in requests), [r.path for r in requests]
    assert {r.path for r in requests} >= {"/", "/login", "/pricing", "/api/health"}
    assert f"extra request headers: {BYPASS_HEADER} (values are secret)" in run.result.stdout.str()
    assert secret not in run.all_text()


def test_a_refused_bypass_secret_is_reported_once_saying_it_was_refused(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = secrets.token_urlsafe(32)
    monkeypatch.setenv(BYPASS_VARIABLE, stale)
    with LocalHTTPServer(healthy_routes(), gate=vercel_wall(secrets.token_urlsafe(32))) as site:
        run = run_suite(pytester, SMOKE, smoke_config(tmp_path, site.url, headers=HEADERS), tmp_path / "r")

    bad = failing(run.checks)
    assert len(bad) == 1, run.outcomes()
    message = str(next(iter(bad.values()))["message"])
    assert f"the {BYPASS_HEADER} header was sent and refused" in message, message
    assert BYPASS_VARIABLE in message
    assert stale not in run.all_text()


def test_bypass_header_reaches_the_exposure_scan_and_its_scripts(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = secrets.token_urlsafe(32)
    monkeypatch.setenv(BYPASS_VARIABLE, secret)
    page = Route(
        body='<html><script src="/_next/static/chunks/app-1.js"></script></html>',
        headers={"Content-Type": "text/html"},
    )
    routes = {
        "/": page,
        "/_next/static/chunks/app-1.js": Route(
            body="export default 1;", headers={"Content-Type": "text/javascript"}
        ),
    }
    env_file = tmp_path / "preview.env"
    env_file.write_text(f'AUTH_SECRET="{secrets.token_urlsafe(32)}"\n', encoding="utf-8")
    with LocalHTTPServer(routes, gate=vercel_wall(secret)) as site:
        config = write_opscheck_toml(
            tmp_path,
            base_url=site.url,
            top={"timeout_s": 3, "headers": HEADERS},
            smoke={"pages": ["/"]},
            credentials={"env_file": env_file.name},
        )
        run = run_suite(pytester, CREDENTIALS, config, tmp_path / "r", "-k", "exposed")
        requests = site.requests

    assert run.check("test_secrets_are_not_exposed")["outcome"] == "passed", run.output
    assert "/_next/static/chunks/app-1.js" in {r.path for r in requests}
    assert all(r.header(BYPASS_HEADER) == secret for r in requests)


def test_nextauth_and_http_clients_of_an_environment_send_its_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = secrets.token_urlsafe(32)
    monkeypatch.setenv(BYPASS_VARIABLE, secret)
    csrf = Route(
        body={"csrfToken": "a" * 64}, headers={"Set-Cookie": "authjs.csrf-token=abc%7Cdef; Path=/; HttpOnly"}
    )
    with LocalHTTPServer({"/api/auth/csrf": csrf, "/": Route(body="ok")}, gate=vercel_wall(secret)) as site:
        env = load_config(
            write_opscheck_toml(tmp_path, base_url=site.url, top={"headers": HEADERS})
        ).environment("x")
        with NextAuth.for_environment(env) as nextauth:
            answer = nextauth.csrf()
        with OpsClient.for_environment(env) as client:
            home = client.get("/")
        requests = site.requests

    assert answer.status == 200
    assert home.status_code == 200
    assert [r.header(BYPASS_HEADER) for r in requests] == [secret, secret]


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"bad header": "x"}, "is not a valid HTTP header name"),
        ({BYPASS_HEADER: 42}, f"headers.{BYPASS_HEADER} must be a string"),
        ({BYPASS_HEADER: "one\ntwo"}, "must be one line"),
    ],
)
def test_malformed_headers_are_a_config_error_that_echoes_no_value(
    pytester: pytest.Pytester, tmp_path: Path, headers: dict[str, object], says: str
) -> None:
    run = pytester.runpytest_subprocess(
        str(SMOKE),
        "--env",
        "x",
        "--opscheck-config",
        str(smoke_config(tmp_path, "http://127.0.0.1:9", headers=headers)),
        "-p",
        "no:cacheprovider",
        timeout=60,
    )
    assert run.ret == 4
    text = "\n".join(run.outlines + run.errlines)
    assert says in text
    assert "one\ntwo" not in text
    assert "Traceback" not in text


def test_an_unset_bypass_variable_errors_the_checks_that_send_it_naming_variable_and_key(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    with LocalHTTPServer(healthy_routes()) as site:
        run = run_suite(pytester, SMOKE, smoke_config(tmp_path, site.url, headers=HEADERS), tmp_path / "r")
    health = run.check("test_health_endpoint_is_healthy")
    assert health["outcome"] == "error", health
    assert f"{BYPASS_VARIABLE} is not set (environments.x.headers.{BYPASS_HEADER})" in str(health["message"])


# ======================================================================================== --base-url


def test_base_url_option_and_variable_aim_the_run_and_the_header_says_which(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = f"http://127.0.0.1:{closed_port()}"
    with LocalHTTPServer(healthy_routes(extra={"/pricing": healthy_routes()["/"]})) as site:
        url = site.url
        config = smoke_config(tmp_path, configured)
        by_option = run_suite(pytester, SMOKE, config, tmp_path / "a", "--base-url", url)
        monkeypatch.setenv("OPSCHECK_BASE_URL", url)
        by_variable = run_suite(pytester, SMOKE, config, tmp_path / "b")
        overridden = run_suite(pytester, SMOKE, config, tmp_path / "c", "--base-url", configured)

    assert by_option.ret == 0, by_option.output
    assert f"target {url} (option --base-url)" in by_option.result.stdout.str()
    assert by_variable.ret == 0, by_variable.output
    assert f"target {url} (env OPSCHECK_BASE_URL)" in by_variable.result.stdout.str()
    assert overridden.ret == 1  # the option beats the variable
    assert f"target {configured} (option --base-url)" in overridden.result.stdout.str()


def test_configured_base_url_is_shown_with_its_source(pytester: pytest.Pytester, tmp_path: Path) -> None:
    with LocalHTTPServer(healthy_routes(extra={"/pricing": healthy_routes()["/"]})) as site:
        url = site.url
        run = run_suite(pytester, SMOKE, smoke_config(tmp_path, url), tmp_path / "r")
    assert f"target {url} (base_url)" in run.result.stdout.str()


@pytest.mark.parametrize("value", ["app.example.com", "ftp://app.example.com", "https://", "http://h:port/"])
def test_a_base_url_that_is_not_an_absolute_http_url_is_a_usage_error(
    pytester: pytest.Pytester, tmp_path: Path, value: str
) -> None:
    config = smoke_config(tmp_path, "http://127.0.0.1:9")
    run = pytester.runpytest_subprocess(
        str(SMOKE),
        "--env",
        "x",
        "--opscheck-config",
        str(config),
        "--base-url",
        value,
        "-p",
        "no:cacheprovider",
        timeout=60,
    )
    assert run.ret == 4
    text = "\n".join(run.outlines + run.errlines)
    assert "option --base-url must be an http:// or https:// URL with a host" in text
    assert "Traceback" not in text


# ========================================================================================== detection


def _headers(**values: str) -> httpx.Headers:
    return httpx.Headers(list(values.items()))


@pytest.mark.parametrize(
    ("status", "headers", "text", "wall"),
    [
        (401, {"set-cookie": "_vercel_sso_nonce=abc; Path=/"}, "", True),
        (401, {}, "<a href='https://vercel.com/sso-api?url=x'>", True),
        (401, {"server": "Vercel"}, "<title>Authentication Required</title>", True),
        (302, {"location": "https://vercel.com/sso-api?url=https%3A%2F%2Fx"}, "", True),
        (401, {}, "<title>Authentication Required</title>", False),  # not served by Vercel
        (401, {"server": "Vercel"}, "<title>Sign in to Acme</title>", False),  # the app's own 401
        (200, {"set-cookie": "_vercel_sso_nonce=abc"}, "", False),
        (302, {"location": "/login"}, "", False),
    ],
)
def test_protection_wall_is_recognised_by_vercels_markers_only(
    status: int, headers: dict[str, str], text: str, wall: bool
) -> None:
    assert is_protection_wall(status, _headers(**headers), text) is wall
