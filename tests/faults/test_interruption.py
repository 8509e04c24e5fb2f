"""SIGINT and SIGTERM during an xdist run (``-n 2``): within ``PROMPT_S`` of the signal the run has exited,
the summary JSON says ``"interrupted": true``, and nothing of the run is left: no worker, no server
process, no temp directory. The signal goes to the controller alone (``kill``, a CI runner cancelling a
job) or, like Ctrl-C in a terminal, to the whole process group (so a worker may hear it twice: from the
terminal and forwarded by the controller).

The suite's checks each start a server process (a Python ``http.server`` whose command line carries the
run's unique marker) and make a temp directory in a fixture, then sleep. The run gets a private ``TMPDIR``
that must be empty afterwards; every process that descended from the run, and every process whose command
line holds the marker, must be gone. (SIGTERM during a restore drill and during ``opscheck demo`` are
covered by tests/restore/test_restore_suite.py and tests/demo/test_demo.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import descendants, kill_session, process_table, signal_and_wait
from tests.support.suite_run import ENV, REPO, write_opscheck_toml

#: the run (controller, workers, their servers and directories) must be gone this long after the signal
PROMPT_S = 1.0
#: what is left after the signal is ~0.1 s of CPU per process (teardown, reports, interpreter exit); on a
#: machine with more runnable processes than cores each gets a share of one, so the bound grows with the
#: load average per core, up to this factor (10 s of xdist's exit timeout stays far outside it)
MAX_LOAD_FACTOR = 3.0


def _bound_s() -> float:
    per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    return PROMPT_S * min(MAX_LOAD_FACTOR, max(1.0, per_core))


SLEEPY_SUITE = """
import os, pathlib, subprocess, sys, tempfile, time
import pytest

SERVER = "import http.server, sys; http.server.ThreadingHTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler).serve_forever()"


@pytest.fixture
def server_and_scratch():
    scratch = tempfile.mkdtemp(prefix="sleepy-scratch-")
    server = subprocess.Popen([sys.executable, "-c", SERVER, os.environ["RUN_MARKER"]])
    try:
        yield scratch
    finally:
        server.terminate()
        server.wait(timeout=5)
        for entry in pathlib.Path(scratch).iterdir():
            entry.unlink()
        os.rmdir(scratch)


def sleep_in(name, scratch):
    (pathlib.Path(scratch) / "work").write_text(name)
    pathlib.Path(os.environ["STARTED_DIR"], name).touch()
    time.sleep(60)


@pytest.mark.runbook("site-down-p0", severity="P0")
@pytest.mark.parametrize("n", range(4))
def test_sleeps(n, server_and_scratch):
    sleep_in(f"sleeps-{n}", server_and_scratch)
"""


#: the controller's last cleanup sends itself a second SIGINT: it must no longer interrupt anything; and
#: opscheck's signal relay thread has ended by then
LATE_SIGNAL_CONFTEST = """
import os, signal, threading
from pathlib import Path


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        return

    def second_signal_at_the_very_end():
        try:
            signal.raise_signal(signal.SIGINT)
            outcome = "ignored"
        except KeyboardInterrupt:
            outcome = "interrupted"
        relays = [t for t in threading.enumerate() if t.name == "opscheck-signal-relay"]
        for relay in relays:
            relay.join(timeout=2)
        left = "relay-left" if any(relay.is_alive() for relay in relays) else "no-relay-left"
        Path(os.environ["LATE_SIGNAL_FILE"]).write_text(f"{outcome} {left}")

    config.add_cleanup(second_signal_at_the_very_end)  # runs after opscheck's own cleanups
