"""The plugin hides what start-up and collection built from the garbage collector (``gc.freeze`` once
collection is finished, so pytest's closing collections are cheap): a reference cycle a check leaves
behind, whose finaliser raises, is still collected at the end of the run and reported by pytest as an
unraisable exception, exactly as without opscheck."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.suite_run import ENV, REPO, write_opscheck_toml

CHECK = """
import pytest

class Leaky:
    def __del__(self):
        raise RuntimeError("finaliser of a cycle left by the check")

@pytest.mark.runbook("site-down-p0", severity="P0")
def test_leaves_a_cycle():
    cycle = Leaky()
    cycle.self = cycle
"""


def test_a_cycle_left_by_a_check_is_still_collected_and_reported(tmp_path: Path) -> None:
    (tmp_path / "test_check.py").write_text(CHECK, encoding="utf-8")
    config = write_opscheck_toml(tmp_path)
    argv = [
        sys.executable, "-m", "pytest", "test_check.py", "--env", ENV, "--opscheck-config", str(config),
        "--opscheck-reports", str(tmp_path / "reports"), "-p", "no:cacheprovider",
    ]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    output = proc.stdout + proc.stderr
    assert "finaliser of a cycle left by the check" in output, output[-3000:]
    assert "PytestUnraisableExceptionWarning" in output, output[-3000:]
