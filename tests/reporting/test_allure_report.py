"""`opscheck report` end to end: real pytest runs, the real Allure 3 CLI, and the page in headless Chromium.

A small project with a failing P0 check and a restore drill runs twice (real pytest processes), then
`opscheck report` makes the HTML report; Chromium opens it from a server on 127.0.0.1 and the test reads
the rendered page: the failed check and its runbook remediation must be there. Screenshots go to the
repository's reports/ directory. Skipped, saying why, where Node.js/npm or Chromium are missing.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from opscheck.reporting.allure_html import TOOLS_DIR
from tests.support.environment import without_caller_variables
from tests.support.project import REPO
from tests.support.suite_run import write_opscheck_toml

# one worker runs the module, so its module-scoped fixture runs once (.ci/run uses --dist loadgroup)
pytestmark = pytest.mark.xdist_group("allure-report")
OPSCHECK = str(Path(sys.executable).parent / "opscheck")
REMEDIATION = "Roll back to the last known good deployment."
CHECKS = """
import os
import pytest

@pytest.mark.runbook("site-down-p0", severity="P0")
def test_health_endpoint_is_healthy(check):
    \"\"\"The health endpoint answers 200.\"\"\"
    check.metric("latency_ms", 412)
    assert False, "GET /api/health returned 503 (expected 200)"

@pytest.mark.runbook("complete-system-recovery", severity="P0")
def test_restore_drill_succeeds_within_rto(check):
    check.metric("backup_key", "backup_20260101_030000.sql.gz")
    check.metric("backup_age_hours", float(os.environ["DRILL_AGE_HOURS"]))
    check.metric("restore_seconds", float(os.environ["DRILL_SECONDS"]))
    check.metric("rpo_hours", 24)
    check.metric("rto_minutes", 120)

@pytest.mark.runbook("security-headers", severity="P3")
def test_security_header_is_set():
    pass
"""


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``command`` in ``cwd``, from the module-scoped fixture (before the autouse isolation)."""
    return subprocess.run(
        command,
        cwd=cwd,
        env=without_caller_variables(**env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@dataclass
class Generated:
    project: Path
    reports: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]

    @property
    def output(self) -> Path:
        return self.reports / "allure-report"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed to run the Allure 3 CLI (scripts/setup.sh installs them)")
    project = tmp_path_factory.mktemp("report-project")
    write_opscheck_toml(project, env="staging")
    (project / "conftest.py").write_text("")
    (project / "test_checks.py").write_text(CHECKS)
    pytest_run = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--env",
        "staging",
        "test_checks.py",
    ]
    reports = project / "reports"
    done = run(pytest_run, project, DRILL_SECONDS="1500", DRILL_AGE_HOURS="6")
    assert done.returncode == 1, done.stdout[-3000:]
    first = run([OPSCHECK, "report", "--suites", "test_checks.py"], project)
    assert first.returncode == 0, first.stdout + first.stderr
    done = run(pytest_run, project, DRILL_SECONDS="1900", DRILL_AGE_HOURS="30")
    assert done.returncode == 1, done.stdout[-3000:]
    second = run([OPSCHECK, "report", "--suites", "test_checks.py"], project)
    assert second.returncode == 0, second.stdout + second.stderr
    return Generated(project, reports, first, second)


def test_report_is_generated_with_history_chart_and_coverage(generated: Generated) -> None:
    out = generated.second.stdout
    index = generated.output / "index.html"
    assert out.strip().splitlines()[-1] == f"opscheck report: {index}"
    assert index.stat().st_size > 1_000_000  # one self-contained file: opens from disk or an artifact
    # Allure's history: one entry per run, so the second report has trends
    history = generated.reports / "allure-history.jsonl"
    assert len(history.read_text().splitlines()) == 2
    assert "this run added" in out
    # opscheck's own run history, the restore chart drawn from it, and the runbook coverage
    assert len((generated.reports / "history.jsonl").read_text().splitlines()) == 2
    assert (generated.reports / "restore-trends.png").read_bytes()[:4] == b"\x89PNG"
    coverage = (generated.reports / "runbook-coverage-staging.md").read_text()
    assert "| test_checks.py::test_health_endpoint_is_healthy |" not in coverage  # function-level rows
    assert "`test_checks.py::test_health_endpoint_is_healthy` | P0 |" in coverage
    results = json.loads((generated.output / "test-results.json").read_text())["byId"].values()
    assert {(r["name"], r["status"], r["environment"]) for r in results} == {
        ("test_health_endpoint_is_healthy", "failed", "staging"),
        ("test_restore_drill_succeeds_within_rto", "passed", "staging"),
        ("test_security_header_is_set", "passed", "staging"),
    }


