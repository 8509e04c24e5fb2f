"""The secret canary: plant unique secrets, make checks fail in every way that would print them, then
scan every output channel for them. Zero occurrences, in raw, URL-encoded and base64 form."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from urllib.parse import quote

import pytest

from tests.support.project import EXAMPLE_RUNBOOK, all_output_text, summary, write_config
from tests.support.servers import LocalHTTPServer, Route, closed_port

LEAKY_CHECKS = """
import base64, logging, os
import allure, httpx, psycopg, pytest

log = logging.getLogger("app")

@pytest.fixture
def api_token():
    return os.environ["CANARY_API_TOKEN"]

@pytest.mark.runbook("authentication-issues", severity="P1")
def test_assertion_on_the_value(opscheck_env):
    password = opscheck_env.auth.password.reveal()
    assert password == "the expected password"

@pytest.mark.runbook("database-connection-errors", severity="P0")
def test_exception_text_with_a_dsn(opscheck_env):
    raise RuntimeError(f"cannot use {opscheck_env.database.url.reveal()}")

@pytest.mark.runbook("site-down-p0", severity="P0")
def test_logged_url_with_a_token(http, api_token):
    log.warning("calling %s", f"{http.base_url}api/health?token={api_token}")
    response = http.get("/api/health", params={"token": api_token})
    assert response.status_code == 200, f"{response.request.url} said {response.status_code}"

@pytest.mark.runbook("site-down-p0", severity="P0")
def test_captured_stdout_and_encoded_forms(api_token):
    print("token:", api_token)
    print("b64:", base64.b64encode(api_token.encode()).decode())
    print("urlencoded:", "x%3D" + __import__("urllib.parse").parse.quote(api_token, safe=""))
    assert False

@pytest.mark.runbook("database-connection-errors", severity="P0")
def test_failed_connection_to_a_url_with_a_password(opscheck_env):
    psycopg.connect(opscheck_env.database.url.reveal(), connect_timeout=2)

@pytest.mark.runbook("security-incident", severity="P0")
def test_allure_attachment_and_property(record_property, api_token):
    allure.attach(f"dump: {api_token}", name="debug dump")
    allure.dynamic.parameter("token", api_token, mode=allure.parameter_mode.MASKED)
    record_property("token", api_token)
    assert False, "attached"

@pytest.mark.runbook("authentication-issues", severity="P1")
def test_session_cookie_received_at_run_time(http):
    response = http.get("/login")
    cookie = response.cookies["next-auth.session-token"]
    log.info("got cookie %s", cookie)
    assert cookie == "anything else"

@pytest.mark.runbook("security-incident", severity="P0")
def test_hook_supplied_secret(opscheck_env):
    assert os.environ["CANARY_TEAM_VALUE"] == "x"
"""

CONFTEST = """
import os
def pytest_opscheck_secrets(config, environment):
    return [os.environ["CANARY_TEAM_VALUE"]]
"""


def _forms(value: str) -> list[str]:
    raw = value.encode()
    return [value, quote(value, safe=""), base64.b64encode(raw).decode().rstrip("=")]


def test_no_planted_secret_reaches_any_output(pytester: pytest.Pytester) -> None:
    canaries = {
        "db_password": "dbpw-" + secrets.token_hex(8),
        "smoke_password": "smokepw-" + secrets.token_hex(8),
        "api_token": "tok-" + secrets.token_hex(10),
        "cookie": "sess-" + secrets.token_hex(12),
        "team": "team-" + secrets.token_hex(8),
    }
    reports = pytester.path / "reports"
    log_file = pytester.path / "run.log"
    step_summary = pytester.path / "step-summary.md"
    routes = {
        "/api/health": Route(status=500, body={"status": "error"}),
        "/login": Route(
            headers={"Set-Cookie": f"next-auth.session-token={canaries['cookie']}; Path=/; HttpOnly"}
        ),
    }
    with LocalHTTPServer(routes) as server:
        write_config(
            pytester.path,
            {
                "staging": f"""
                base_url = "{server.url}"
                runbook = "{EXAMPLE_RUNBOOK}"
                timeout_s = 3
                retries = 1
                [.database]
                url = "postgresql://app:${{CANARY_DB_PASSWORD}}@127.0.0.1:{closed_port()}/app"
                [.auth]
                username = "smoke"
                password = "${{CANARY_SMOKE_PASSWORD}}"
                """
            },
        )
        pytester.makepyfile(test_leaks=LEAKY_CHECKS)
        pytester.makeconftest(CONFTEST)
        env = {
            **os.environ,
            "CANARY_DB_PASSWORD": canaries["db_password"],
            "CANARY_SMOKE_PASSWORD": canaries["smoke_password"],
            "CANARY_API_TOKEN": canaries["api_token"],
            "CANARY_TEAM_VALUE": canaries["team"],
            "GITHUB_STEP_SUMMARY": str(step_summary),
        }
        command = [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--env", "staging",
            "--opscheck-reports", str(reports),
            "-vv", "-l", "--tb=long", "-rA", "-o", "junit_logging=all", "-o", "log_level=DEBUG",
            f"--log-file={log_file}", "--log-file-level=DEBUG",
        ]  # fmt: skip
        process = subprocess.run(
            command, check=False, cwd=pytester.path, env=env, capture_output=True, text=True, timeout=120
        )

    terminal = process.stdout + process.stderr
    assert process.returncode == 1, terminal
    data = summary(reports)
    assert {c["nodeid"].split("::")[1]: c["outcome"] for c in data["checks"]} == {
        "test_assertion_on_the_value": "failed",
        "test_exception_text_with_a_dsn": "failed",
        "test_logged_url_with_a_token": "failed",
        "test_captured_stdout_and_encoded_forms": "failed",
        "test_failed_connection_to_a_url_with_a_password": "failed",
        "test_allure_attachment_and_property": "failed",
        "test_session_cookie_received_at_run_time": "failed",
        "test_hook_supplied_secret": "failed",
    }
    assert "***" in terminal
    everything = "\n".join([terminal, all_output_text(reports, log_file, step_summary)])
    assert (reports / "allure-results").is_dir()
    assert (reports / "junit.xml").is_file()
    leaks = [(name, form) for name, value in canaries.items() for form in _forms(value) if form in everything]
    assert leaks == []
