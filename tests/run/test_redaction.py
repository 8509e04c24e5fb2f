"""The secret canary: plant unique secrets, make checks fail in every way that would print them, then
scan every output channel for them: terminal, JUnit, summary, log file, Allure results, step summary and
the ``--debug`` trace. Zero occurrences, in raw, URL-encoded and base64 form (at every alignment), and no
fragment of eight characters or more either (a secret cut in two by a truncating formatter, or the tail
of a password a URL parser misread)."""

from __future__ import annotations

import base64
import math
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.project import REPO, all_output_text, summary
from tests.support.servers import LocalHTTPServer, Route, closed_port
from tests.support.suite_run import write_opscheck_toml

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

@pytest.mark.runbook("authentication-issues", severity="P1")
def test_server_echoes_basic_credentials(http):
    response = http.get("/whoami")
    assert response.status_code == 200, response.text

@pytest.mark.runbook("site-down-p0", severity="P0")
def test_value_cut_by_a_truncating_repr(api_token):
    padded = "x" * 100 + api_token + "y" * 300
    assert padded == "something shorter"

@pytest.mark.runbook("incident-response-process", severity="P2")
def test_environment_in_the_locals_of_a_plain_exception():
    environment = dict(os.environ)
    raise LookupError(f"{len(environment)} variables, none of them the one wanted")

@pytest.mark.runbook("database-connection-errors", severity="P0")
def test_urls_whose_passwords_parsers_misread():
    from opscheck.secrets import mask_url
    import redis
    database, cache = os.environ["CANARY_ANALYTICS_DB"], os.environ["CANARY_QUEUE_CACHE"]
    log.warning("connecting to %s and %s", mask_url(database), mask_url(cache))
    try:
        redis.Redis.from_url(cache, socket_connect_timeout=2).ping()
    finally:
        psycopg.connect(database, connect_timeout=2)

@pytest.mark.runbook("backup-strategy", severity="P1")
def test_s3_request_signed_with_a_session_token(s3):
    logging.getLogger("botocore").setLevel(logging.DEBUG)
    s3.list_objects_v2(Bucket="canary-bucket")
"""

CONFTEST = """
import os
def pytest_opscheck_secrets(config, environment):
    return [os.environ["CANARY_TEAM_VALUE"]]
"""

#: variables whose names did not look secret to the first name rules (the canary plants a value in each)
SECRET_NAMES = ("MYSQL_PWD", "SENDGRID_APIKEY", "APIKEY", "AUTHKEY", "PASSPHRASE")

#: output modes: everything verbose; output not captured; output captured and also shown
MODES = {
    "verbose": ["-vv", "-l", "--tb=long", "-rA", "-o", "junit_logging=all"],
    "no-capture": ["-s", "-l", "--tb=long"],
    "tee-sys": ["--capture=tee-sys", "-l", "-rA"],
}

EXPECTED_OUTCOMES = {
    "test_assertion_on_the_value": "failed",
    "test_exception_text_with_a_dsn": "failed",
    "test_logged_url_with_a_token": "failed",
    "test_captured_stdout_and_encoded_forms": "failed",
    "test_failed_connection_to_a_url_with_a_password": "failed",
    "test_allure_attachment_and_property": "failed",
    "test_session_cookie_received_at_run_time": "failed",
    "test_hook_supplied_secret": "failed",
    "test_server_echoes_basic_credentials": "failed",
    "test_value_cut_by_a_truncating_repr": "failed",
    "test_environment_in_the_locals_of_a_plain_exception": "failed",
    "test_s3_request_signed_with_a_session_token": "failed",
    "test_urls_whose_passwords_parsers_misread": "failed",
}


def _aligned_base64(raw: bytes) -> list[str]:
    """The base64 of ``raw`` wherever it sits in a longer encoded value (the characters that depend
    on its bytes alone), standard and URL-safe."""
    spellings = []
    for altchars in (None, b"-_"):
        for offset in range(3):
            encoded = base64.b64encode(b"\0" * offset + raw, altchars=altchars).decode()
            spellings.append(encoded[math.ceil(8 * offset / 6) : (8 * (offset + len(raw))) // 6])
    return spellings


def _needles(value: str) -> set[str]:
    """What must not appear: the value's forms, and every run of 8 of its characters."""
    raw = value.encode()
    forms = {value, quote(value, safe=""), base64.b64encode(raw).decode().rstrip("="), *_aligned_base64(raw)}
    return forms | {value[i : i + 8] for i in range(len(value) - 7)}


