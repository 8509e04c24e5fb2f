"""Under xdist every worker reads the config file the controller found. A worker re-runs pytest's rootdir
detection on the same arguments, and a path among them that did not exist when the controller started
(the reports directory, which the controller creates) moved the worker's rootdir up, so a worker looked
for ``<parent>/opscheck.toml``, failed, and xdist replaced crashed workers until it gave up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.suite_run import ENV, REPO, write_opscheck_toml

CHECK = """
import pytest

@pytest.mark.runbook("site-down-p0", severity="P0")
@pytest.mark.parametrize("n", range(4))
def test_answers(n):
    assert n >= 0
"""


def test_workers_use_the_controllers_config_when_reports_go_outside_the_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_check.py").write_text(CHECK, encoding="utf-8")
    write_opscheck_toml(project)  # found as <rootdir>/opscheck.toml: no --opscheck-config
    reports = tmp_path / "reports"  # outside the project, created by the controller
    argv = [
        sys.executable, "-m", "pytest", "test_check.py", "-n", "2", "--env", ENV,
        "--opscheck-reports", str(reports), "-p", "no:cacheprovider",
    ]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        argv, cwd=project, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    output = proc.stdout + proc.stderr
    assert "crashed worker" not in output, output[-3000:]
    assert proc.returncode == 0, output[-3000:]
    summary = json.loads((reports / "opscheck-summary.json").read_text(encoding="utf-8"))
    assert sorted(c["outcome"] for c in summary["checks"]) == ["passed"] * 4, summary["checks"]
