#!/usr/bin/env python3
"""How long an xdist run (``-n 2``) takes to end after Ctrl-C or SIGTERM, and whether it leaves anything.

A generated project has four checks that each start a server process (``python -m http.server``) and a
temp directory in a fixture, then sleep 60 s. Once both workers are inside a check the script sends a
signal, in four ways: SIGINT or SIGTERM to the controller alone (``kill``, a CI runner cancelling a job),
or to the whole process group (Ctrl-C in a terminal; ``kill -TERM -PGID``). It measures the time from the
signal to the controller's exit and to the moment the last process of the run (workers, servers) is gone,
and checks the summary says ``"interrupted": true`` and that the run's private TMPDIR is empty.

Target (issue 14.3): every mode ends within 1 s. Each mode is repeated ``--repeat`` times (default 3),
interleaved; the median is judged. The load average is printed at start and end.

    .venv/bin/python benchmarks/interrupt.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import tomli_w

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, machine, print_machine, stats, table, verdict, write_results

sys.path.insert(0, str(REPO))
from tests.support.environment import without_caller_variables
from tests.support.processes import descendants, is_alive

TARGET_S = 1.0
MODES = {
    "SIGINT to the controller": (signal.SIGINT, False),
    "SIGTERM to the controller": (signal.SIGTERM, False),
    "Ctrl-C (SIGINT to the group)": (signal.SIGINT, True),
    "SIGTERM to the group": (signal.SIGTERM, True),
}
SUITE = """
import os, pathlib, subprocess, sys, tempfile, time
import pytest

@pytest.fixture
def server_and_scratch():
    scratch = tempfile.mkdtemp()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield scratch
    finally:
        server.terminate()
        server.wait(timeout=5)
        os.rmdir(scratch)

@pytest.mark.runbook("site-down-p0", severity="P0")
@pytest.mark.parametrize("n", range(4))
def test_sleeps(n, server_and_scratch):
    pathlib.Path(os.environ["STARTED_DIR"], str(n)).touch()
    time.sleep(60)
"""


def one_run(work: Path, signum: int, to_group: bool) -> dict[str, float | bool]:
    run = Path(tempfile.mkdtemp(prefix="run-", dir=work))
    project, started, private_tmp, reports = (run / n for n in ("project", "started", "tmp", "reports"))
    for directory in (project, started, private_tmp):
        directory.mkdir()
    (project / "test_sleepy.py").write_text(SUITE, encoding="utf-8")
    bench = {"base_url": "http://127.0.0.1:9", "runbook": str(REPO / "examples" / "RUNBOOK.md")}
    (project / "opscheck.toml").write_text(
        tomli_w.dumps({"environments": {"bench": bench}}), encoding="utf-8"
    )
    env = without_caller_variables(TMPDIR=str(private_tmp), STARTED_DIR=str(started))
    argv = [
        sys.executable, "-m", "pytest", "test_sleepy.py", "-n", "2", "--env", "bench",
        "--opscheck-config", str(project / "opscheck.toml"), "--opscheck-reports", str(reports), "-p", "no:cacheprovider", "--basetemp", str(run / "basetemp"),
    ]  # fmt: skip
    with (run / "run.log").open("wb") as log:
        proc = subprocess.Popen(
            argv, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while len(list(started.iterdir())) < 2:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the checks never started:\n{(run / 'run.log').read_text()[-2000:]}")
            time.sleep(0.02)
        processes = set(descendants(proc.pid))
        signalled = time.monotonic()
        if to_group:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            log = (run / "run.log").read_text()[-3000:]
            raise RuntimeError(f"still running 60 s after the signal:\n{log}") from None
        exited = time.monotonic() - signalled
        while any(is_alive(pid) for pid in processes) and time.monotonic() - signalled < 30:
            time.sleep(0.005)
        all_gone = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    summary = json.loads((reports / "opscheck-summary.json").read_text(encoding="utf-8"))
    return {
        "exit_s": exited,
        "all_gone_s": all_gone,
        "interrupted": summary.get("interrupted") is True,
        "left_nothing": not any(is_alive(pid) for pid in processes) and not any(private_tmp.iterdir()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode (default 3)")
    args = parser.parse_args(argv)
    # started in the background by a shell, this process (and so each run) would ignore SIGINT
    signal.signal(signal.SIGINT, signal.default_int_handler)
    info = machine()
    print_machine(info)
    runs: dict[str, list[dict[str, float | bool]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="opscheck-bench-interrupt-") as tmp:
        for rep in range(1, args.repeat + 1):
            for mode, (signum, to_group) in MODES.items():
                result = one_run(Path(tmp), signum, to_group)
                runs[mode].append(result)
                print(
                    f"[rep {rep}] {mode}: exit {result['exit_s']:.2f} s, all gone {result['all_gone_s']:.2f} s"
                )
    rows = []
    per_mode = {}
    for mode, results in runs.items():
        exit_s = stats(float(r["exit_s"]) for r in results)
        gone_s = stats(float(r["all_gone_s"]) for r in results)
        clean = all(r["interrupted"] and r["left_nothing"] for r in results)
        per_mode[mode] = {"exit_s": exit_s, "all_gone_s": gone_s, "interrupted_and_clean": clean}
        rows.append(
            [mode, f"{exit_s['median']:.2f}", f"{gone_s['median']:.2f}", f"{gone_s['max']:.2f}", clean]
        )
    met = all(m["all_gone_s"]["median"] <= TARGET_S and m["interrupted_and_clean"] for m in per_mode.values())
    results = {
        "benchmark": "interrupt",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "repeat": args.repeat,
        "modes": per_mode,
        "target_s": TARGET_S,
        "target_met": met,
    }
    print(f"\n== seconds from the signal, median of {args.repeat} (xdist -n 2, checks sleeping)")
    print(table(["signal", "controller exit", "last process gone", "max", "interrupted + clean"], rows))
    print(
        f"\ntarget: every mode ends within {TARGET_S:g} s: {verdict(met)} "
        f"(load average {info['loadavg_at_start']} at start, {results['loadavg_at_end']} at end)"
    )
    out = write_results("interrupt", results)
    print(f"\nresults written to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