def _canaries() -> dict[str, str]:
    canaries = {
        "db_password": "dbpw-" + secrets.token_hex(8),
        "redis_password": "rdpw-" + secrets.token_hex(8),
        # passwords with / ? and # that URL parsers misread, in URLs whose variable names say nothing
        "odd_db_password": f"odpw/{secrets.token_hex(6)}?{secrets.token_hex(6)}#{secrets.token_hex(6)}",
        "odd_redis_password": f"orpw?{secrets.token_hex(6)}/{secrets.token_hex(6)}#{secrets.token_hex(6)}",
        "smoke_password": "smokepw-" + secrets.token_hex(8),
        "api_token": "tok-" + secrets.token_hex(10),
        "cookie": "sess-" + secrets.token_hex(12),
        "team": "team-" + secrets.token_hex(8),
        "page_token": "pgtok-" + secrets.token_hex(8),  # in a page path's query: the JUnit testcase name
        "basic_password": "basicpw-" + secrets.token_hex(8),  # base_url user info: Basic auth, httpx log
        "webhook_path": "hook-" + secrets.token_hex(10),  # the secret part of a Slack-style webhook URL
        "aws_secret_key": "awssk-" + secrets.token_hex(12),
        "aws_session_token": "FwoGZXIvYXdzE" + secrets.token_hex(16),  # shared credentials file only
    }
    canaries.update({name.lower(): f"{name.lower()[:4]}-{secrets.token_hex(8)}" for name in SECRET_NAMES})
    return canaries


def _environment(canaries: dict[str, str], step_summary: Path, aws_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    credentials = aws_dir / "credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = AKIACANARY0000000000\n"
        f"aws_secret_access_key = {canaries['aws_secret_key']}\n"
        f"aws_session_token = {canaries['aws_session_token']}\n",
        encoding="utf-8",
    )
    (aws_dir / "config").write_text("[default]\nregion = us-east-1\n", encoding="utf-8")
    env.update(
        {
            "CANARY_DB_PASSWORD": canaries["db_password"],
            "CANARY_CACHE_VALUE": canaries["redis_password"],
            "CANARY_SMOKE_PASSWORD": canaries["smoke_password"],
            "CANARY_API_TOKEN": canaries["api_token"],
            "CANARY_ANALYTICS_DB": f"postgresql://app:{canaries['odd_db_password']}@127.0.0.1:{closed_port()}/app",
            "CANARY_QUEUE_CACHE": f"redis://:{canaries['odd_redis_password']}@127.0.0.1:{closed_port()}/0",
            "CANARY_TEAM_VALUE": canaries["team"],
            "CANARY_PAGE_VALUE": canaries["page_token"],
            "CANARY_BASIC_VALUE": canaries["basic_password"],
            "GITHUB_STEP_SUMMARY": str(step_summary),
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_CONFIG_FILE": str(aws_dir / "config"),
            "AWS_EC2_METADATA_DISABLED": "true",
            **{name: canaries[name.lower()] for name in SECRET_NAMES},
        }
    )
    return env


