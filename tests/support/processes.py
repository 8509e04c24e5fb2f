"""The one ``/proc`` walker of the tests: every process this user can read, its children, whether it lives;
a child Python process's own peak memory; and signalling a run the tests started in a session of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "Process",
    "descendants",
    "is_alive",
    "kill_session",
    "process_table",
    "run_with_peak_memory",
    "signal_and_wait",
]

PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    ppid: int
    argv: list[str]
    state: str  # the one-letter state of /proc/PID/stat: R, S, D, Z (zombie), ...

    @property
    def command_line(self) -> str:
        return " ".join(self.argv)

    @property
    def alive(self) -> bool:
        return self.state != "Z"


def _read(entry: Path) -> Process | None:
    try:
        stat = (entry / "stat").read_text(errors="replace")
        argv = (entry / "cmdline").read_bytes().split(b"\0")
        fields = stat.rpartition(")")[2].split()
        return Process(int(fields[1]), [a.decode(errors="replace") for a in argv if a], fields[0])
    except (OSError, IndexError, ValueError):
        return None  # ended while being read, or not ours to read


def process_table() -> dict[int, Process]:
    """pid -> :class:`Process` of every process that could be read."""
    table: dict[int, Process] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (process := _read(entry)) is not None:
            table[int(entry.name)] = process
    return table


def descendants(root: int, table: dict[int, Process] | None = None) -> dict[int, Process]:
    """Every process below ``root`` (children, their children, ...)."""
    table = process_table() if table is None else table
    found: dict[int, Process] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, process in table.items():
            if process.ppid == parent and pid not in found:
                found[pid] = process
                frontier.append(pid)
    return found


def is_alive(pid: int) -> bool:
    """True while ``pid`` is a running process (a zombie counts as gone)."""
    process = _read(PROC / str(pid))
    return process is not None and process.alive


# VmHWM: the child's own peak. ru_maxrss would also count the peak of the (large) pytest worker it was
# forked from, which Linux carries across exec
_PEAK_MEMORY_REPORT = """
with open("/proc/self/status") as _status:
    _peak_kb = next(int(line.split()[1]) for line in _status if line.startswith("VmHWM:"))
print(json.dumps({**seen, "peak_mb": _peak_kb / 1024}))
"""


def run_with_peak_memory(script: str, *args: str, cwd: Path, timeout_s: float = 180) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter (``sys.argv[1:]`` is ``args``; ``json`` is imported); it leaves
    what it saw in a dict ``seen``. Returns ``seen`` plus ``peak_mb``, the child's own peak RSS in MB."""
    source = "import json\n" + textwrap.dedent(script) + _PEAK_MEMORY_REPORT
    run = subprocess.run(
        [sys.executable, "-c", source, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=cwd,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return seen


def signal_and_wait(
    proc: subprocess.Popen[bytes],
    signum: signal.Signals,
    *,
    within_s: float,
    log: Path,
    to_group: bool = False,
) -> float:
    """Send ``signum`` to ``proc`` (to its whole process group with ``to_group``, as a terminal's Ctrl-C does)
    and return the seconds until it exited; fails the test, with the tail of ``log``, if it still runs
    ``within_s`` after."""
    signalled = time.monotonic()
    if to_group:
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    try:
        proc.wait(timeout=within_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {within_s:g} s after {signum.name}:\n{log.read_text()[-3000:]}")
    return time.monotonic() - signalled


def kill_session(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process group of ``proc`` (started with ``start_new_session``) if it still runs."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