def test_generating_again_does_not_count_the_run_twice(generated: Generated) -> None:
    again = run([OPSCHECK, "report", "--suites", "test_checks.py"], generated.project)
    assert again.returncode == 0, again.stderr
    assert "this run was already in it" in again.stdout
    assert len((generated.reports / "allure-history.jsonl").read_text().splitlines()) == 2


def test_without_results_or_node_the_command_says_what_to_do(tmp_path: Path) -> None:
    nothing = run([OPSCHECK, "report"], tmp_path)
    assert nothing.returncode == 2
    assert "no Allure results in" in nothing.stderr
    assert "run the checks first" in nothing.stderr
    results = tmp_path / "reports" / "allure-results"
    results.mkdir(parents=True)
    (results / "0-result.json").write_text('{"name": "test_x", "status": "passed"}')
    no_node = run([OPSCHECK, "report"], tmp_path, PATH=str(tmp_path))
    assert no_node.returncode == 2
    assert "node and npm not found" in no_node.stderr
    assert "Install Node.js 20 or newer" in no_node.stderr


# -- the page, as a person sees it ------------------------------------------------------------------------
def chromium() -> str | None:
    return next(
        (p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))), None
    )


@pytest.fixture
def served(generated: Generated) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(generated.output))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def browse(url: str, profile: Path, *action: str, expect: str = "") -> str:
    """Open ``url`` in headless Chromium (a fresh profile) and return what it printed; the SPA renders
    within the virtual time budget, which is raised while ``expect`` is not on the page yet (a loaded
    machine can take Chromium past the first budgets: once in a full CI run, 40 s was not enough)."""
    executable = chromium()
    assert executable is not None
    for budget in (15_000, 40_000, 90_000):
        done = subprocess.run(
            [
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-dev-shm-usage",
                f"--user-data-dir={profile}",
                "--window-size=1400,1800",
                f"--virtual-time-budget={budget}",
                *action,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode == 0 and expect in done.stdout:
            return done.stdout
    seen = "was not on the page" if done.returncode == 0 else f"chromium exited {done.returncode}"
    raise AssertionError(
        f"{expect!r} {seen} after a {budget} ms virtual-time budget; page ends with:\n{done.stdout[-1500:]}"
        f"\nchromium said:\n{done.stderr[-1000:]}"
    )


def test_failed_check_and_its_remediation_are_on_the_page(
    generated: Generated, served: str, tmp_path: Path
) -> None:
    if chromium() is None:
        pytest.skip("no Chromium to look at the report (Debian: apt-get install chromium)")
    failed = next(
        r["id"]
        for r in json.loads((generated.output / "test-results.json").read_text())["byId"].values()
        if r["status"] == "failed"
    )
    page = browse(
        f"{served}#/{failed}", tmp_path / "p1", "--dump-dom", expect="test_health_endpoint_is_healthy"
    )
    assert "GET /api/health returned 503 (expected 200)" in page
    assert "If this check fails: Site Down (P0)" in page
    assert REMEDIATION in page
    overview = browse(served, tmp_path / "p2", "--dump-dom", expect="test_health_endpoint_is_healthy")
    assert "opscheck · staging" in overview
    assert "FAIL: 1 failed, 2 passed · gate P3" in overview  # the run's verdict, in the report's metadata
    attachments = browse(
        f"{served}#globalAttachments", tmp_path / "p3", "--dump-dom", expect="Runbook coverage"
    )
    assert "Restore drill trend: restore time vs RTO, backup age vs RPO" in attachments
    assert "Runbook coverage · staging" in attachments
    shots = REPO / "reports"
    shots.mkdir(exist_ok=True)
    for name, url in (("overview", served), ("failed-check", f"{served}#/{failed}")):
        path = shots / f"opscheck-report-{name}.png"
        path.unlink(missing_ok=True)
        browse(url, tmp_path / f"shot-{name}", f"--screenshot={path}")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_allure_cli_is_pinned_in_the_checkouts_tools_directory() -> None:
    assert TOOLS_DIR == REPO / "tools" / "allure"
    assert (TOOLS_DIR / "package-lock.json").is_file()
