"""Every command of the README's quick start and demo sections, and every command ``opscheck demo --keep``
prints, run exactly as printed (``bash -c`` in the checkout), with the exit status the README promises.

A README line's expected exit status is 0 unless its comment says ``exits N``. The quick start's test
command is the project's own test suite (running it from inside itself would recurse): it must be, word
for word, what ``.ci/run`` runs, so CI runs it as printed.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.project import REPO, checks_by_name, summary

pytestmark = pytest.mark.xdist_group("reference-app")  # the demo's default workdir and reports/

README = REPO / "README.md"
CI_RUN = REPO / ".ci" / "run"
DEMO_WORKDIR = REPO / ".opscheck" / "demo"
COMMAND_TIMEOUT_S = 900
_FENCE = re.compile(r"```bash\n(.*?)```", re.DOTALL)
_EXITS = re.compile(r"#.*\bexits (\d+)")


@dataclass(frozen=True)
class Command:
    line: str
    expected: int

    def run(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", self.line], cwd=REPO, capture_output=True, text=True,
            timeout=COMMAND_TIMEOUT_S, check=False,
        )  # fmt: skip

    def run_ok(self) -> str:
        done = self.run()
        output = done.stdout + done.stderr
        assert done.returncode == self.expected, (
            f"`{self.line}` exited {done.returncode}, the README says {self.expected}:\n{output[-4000:]}"
        )
        return output


def _section(text: str, heading: str | None) -> str:
    """The README's text under ``heading`` (None: the quick start, before the first rule)."""
    if heading is None:
        return text.split("\n---\n", 1)[0]
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _commands(section: str) -> list[Command]:
    commands = []
    for block in _FENCE.findall(section):
        for line in block.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                match = _EXITS.search(line)
                commands.append(Command(line, int(match.group(1)) if match else 0))
    return commands


def _printed(output: str) -> tuple[str, list[str]]:
    """What ``opscheck demo --keep`` printed: the suites command, and the demo commands it names."""
    suites = [line.strip() for line in output.splitlines() if line.startswith("  cd ")]
    assert len(suites) == 1, output
    demo_commands = re.findall(r"^demo: stop [^:]+:\s+(\S.*)$", output, re.MULTILINE)
    assert len(demo_commands) == 2, output
    return suites[0], demo_commands


def _drill_seconds(reports: Path) -> set[float]:
    checks = summary(reports)["checks"]
    return {c["metrics"]["restore_seconds"] for c in checks if "restore_seconds" in c.get("metrics", {})}


def test_readme_quick_start_and_demo_commands_work_as_printed() -> None:
    text = README.read_text(encoding="utf-8")
    quick_start = _commands(_section(text, None))
    demo_section = _commands(_section(text, "## What the demo does"))
    assert len(quick_start) == 2, quick_start
    assert len(demo_section) == 4, demo_section

    # the project's test command: exactly what CI runs
    tests_command = next(c for c in quick_start if "pytest" in c.line)
    assert tests_command.line in CI_RUN.read_text(encoding="utf-8").splitlines()

    # the demo, from the quick start
    (first_demo,) = (c for c in quick_start if c is not tests_command)
    output = first_demo.run_ok()
    assert "PASS: every check at or above gate P3 passed" in output

    keep, stop_app, smoke, stop = demo_section
    assert "--keep" in keep.line
    assert "--stop-app" in stop_app.line
    assert "pytest suites/smoke" in smoke.line
    assert smoke.expected == 1
    assert "--stop" in stop.line
    try:
        kept = keep.run_ok()
        suites_line, (printed_stop_app, printed_stop) = _printed(kept)

        # the printed command, exactly as printed: green against the kept stack, with the S3 credentials
        # and the smoke user it needs
        Command(suites_line, 0).run_ok()
        reports = REPO / "reports"
        outcomes = {c["outcome"] for c in summary(reports)["checks"]}
        assert outcomes <= {"passed", "skipped"}, outcomes
        env_file = (DEMO_WORKDIR / "checks.env").read_text(encoding="utf-8")
        assert "DUMMY credentials" in env_file
        assert "AWS_SECRET_ACCESS_KEY=" in env_file

        # and on two workers: still green, and the backup restored once (one restore_seconds)
        Command(f"{suites_line} -n 2", 0).run_ok()
        assert {c["outcome"] for c in summary(reports)["checks"]} <= {"passed", "skipped"}
        assert len(_drill_seconds(reports)) == 1, _drill_seconds(reports)

        # the outage: the printed --stop-app, then the README's smoke command fails the P0 Site Down check
        assert shlex.split(printed_stop_app) == shlex.split(stop_app.line.split("#", 1)[0])
        Command(printed_stop_app, 0).run_ok()
        terminal = smoke.run_ok()
        assert (
            "P0  error     suites/smoke/test_health_endpoint_is_healthy.py::test_health_endpoint_is_healthy"
            in terminal
        )
        health = checks_by_name(summary(reports))["test_health_endpoint_is_healthy"]
        assert health["severity"] == "P0"
        assert health["runbook_section"] == "Site Down (P0)"
    finally:
        state = DEMO_WORKDIR / "stack.json"
        kept_state = json.loads(state.read_text()) if state.exists() else None
        stopped = stop.run()
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "demo: stopped the stack" in stopped.stdout
    assert shlex.split(printed_stop) == shlex.split(stop.line.split("#", 1)[0])
    assert kept_state is not None
    assert not (DEMO_WORKDIR / "stack.json").exists()
