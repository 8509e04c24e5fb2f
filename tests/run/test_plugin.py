"""The plugin as users meet it: options, config errors, markers, the gate, remediation, reports, xdist."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support.project import (
    EXAMPLE_RUNBOOK,
    checks_by_name,
    run_project,
    staging_and_production_config,
    summary,
)
from tests.support.servers import LocalHTTPServer, Route
from tests.support.suite_run import write_environments

CHECKS = """
import pytest

@pytest.mark.runbook("site-down-p0", severity="P0")
def test_p0_fails():
    assert 1 == 2, "health said 503"

@pytest.mark.runbook("security-headers", severity="P3")
def test_p3_fails():
    assert False, "no Referrer-Policy"

@pytest.mark.runbook("1-deployment", severity="P1")
def test_p1_passes():
    pass
"""


# -- usage errors -------------------------------------------------------------------------------------
def test_missing_env_is_a_usage_error_listing_environments(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_checks=CHECKS)
    result = run_project(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no environment is selected*--env NAME*configures: production, staging*"])


def test_unknown_env_is_a_usage_error_with_a_suggestion(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_checks=CHECKS)
    result = run_project(pytester, "--env", "stagin")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unknown environment 'stagin' (did you mean 'staging'?)*production, staging*"]
    )


def test_unknown_config_key_names_the_nearest_spelling(pytester: pytest.Pytester) -> None:
    write_environments(pytester.path, {"staging": {"base_url": "http://x", "timout_s": 3}})
    pytester.makepyfile(test_checks=CHECKS)
    result = run_project(pytester, "--env", "staging")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown key environments.staging.timout_s; did you mean 'timeout_s'?*"])


def test_malformed_toml_is_reported_with_file_and_line(pytester: pytest.Pytester) -> None:
    (pytester.path / "opscheck.toml").write_text(
        '[environments.staging]\nbase_url = "http://x"\ntimeout_s = 1,,\n'
    )
    pytester.makepyfile(test_checks=CHECKS)
    result = run_project(pytester, "--env", "staging")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{pytester.path / 'opscheck.toml'}: invalid TOML*line 3*"])
    assert "Traceback" not in result.stderr.str()


def test_bad_gate_is_a_usage_error(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_checks=CHECKS)
    result = run_project(pytester, "--env", "staging", "--gate", "P9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gate must be one of P0, P1, P2, P3, got 'P9'*"])


def test_no_checks_collected_exits_5_and_still_writes_the_summary(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_checks=CHECKS)
    result = run_project(pytester, "--env", "staging", "-k", "matches_nothing")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    data = summary(pytester.path / "reports")
    assert data["exit_status"] == 5
    assert data["checks"] == []


def test_bad_severity_is_a_collection_error_naming_the_test(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.runbook("site-down-p0", severity="P5")
        def test_typo():
            pass
        @pytest.mark.runbook("site-down-p0", level="P1")
        def test_unknown_keyword():
            pass
        """
    )
    result = run_project(pytester, "--env", "staging")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*test_typo: runbook severity must be one of P0, P1, P2, P3, got 'P5'*",
            "*test_unknown_keyword: runbook marker: *level*",
        ]
    )


def test_markers_are_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.runbook(section, *, severity)*", "@pytest.mark.destructive*"])


# -- header and sources ------------------------------------------------------------------------------
def test_header_says_where_each_setting_came_from(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_checks=CHECKS)
    monkeypatch.setenv("OPSCHECK_GATE", "P1")
    result = run_project(pytester, "--env", "staging")
    result.stdout.fnmatch_lines(
        [
            "opscheck: environment staging (option --env), target http://127.0.0.1:9 (base_url)",
            f"opscheck: config {pytester.path / 'opscheck.toml'} (default <rootdir>/opscheck.toml)",
            "opscheck: gate P1 (env OPSCHECK_GATE), reports * (option --opscheck-reports)",
            f"opscheck: runbook {EXAMPLE_RUNBOOK} (* sections)",
        ]
    )