"""


def _descendants(pid: int) -> dict[int, str]:
    return {child: process.command_line for child, process in descendants(pid).items()}


def _alive(pids: dict[int, str]) -> dict[int, str]:
    table = process_table()
    return {
        pid: cmd
        for pid, cmd in pids.items()
        if pid in table and table[pid].command_line == cmd and table[pid].alive
    }


def _with_marker(marker: str) -> dict[int, str]:
    return {pid: p.command_line for pid, p in process_table().items() if marker in p.command_line and p.alive}


@pytest.fixture
def private_tmpdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="opscheck-int-tmp-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize(
    ("signum", "to_group"),
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True), (signal.SIGTERM, True)],
    ids=["SIGINT-controller", "SIGTERM-controller", "Ctrl-C-process-group", "SIGTERM-process-group"],
)
def test_signal_during_an_xdist_run_ends_promptly_and_leaves_nothing(
    tmp_path: Path, private_tmpdir: Path, signum: signal.Signals, to_group: bool
) -> None:
    marker = f"opscheck-int-{uuid.uuid4().hex}"
    project = tmp_path / "project"
    started = tmp_path / "started"
    project.mkdir()
    started.mkdir()
    (project / "test_sleepy.py").write_text(SLEEPY_SUITE, encoding="utf-8")
    (project / "conftest.py").write_text(LATE_SIGNAL_CONFTEST, encoding="utf-8")
    late_signal = tmp_path / "late-signal"
    config = write_opscheck_toml(project)
    reports = tmp_path / "reports"
    env = dict(os.environ)  # without the caller's variables (tests/conftest.py)
    env.update(
        TMPDIR=str(private_tmpdir),
        RUN_MARKER=marker,
        STARTED_DIR=str(started),
        LATE_SIGNAL_FILE=str(late_signal),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(REPO),
    )
    argv = [
        sys.executable, "-m", "pytest", "test_sleepy.py", "-n", "2", "--env", ENV,
        "--opscheck-config", str(config), "--opscheck-reports", str(reports),
        "-p", "no:cacheprovider", "--basetemp", str(tmp_path / marker),  # the marker is on the controller's command line too
    ]  # fmt: skip
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while len(list(started.iterdir())) < 2:  # both workers are inside a check
            assert proc.poll() is None, f"the run ended early:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the checks never started:\n{log.read_text()[-3000:]}"
            time.sleep(0.05)
        children = _descendants(proc.pid)
        assert len(_with_marker(marker)) >= 2, "each running check has a server process"
        assert len(list(private_tmpdir.iterdir())) >= 2, "each running check has a scratch directory"

        bound = _bound_s()
        signalled = time.monotonic()
        took = signal_and_wait(proc, signum, within_s=30, log=log, to_group=to_group)
        while (_alive(children) or _with_marker(marker)) and time.monotonic() < signalled + bound:
            time.sleep(0.02)
        all_gone = time.monotonic() - signalled
    finally:
        kill_session(proc)

    output = log.read_text(errors="replace")
    print(f"the run ended {took:.2f} s after {signum.name}, its last process {all_gone:.2f} s after")
    load = os.getloadavg()[0]
    assert took < bound, (
        f"the run ended {took:.2f} s after {signum.name}, expected < {bound:.1f} s (load {load})"
    )
    assert _alive(children) == {}, f"processes left {bound:.1f} s after {signum.name}:\n{output[-3000:]}"
    assert _with_marker(marker) == {}, "a server process of the run is still running"
    assert sorted(p.name for p in private_tmpdir.iterdir()) == [], "the run left files in its TMPDIR"

    summary = json.loads((reports / "opscheck-summary.json").read_text(encoding="utf-8"))
    assert summary["interrupted"] is True, output[-3000:]
    assert summary["exit_status"] == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]
    # a check cut short by the signal is never reported as passed
    outcomes = {c["nodeid"].split("::", 1)[1]: c["outcome"] for c in summary["checks"]}
    assert "passed" not in outcomes.values(), outcomes
    # once interrupted, a further signal never cuts the rest of the cleanup short, up to the very end
    assert late_signal.read_text(encoding="utf-8") == "ignored no-relay-left", output[-3000:]
