"""``opscheck demo`` against the real embedded stack: PostgreSQL from initdb, the Next.js app from npm."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.demo_run import DEMO, demo, refused, urls_of
from tests.support.project import REPO, all_output_text, checks_by_name, summary

pytestmark = pytest.mark.xdist_group("reference-app")


def cluster_gone(state: dict[str, str]) -> bool:
    """Whether the demo's PostgreSQL (a container or a local cluster directory) is gone."""
    if state.get("provider") == "testcontainers":
        listing = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"id={state['container_id']}"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return listing.stdout.strip() == ""
    return not Path(state["tmpdir"]).exists()


def test_demo_runs_the_smoke_suite_green_and_leaves_nothing_running(tmp_path: Path) -> None:
    result = demo(tmp_path / "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS: every check at or above gate P3 passed" in result.stdout
    assert re.search(r"demo: stack up in [\d.]+ s", result.stdout)
    assert re.search(
        r"demo: suites smoke, restore, auth, credentials ran in [\d.]+ s; total [\d.]+ s; pytest exit status 0",
        result.stdout,
    )
    app_url, database_url = urls_of(tmp_path / "demo")
    assert refused(app_url)
    assert refused(database_url)
    if shutil.which("prometheus-pushgateway") or os.environ.get("CI"):
        pushed = re.search(
            r"demo: the Pushgateway at (http://127\.0\.0\.1:\d+) holds (\d+) opscheck series; "
            r"opscheck_last_success_timestamp_seconds \(only a fully passing suite moves it\) for: (.*)",
            result.stdout,
        )
        assert pushed, result.stdout
        assert int(pushed.group(2)) >= 10
        assert pushed.group(3).split(", ") == ["auth", "credentials", "restore", "smoke"]
        assert refused(pushed.group(1))  # stopped with the stack
    else:
        assert "demo: no Pushgateway installed, metrics not pushed" in result.stdout
    data = summary(REPO / "reports")
    assert data["environment"] == "demo"
    assert {c["outcome"] for c in data["checks"]} <= {"passed", "skipped"}
    health = checks_by_name(data)["test_health_endpoint_is_healthy"]
    assert health["outcome"] == "passed"
    assert health["metrics"]["version"] == "demo-1.0.0"


def test_an_outage_of_the_kept_stack_fails_the_gate_with_site_down_steps(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    kept = demo(workdir, "--keep")
    try:
        assert kept.returncode == 0, kept.stdout + kept.stderr
        assert f"opscheck demo --workdir {workdir.resolve()} --stop-app" in kept.stdout
        command_line = next(line for line in kept.stdout.splitlines() if "pytest suites/smoke" in line)
        assert f"--opscheck-config {workdir / 'opscheck.toml'}" in command_line
        app_url, database_url = urls_of(workdir)
        assert not refused(app_url)
        assert demo(workdir, "--stop-app").returncode == 0
        assert refused(app_url)

        reports = tmp_path / "reports"
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "suites/smoke", "--env", "demo", "--opscheck-config",
             str(workdir / "opscheck.toml"), "--opscheck-reports", str(reports), "-p", "no:cacheprovider"],
            cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        terminal = run.stdout + run.stderr
        assert run.returncode == 1, terminal
        assert (
            "P0  error     suites/smoke/test_health_endpoint_is_healthy.py::test_health_endpoint_is_healthy"
            in terminal
        )
        assert "do:   Roll back to the last known good deployment.  [Site Down (P0)]" in terminal
        assert "vercel ls --prod" in terminal  # the runbook section's commands, in the failure report

        health = checks_by_name(summary(reports))["test_health_endpoint_is_healthy"]
        assert health["outcome"] == "error"
        assert health["severity"] == "P0"
        assert health["runbook_section"] == "Site Down (P0)"
        assert "connection refused" in health["message"]
        assert "Roll back to the last known good deployment." in health["remediation"]
        assert checks_by_name(summary(reports))["test_database_answers_read_only"]["outcome"] == "passed"

        assert "Runbook: Site Down (P0)" in (reports / "junit.xml").read_text()
        results = [json.loads(p.read_text()) for p in (reports / "allure-results").glob("*-result.json")]
        allure_health = next(r for r in results if r["name"] == "test_health_endpoint_is_healthy")
        assert allure_health["status"] == "broken"
        assert any(link["url"].endswith("RUNBOOK.md#site-down-p0") for link in allure_health["links"])

        password = re.search(r"postgresql://app:([^@]+)@", database_url)
        assert password
        assert password.group(1) not in terminal + all_output_text(reports)
    finally:
        state = (
            json.loads((workdir / "stack.json").read_text()) if (workdir / "stack.json").exists() else None
        )
        stopped = demo(workdir, "--stop")
    assert stopped.returncode == 0
    assert state is not None
    assert cluster_gone(state["cluster"])
    assert refused(database_url)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_the_demo_stops_everything_promptly(tmp_path: Path, sig: signal.Signals) -> None:
    workdir = tmp_path / "demo"
    process = subprocess.Popen(
        [*DEMO, "--workdir", str(workdir), "--", "-p", "no:cacheprovider"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("demo: stack up"):
                break
        else:
            pytest.fail("the demo never reported its stack up")
        state = json.loads((workdir / "stack.json").read_text())
        app_url, database_url = urls_of(workdir)
        sent = time.monotonic()
        process.send_signal(sig)
        rest = process.communicate(timeout=60)[0]
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    print(f"the demo ended {took:.1f} s after {sig.name}")
    assert took < 20, rest
    assert process.returncode in {1, 2, 130}, rest
    assert refused(app_url)
    assert refused(database_url)
    assert cluster_gone(state["cluster"])
    assert not Path(f"/proc/{state['app']['pid']}").exists()
    assert not (workdir / "stack.json").exists()


def test_demo_without_node_says_what_to_install(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}
    result = subprocess.run(
        [*DEMO, "--workdir", str(tmp_path / "demo")],
        cwd=REPO, capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "node and npm are needed" in result.stderr
    assert "apt-get install -y nodejs npm" in result.stderr
    assert "Traceback" not in result.stderr