@pytest.mark.parametrize("mode", list(MODES))
def test_no_planted_secret_reaches_any_output(pytester: pytest.Pytester, mode: str) -> None:
    canaries = _canaries()
    reports = pytester.path / "reports"
    log_file = pytester.path / "run.log"
    debug_file = pytester.path / "debug.log"
    step_summary = pytester.path / "step-summary.md"
    aws_dir = pytester.mkdir("aws")
    basic = base64.b64encode(f"ops:{canaries['basic_password']}".encode()).decode()
    webhook_path = f"/services/T0CANARY/B0CANARY/{canaries['webhook_path']}"
    routes = {
        # not JSON, and the token straddles the 80th character: the health check quotes a snippet
        "/api/health": Route(status=500, body=f"<html>{'x' * 70}{canaries['api_token']} broke</html>"),
        "/login": Route(
            headers={"Set-Cookie": f"next-auth.session-token={canaries['cookie']}; Path=/; HttpOnly"}
        ),
        "/whoami": Route(status=403, body=f"forbidden for Authorization: Basic {basic}"),
        "/status": Route(status=503, body="down"),
        webhook_path: Route(body={"ok": True}),
    }
    with LocalHTTPServer(routes) as server:
        host = server.url.removeprefix("http://")
        write_opscheck_toml(
            pytester.path,
            env="staging",
            base_url=f"http://ops:${{CANARY_BASIC_VALUE}}@{host}",
            top={"timeout_s": 3, "retries": 1},
            smoke={"pages": ["/status?access_token=${CANARY_PAGE_VALUE}"], "security_headers": False},
            database={"url": f"postgresql://app:${{CANARY_DB_PASSWORD}}@127.0.0.1:{closed_port()}/app"},
            cache={"redis_url": f"redis://:${{CANARY_CACHE_VALUE}}@127.0.0.1:{closed_port()}/0"},
            auth={"username": "smoke", "password": "${CANARY_SMOKE_PASSWORD}"},
            backups={
                "location": "s3://canary-bucket/backups/",
                "s3_endpoint_url": f"http://127.0.0.1:{closed_port()}",
            },
            notify={"webhook_url": f"{server.url}{webhook_path}", "min_severity": "P3"},
        )
        pytester.makepyfile(test_leaks=LEAKY_CHECKS)
        pytester.makeconftest(CONFTEST)
        shutil.copytree(REPO / "suites" / "smoke", pytester.path / "smoke")
        command = [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--env", "staging",
            "--opscheck-reports", str(reports), *MODES[mode], f"--debug={debug_file}",
            "-o", "log_level=DEBUG", f"--log-file={log_file}", "--log-file-level=DEBUG",
            "test_leaks.py", "smoke",
        ]  # fmt: skip
        process = subprocess.run(
            command,
            check=False,
            cwd=pytester.path,
            env=_environment(canaries, step_summary, aws_dir),
            capture_output=True,
            text=True,
            timeout=240,
        )
        received = list(server.requests)

    terminal = process.stdout + process.stderr
    assert process.returncode == 1, terminal
    checks = {c["nodeid"]: c["outcome"] for c in summary(reports)["checks"]}
    leaky = {nodeid.split("::")[1]: outcome for nodeid, outcome in checks.items() if "test_leaks" in nodeid}
    assert leaky == EXPECTED_OUTCOMES
    pages = [nodeid for nodeid in checks if "test_page_answers_200" in nodeid]
    assert len(pages) == 1
    assert pages[0].startswith("smoke/test_pages_answer_ok.py::test_page_answers_200[/status?access_token=")
    assert checks["smoke/test_cache_answers_ping.py::test_cache_answers_ping"] == "error"
    # the paths were exercised: Basic auth was sent, the page was asked for, the webhook was posted to
    assert any(r.header("authorization") == f"Basic {basic}" for r in received)
    assert any(r.path == "/status" for r in received)
    assert any(r.method == "POST" and r.path == webhook_path for r in received)
    assert "***" in terminal
    assert (reports / "allure-results").is_dir()
    assert (reports / "junit.xml").is_file()
    assert debug_file.is_file()
    everything = "\n".join([terminal, all_output_text(reports, log_file, step_summary, debug_file)])
    leaks = {
        name: sorted(needle for needle in _needles(value) if needle in everything)[:3]
        for name, value in canaries.items()
    }
    assert {name: needles for name, needles in leaks.items() if needles} == {}