def test_env_and_config_come_from_environment_variables(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = staging_and_production_config(pytester)
    moved = pytester.path / "conf" / "ops.toml"
    moved.parent.mkdir()
    path.rename(moved)
    pytester.makepyfile(test_checks=CHECKS)
    monkeypatch.setenv("OPSCHECK_ENV", "staging")
    monkeypatch.setenv("OPSCHECK_CONFIG", str(moved))
    result = run_project(pytester)
    result.stdout.fnmatch_lines(
        [
            "opscheck: environment staging (env OPSCHECK_ENV)*",
            f"opscheck: config {moved} (env OPSCHECK_CONFIG)",
        ]
    )


# -- gate and outcomes ---------------------------------------------------------------------------------
def test_every_failure_fails_the_default_gate(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_checks=CHECKS)
    result = run_project(pytester, "--env", "staging")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    checks = checks_by_name(summary(pytester.path / "reports"))
    assert checks["test_p0_fails"]["outcome"] == "failed"
    assert checks["test_p0_fails"]["below_gate"] is False
    assert checks["test_p1_passes"]["outcome"] == "passed"
    result.stdout.fnmatch_lines(["FAIL: 2 check(s) at or above gate P3 failed"])


def test_failures_below_the_gate_are_reported_but_do_not_fail(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(CHECKS.replace('severity="P0"', 'severity="P2"'))
    result = run_project(pytester, "--env", "staging", "--gate", "P1")
    assert result.ret == pytest.ExitCode.OK
    data = summary(pytester.path / "reports")
    assert data["exit_status"] == 0
    assert data["gate"] == "P1"
    checks = checks_by_name(data)
    assert checks["test_p0_fails"]["below_gate"] is True
    assert checks["test_p3_fails"]["below_gate"] is True
    result.stdout.fnmatch_lines(
        ["P2  failed * *test_p0_fails", "*below the gate*", "PASS: * (2 failure(s) below*"]
    )


def test_a_failure_at_the_gate_fails_the_run(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_checks=CHECKS)
    result = run_project(pytester, "--env", "staging", "--gate", "P0")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    checks = checks_by_name(summary(pytester.path / "reports"))
    assert checks["test_p0_fails"]["below_gate"] is False
    assert checks["test_p3_fails"]["below_gate"] is True


def test_unset_variable_errors_only_the_check_that_needs_it(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester, auth={"username": "smoke", "password": "${SMOKE_PASSWORD}"})
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.runbook("authentication-issues", severity="P1")
        def test_needs_password(opscheck_env):
            opscheck_env.auth.password
        @pytest.mark.runbook("authentication-issues", severity="P1")
        def test_needs_username_only(opscheck_env):
            assert opscheck_env.auth.username == "smoke"
        """
    )
    result = run_project(pytester, "--env", "staging")
    checks = checks_by_name(summary(pytester.path / "reports"))
    assert checks["test_needs_password"]["outcome"] == "error"
    assert checks["test_needs_password"]["message"] == (
        "SMOKE_PASSWORD is not set (environments.staging.auth.password)"
    )
    assert checks["test_needs_username_only"]["outcome"] == "passed"
    assert "Traceback" not in result.stdout.str()


def test_unconfigured_section_skips_with_the_missing_key(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.runbook("database-connection-errors", severity="P0")
        def test_database(db):
            pass
        """
    )
    result = run_project(pytester, "--env", "staging", "-rs")
    result.assert_outcomes(skipped=1)
    check = summary(pytester.path / "reports")["checks"][0]
    assert check["outcome"] == "skipped"
    assert check["message"] == "[environments.staging.database] is not configured for environment 'staging'"


# -- remediation ---------------------------------------------------------------------------------------
def test_remediation_reaches_terminal_json_junit_and_allure(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_checks=CHECKS)
    result = run_project(pytester, "--env", "staging")
    out = result.stdout.str()
    assert "Runbook: Site Down (P0) [runbook]" in out
    assert "Roll back to the last known good deployment." in out
    check = checks_by_name(summary(pytester.path / "reports"))["test_p0_fails"]
    assert check["runbook_section"] == "Site Down (P0)"
    assert check["runbook_link"] == f"{EXAMPLE_RUNBOOK.as_uri()}#site-down-p0"
    assert "vercel ls --prod" in check["remediation"]
    assert check["message"].startswith("health said 503")
    junit = (pytester.path / "reports" / "junit.xml").read_text()
    assert "Runbook: Site Down (P0)" in junit
    results = [
        json.loads(p.read_text())
        for p in (pytester.path / "reports" / "allure-results").glob("*-result.json")
    ]
    failed = next(r for r in results if r["name"] == "test_p0_fails")
    labels = {(label["name"], label["value"]) for label in failed["labels"]}
    assert ("severity", "blocker") in labels
    assert ("story", "Site Down (P0)") in labels
    assert any(link["url"].endswith("#site-down-p0") for link in failed["links"])
    attachment = next(a for a in failed["attachments"] if a["name"] == "Remediation: Site Down (P0)")
    text = (pytester.path / "reports" / "allure-results" / attachment["source"]).read_text()
    assert "Roll back to the last known good deployment." in text


def test_missing_runbook_section_falls_back_to_built_in_advice(pytester: pytest.Pytester) -> None:
    team_runbook = pytester.path / "TEAM.md"
    team_runbook.write_text("# Ops\n\n## Outage\n\n- Page the on-call engineer.\n")
    write_environments(
        pytester.path,
        {
            "staging": {
                "base_url": "http://x",
                "runbook": team_runbook,
                "runbook_sections": {"site-down-p0": "Outage"},
            }
        },
    )
    pytester.makepyfile(test_checks=CHECKS)
    result = run_project(pytester, "--env", "staging")
    result.stdout.fnmatch_lines(
        ["*runbook lacks section 'security-headers' (built-in advice used*test_p3_fails*"]
    )
    checks = checks_by_name(summary(pytester.path / "reports"))
    assert checks["test_p0_fails"]["runbook_section"] == "Outage"
    assert checks["test_p0_fails"]["remediation_headline"] == "Page the on-call engineer."
    assert "built-in advice" in checks["test_p3_fails"]["remediation"]
    assert "Traceback" not in result.stdout.str()


def test_remediation_hook_is_called_for_every_failure(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_checks=CHECKS)
    pytester.makeconftest(
        """
        import json
        def pytest_opscheck_remediation(item, report, remediation):
            with open("paged.jsonl", "a") as f:
                f.write(json.dumps({"check": item.name, "severity": report.opscheck["severity"],
                                    "section": remediation.title}) + "\\n")
        """
    )
    run_project(pytester, "--env", "staging")
    paged = [json.loads(line) for line in (pytester.path / "paged.jsonl").read_text().splitlines()]
    assert sorted((p["check"], p["severity"], p["section"]) for p in paged) == [
        ("test_p0_fails", "P0", "Site Down (P0)"),
        ("test_p3_fails", "P3", "Security Headers"),
    ]


def test_a_failing_remediation_hook_warns_without_changing_the_verdict(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_checks=CHECKS)
    pytester.makeconftest(
        "def pytest_opscheck_remediation(item, report, remediation):\n    raise OSError('chat down')\n"
    )
    result = run_project(pytester, "--env", "staging")
    result.stdout.fnmatch_lines(["*pytest_opscheck_remediation failed for *test_p0_fails*chat down*"])
    result.assert_outcomes(failed=2, passed=1, warnings=2)


def test_webhook_receives_failures_at_or_above_its_severity(pytester: pytest.Pytester) -> None:
    with LocalHTTPServer({"/hook": Route(status=204)}) as server:
        staging_and_production_config(
            pytester, notify={"webhook_url": f"{server.url}/hook", "min_severity": "P1"}
        )
        pytester.makepyfile(test_checks=CHECKS)
        run_project(pytester, "--env", "staging")
        posts = [json.loads(r.body) for r in server.requests if r.method == "POST"]
    assert [p["check"] for p in posts] == ["test_checks.py::test_p0_fails"]
    assert posts[0]["severity"] == "P0"
    assert posts[0]["runbook_section"] == "Site Down (P0)"
    assert posts[0]["what_to_do"] == "Roll back to the last known good deployment."
    assert posts[0]["environment"] == "staging"


# -- safety ---------------------------------------------------------------------------------------------
DESTRUCTIVE = """
import pytest
@pytest.mark.destructive
@pytest.mark.runbook("data-recovery", severity="P2")
def test_writes():
    pass
@pytest.mark.runbook("site-down-p0", severity="P0")
def test_reads():
    pass
"""


def test_destructive_checks_are_deselected_by_default(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(DESTRUCTIVE)
    result = run_project(pytester, "--env", "staging")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*1 destructive check(s) deselected*"])


def test_destructive_checks_run_with_allow_destructive_outside_production(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(DESTRUCTIVE)
    run_project(pytester, "--env", "staging", "--allow-destructive").assert_outcomes(passed=2)


def test_allow_destructive_is_refused_for_production(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(DESTRUCTIVE)
    result = run_project(pytester, "--env", "production", "--allow-destructive")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--allow-destructive is refused*'production' has production = true*"])


def test_db_fixture_is_read_only(pytester: pytest.Pytester, pg_database: str) -> None:
    staging_and_production_config(pytester, database={"url": pg_database})
    pytester.makepyfile(
        """
        import psycopg, pytest
        @pytest.mark.runbook("database-connection-errors", severity="P0")
        def test_write_is_refused(db):
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                db.execute("CREATE TABLE intruder (id int)")
            db.rollback()
            assert db.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        """
    )
    run_project(pytester, "--env", "staging").assert_outcomes(passed=1)


# -- flaky, xdist, interruption ------------------------------------------------------------------------
FLAKY = """
import pytest
from opscheck.run.context import note_retry
@pytest.mark.runbook("site-down-p0", severity="P0")
def test_retried_then_passed():
    note_retry("GET /api/health: HTTP 503 (attempt 1)")
"""


def test_a_check_that_needed_a_retry_is_flaky_not_silently_green(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(FLAKY)
    result = run_project(pytester, "--env", "staging")
    assert result.ret == pytest.ExitCode.OK
    check = summary(pytester.path / "reports")["checks"][0]
    assert check["outcome"] == "passed"
    assert check["flaky"] is True
    result.stdout.fnmatch_lines(
        ["P0  flaky *test_retried_then_passed", "*retried: GET /api/health: HTTP 503*"]
    )


def test_fail_on_flaky_fails_the_run(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(FLAKY)
    result = run_project(pytester, "--env", "staging", "--fail-on-flaky")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    check = summary(pytester.path / "reports")["checks"][0]
    assert check["outcome"] == "failed"
    assert check["flaky"] is True
    assert check["message"].startswith("passed only after 1 retry(ies), and --fail-on-flaky is set")


def test_xdist_gives_one_complete_summary(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_checks=CHECKS + FLAKY)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--opscheck-reports",
        str(pytester.path / "reports"),
        "--env",
        "staging",
        "-n",
        "2",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    checks = checks_by_name(summary(pytester.path / "reports"))
    assert {name: (c["outcome"], c["flaky"]) for name, c in checks.items()} == {
        "test_p0_fails": ("failed", False),
        "test_p3_fails": ("failed", False),
        "test_p1_passes": ("passed", False),
        "test_retried_then_passed": ("passed", True),
    }
    assert checks["test_p0_fails"]["runbook_section"] == "Site Down (P0)"


def test_github_step_summary_gets_a_markdown_table(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_checks=CHECKS)
    step_summary = pytester.path / "step-summary.md"
    step_summary.write_text("previous step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    run_project(pytester, "--env", "staging")
    text = step_summary.read_text()
    assert text.startswith("previous step\n## ❌ opscheck · staging · gate P3")
    assert "| P0 | failed | `test_checks.py::test_p0_fails` | health said 503" in text
    assert "<details><summary>P0 test_checks.py::test_p0_fails: Roll back" in text


def test_sigterm_writes_an_interrupted_summary(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(
        """
        import pathlib, time, pytest
        @pytest.mark.runbook("site-down-p0", severity="P0")
        def test_first():
            pass
        @pytest.mark.runbook("site-down-p0", severity="P0")
        def test_slow():
            pathlib.Path("started").touch()
            time.sleep(60)
        """
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--env", "staging"]
    process = subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not (pytester.path / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        sent = time.monotonic()
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        took = time.monotonic() - sent
    finally:
        process.kill()
        process.wait()
    assert took < 5
    assert process.returncode == pytest.ExitCode.INTERRUPTED
    data = summary(pytester.path / "reports")
    assert data["interrupted"] is True
    assert checks_by_name(data)["test_first"]["outcome"] == "passed"


def test_collect_only_leaves_the_last_runs_reports_alone(pytester: pytest.Pytester) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_checks=CHECKS)
    run_project(pytester, "--env", "staging")
    reports = pytester.path / "reports"
    before = {p.name: p.read_bytes() for p in reports.iterdir() if p.is_file()}
    results_before = sorted(p.name for p in (reports / "allure-results").iterdir())
    result = run_project(pytester, "--env", "staging", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert {p.name: p.read_bytes() for p in reports.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in (reports / "allure-results").iterdir()) == results_before
    assert summary(reports)["checks"]
