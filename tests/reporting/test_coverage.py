"""Runbook coverage: binding checks to sections, and `opscheck runbook` on real collections."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from opscheck.reporting.coverage import BoundCheck, build
from opscheck.runbook import Runbook
from tests.support.project import REPO
from tests.support.suite_run import write_environments

RUNBOOK = """# Ops

## Outage

- Roll back.

### Database Down

- Restart it.

## Contacts

- oncall@example.com

## Backups

- Check the job.
"""

OPSCHECK = str(Path(sys.executable).parent / "opscheck")


def bound(name: str, slug: str | None, severity: str = "P1", destructive: bool = False) -> BoundCheck:
    return BoundCheck(f"suites/smoke/test_{name}.py::test_{name}", severity, slug, destructive)


def test_checks_bind_to_sections_by_slug_and_alias() -> None:
    coverage = build(
        "production",
        Runbook.parse(RUNBOOK),
        [
            bound("db", "database-down", "P0"),
            bound("backups", "backup-strategy"),  # aliased to this runbook's "Backups"
            bound("certs", "tls-certificates"),  # this runbook lacks it
            bound("misc", None),
        ],
        aliases={"backup-strategy": "Backups"},
    )
    rows = {row.section.title: row for row in coverage.rows}
    assert [c.function for c in rows["Database Down"].checks] == ["smoke/test_db.py::test_db"]
    assert rows["Backups"].status == "verified"
    assert rows["Outage"].status == "via subsections"
    assert rows["Ops"].status == "via subsections"
    assert rows["Contacts"].status == "not verified"
    assert [r.section.title for r in coverage.unverified] == ["Contacts"]
    assert list(coverage.missing) == ["tls-certificates"]
    assert [c.function for c in coverage.undeclared] == ["smoke/test_misc.py::test_misc"]
    assert rows["Database Down"].depth == 2


def test_markdown_and_terminal_tables_name_every_section() -> None:
    checks = [
        bound("page", "outage"),
        BoundCheck("suites/smoke/test_page.py::test_page[/login]", "P1", "outage"),
    ]
    coverage = build(
        "staging", Runbook.parse(RUNBOOK), [*checks, bound("wipe", "backups", "P2", destructive=True)]
    )
    markdown = coverage.markdown()
    assert "| &nbsp;&nbsp;Outage | ✅ verified | `smoke/test_page.py::test_page (×2)` | P1 |" in markdown
    assert "| &nbsp;&nbsp;Contacts | ❌ not verified | | |" in markdown
    assert "`smoke/test_wipe.py::test_wipe [destructive]`" in markdown
    terminal = "\n".join(coverage.terminal_lines())
    assert "2 of 5 section(s) verified by 3 check(s); 2 section(s) no check verifies" in terminal
    assert "✗ NOT VERIFIED" in terminal


def runbook_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # without the caller's variables (tests/conftest.py)
        [OPSCHECK, "runbook", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_opscheck_runbook_collects_a_project(tmp_path: Path) -> None:
    (tmp_path / "RUNBOOK.md").write_text(RUNBOOK)
    write_environments(
        tmp_path,
        {
            "staging": {
                "base_url": "http://127.0.0.1:9",
                "runbook": "RUNBOOK.md",
                "runbook_sections": {"backup-strategy": "Backups"},
            },
            "production": {"base_url": "http://127.0.0.1:9", "production": True},
        },
    )
    checks = tmp_path / "suites" / "smoke"
    checks.mkdir(parents=True)
    (checks / "test_checks.py").write_text(
        "import pytest\n\n"
        '@pytest.mark.runbook("database-down", severity="P0")\n'
        "def test_database():\n    pass\n\n"
        '@pytest.mark.runbook("backup-strategy", severity="P2")\n'
        '@pytest.mark.parametrize("n", [1, 2])\n'
        "def test_backups(n):\n    pass\n\n"
        '@pytest.mark.destructive\n@pytest.mark.runbook("outage", severity="P1")\n'
        "def test_failover():\n    pass\n\n"
        "def test_helper_is_no_check():\n    pass\n"
    )
    done = runbook_cli(tmp_path, "--markdown", "coverage.md")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "environment staging (the first of staging, production" in out
    assert "3 of 5 section(s) verified by 4 check(s); 1 section(s) no check verifies" in out
    assert "P2    smoke/test_checks.py::test_backups (×2)" in out
    assert "P1    smoke/test_checks.py::test_failover [destructive]" in out
    assert "test_helper_is_no_check" not in out
    assert "Contacts" in out
    assert "✗ NOT VERIFIED" in out
    assert not (tmp_path / "reports").exists()  # the collection wrote nothing into the project
    assert "| &nbsp;&nbsp;&nbsp;&nbsp;Database Down | ✅ verified |" in (tmp_path / "coverage.md").read_text()

    production = runbook_cli(tmp_path, "--env", "production")
    assert production.returncode == 0, production.stderr
    assert "no runbook (no runbook configured)" in production.stdout
    assert "not in the runbook: section 'database-down'" in production.stdout

    unknown = runbook_cli(tmp_path, "--env", "prod")
    assert unknown.returncode == 2
    assert "unknown environment 'prod' (did you mean 'production'?)" in unknown.stderr


def test_opscheck_runbook_on_the_shipped_suites_and_example_runbook() -> None:
    done = runbook_cli(REPO, "--opscheck-config", "examples/opscheck.toml", "--env", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    site_down = next(i for i, line in enumerate(lines) if line.strip().startswith("Site Down (P0)"))
    assert "smoke/test_health_endpoint_is_healthy.py::test_health_endpoint_is_healthy" in lines[site_down]
    assert any("Emergency Contacts" in line and "NOT VERIFIED" in line for line in lines)
    assert any("Complete System Recovery" in line and "test_restore_drill_succeeds" in line for line in lines)
