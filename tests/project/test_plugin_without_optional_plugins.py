"""A run with allure-pytest or pytest's JUnit plugin switched off (``-p no:allure_pytest``,
``-p no:junitxml``, e.g. to start faster) still runs its checks and writes its summary: opscheck uses
those plugins only when they are active, and writes no Allure results without allure-pytest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.suite_run import ENV, REPO, write_opscheck_toml

CHECK = """
import pytest

@pytest.mark.runbook("site-down-p0", severity="P0")
def test_answers():
    assert 1 + 1 == 2
"""


@pytest.mark.parametrize("plugin", ["allure_pytest", "junitxml"])
def test_a_run_without_an_optional_plugin_reports_its_checks(tmp_path: Path, plugin: str) -> None:
    (tmp_path / "test_check.py").write_text(CHECK, encoding="utf-8")
    config = write_opscheck_toml(tmp_path)
    reports = tmp_path / "reports"
    argv = [
        sys.executable, "-m", "pytest", "test_check.py", "-p", f"no:{plugin}", "--env", ENV,
        "--opscheck-config", str(config), "--opscheck-reports", str(reports), "-p", "no:cacheprovider",
    ]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    output = proc.stdout + proc.stderr
    assert "INTERNALERROR" not in output, output[-3000:]
    assert proc.returncode == 0, output[-3000:]
    summary = json.loads((reports / "opscheck-summary.json").read_text(encoding="utf-8"))
    assert [c["outcome"] for c in summary["checks"]] == ["passed"], summary["checks"]
    assert (reports / "junit.xml").exists() is (plugin != "junitxml")
    assert (reports / "allure-results").exists() is (plugin != "allure_pytest")


def test_a_run_prints_no_warning_about_opscheck_itself(tmp_path: Path) -> None:
    """pytest warned "Module already imported so cannot be rewritten; opscheck.run.redaction" on every run."""
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    env = {"PATH": "/usr/bin:/bin"}  # opscheck as installed (its entry point), as users run it
    proc = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, output[-3000:]
    assert "warning" not in output.lower(), output[-3000:]
