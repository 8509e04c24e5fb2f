#!/usr/bin/env python3
"""Smoke gate wall time: the shipped ``suites/smoke`` against 40 slow pages, versus a sequential loop.

A local threaded HTTP server (127.0.0.1, listen backlog 128) serves 40 pages that each take 250 ms to
answer, a fast ``/`` and a fast ``/api/health``. The script writes an ``opscheck.toml`` listing the 40
pages and times, wall clock, as separate processes:

* ``python -m pytest suites/smoke --env bench --opscheck-config … -p no:cacheprovider -q``
* the floor: ``python -m pytest --collect-only`` of an empty directory, with the same plugins installed
  (opscheck, xdist, allure-pytest, anyio), run right before the gate in the same repetition
* the plain sequential baseline: one httpx client GETting the 40 pages in a loop            (≥ 10 s)
* for reference ``python -m pytest --version`` and ``python -c pass`` (the interpreter alone)

Target (issue 14.2): the gate ends within 0.5 s of the floor (the pages' 250 ms wait is inside that).
Each is repeated ``--repeat`` times (default 5); the gap is taken per repetition (gate minus the floor
measured next to it) and the median gap is judged, in wall time and in child CPU time (which moves much
less with the load of a shared machine). The load average is printed at start and end.

    .venv/bin/python benchmarks/smoke_gate.py
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, machine, print_machine, stats, table, verdict, write_results

PAGES = 40
PAGE_DELAY_S = 0.25
GAP_TARGET_S = 0.5
BASELINE_FLOOR_S = 10.0
RUN_TIMEOUT_S = 120.0
SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
VERSION = "bench-1"


# ------------------------------------------------------------------------------------------- the target


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the sequential baseline is not charged for connects
    # headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms to each
    # response on a kept-alive connection, which would inflate the sequential baseline by ~1.6 s
    disable_nagle_algorithm = True
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        status, content_type, headers = 200, "text/html; charset=utf-8", dict(SECURITY_HEADERS)
        if path == "/api/health":
            body = json.dumps({"status": "ok", "version": VERSION, "database": {"status": "ok"}}).encode()
            content_type = "application/json"
        elif path == "/" or path in self.server.pages:  # type: ignore[attr-defined]
            if path != "/":
                time.sleep(PAGE_DELAY_S)
            body = f"<!doctype html><html><head><title>{path}</title></head><body>ok</body></html>".encode()
        else:
            status, body, content_type = 404, b"not found\n", "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the gate opens ~42 connections at once; the default backlog of 5 drops SYNs

    def __init__(self, pages: set[str]) -> None:
        self.pages = pages
        super().__init__(("127.0.0.1", 0), _Handler)


class SlowSite:
    def __init__(self, pages: list[str]) -> None:
        self.server = _Server(set(pages))
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> SlowSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()


# ------------------------------------------------------------------------------------------------ runs


def write_config(directory: Path, base_url: str, pages: list[str]) -> Path:
    path = directory / "opscheck.toml"
    bench = {
        "base_url": base_url,
        "runbook": str(REPO / "examples" / "RUNBOOK.md"),
        "expected_version": VERSION,
        "timeout_s": 10,
        "smoke": {"health_path": "/api/health", "pages": pages, "max_latency_ms": 1500},
    }
    path.write_text(tomli_w.dumps({"environments": {"bench": bench}}), encoding="utf-8")
    return path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(
    cmd: list[str], cwd: Path, ok_codes: tuple[int, ...] = (0,)
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall s, child CPU s, process)."""
    cpu = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    if proc.returncode not in ok_codes:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        )
    return wall, cpu, proc


BASELINE_CODE = r"""
import sys, time, httpx
base, pages = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
with httpx.Client(base_url=base, timeout=10) as client:
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, (page, response.status_code)
print(time.perf_counter() - started)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of each measurement (default 5)")
    args = parser.parse_args(argv)

    info = machine()
    print_machine(info)
    python = sys.executable
    pages = [f"/page-{i:02d}" for i in range(1, PAGES + 1)]
    walls: dict[str, list[float]] = {
        k: []
        for k in (
            "python_c_pass",
            "pytest_version",
            "pytest_collect_empty",
            "smoke_gate",
            "baseline_process",
            "baseline_loop",
        )
    }
    cpus: dict[str, list[float]] = {"smoke_gate": [], "pytest_collect_empty": []}
    in_session: list[float] = []
    outcomes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="opscheck-bench-smoke-") as tmp, SlowSite(pages) as site:
        work = Path(tmp)
        empty = work / "empty"
        empty.mkdir()
        config = write_config(work, site.url, pages)
        reports = work / "reports"
        smoke_cmd = [
            python,
            "-m",
            "pytest",
            "suites/smoke",
            "--env",
            "bench",
            "--opscheck-config",
            str(config),
            "--opscheck-reports",
            str(reports),
            "-p",
            "no:cacheprovider",
            "-q",
        ]
        print(f"\ntarget {site.url}: {PAGES} pages x {PAGE_DELAY_S * 1000:.0f} ms, fast / and /api/health")
        print("smoke command: " + " ".join(smoke_cmd).replace(python, "python"))
        for rep in range(1, args.repeat + 1):
            wall, _, _ = timed([python, "-c", "pass"], empty)
            walls["python_c_pass"].append(wall)
            wall, _, _ = timed([python, "-m", "pytest", "--version"], empty)
            walls["pytest_version"].append(wall)
            # exit 5: no tests collected
            wall, cpu, _ = timed(
                [python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(empty)],
                empty,
                ok_codes=(5,),
            )
            walls["pytest_collect_empty"].append(wall)
            cpus["pytest_collect_empty"].append(cpu)

            wall, cpu, proc = timed(smoke_cmd, REPO)
            walls["smoke_gate"].append(wall)
            cpus["smoke_gate"].append(cpu)
            found = re.findall(r" in ([\d.]+)s", proc.stdout)
            if found:
                in_session.append(float(found[-1]))
            summary = json.loads((reports / "opscheck-summary.json").read_text(encoding="utf-8"))
            outcomes = {}
            for check in summary["checks"]:
                outcomes[check["outcome"]] = outcomes.get(check["outcome"], 0) + 1

            wall, _, proc = timed([python, "-c", BASELINE_CODE, site.url, *pages], REPO)
            walls["baseline_process"].append(wall)
            walls["baseline_loop"].append(float(proc.stdout.strip().splitlines()[-1]))
            print(
                f"[rep {rep}] smoke {walls['smoke_gate'][-1]:.2f} s, baseline loop "
                f"{walls['baseline_loop'][-1]:.2f} s, pytest --version {walls['pytest_version'][-1]:.2f} s, "
                f"collect empty {walls['pytest_collect_empty'][-1]:.2f} s",
                flush=True,
            )

    summary_stats = {name: stats(values) for name, values in walls.items()}
    smoke_median = summary_stats["smoke_gate"]["median"]
    baseline_median = summary_stats["baseline_loop"]["median"]
    pairs = zip(walls["smoke_gate"], walls["pytest_collect_empty"], strict=True)
    gap_wall = stats(gate - floor for gate, floor in pairs)
    cpu_pairs = zip(cpus["smoke_gate"], cpus["pytest_collect_empty"], strict=True)
    gap_cpu = stats(gate - floor for gate, floor in cpu_pairs)
    results = {
        "benchmark": "smoke_gate",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "setup": {
            "pages": PAGES,
            "page_delay_s": PAGE_DELAY_S,
            "repeat": args.repeat,
            "probed_paths": PAGES + 2,
            "server_backlog": _Server.request_queue_size,
        },
        "wall_s": summary_stats,
        "child_cpu_s": {name: stats(values) for name, values in cpus.items()},
        "pytest_reported_session_s": stats(in_session) if in_session else None,
        "smoke_outcomes": outcomes,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "gap_to_floor_wall_s": gap_wall,
        "gap_to_floor_cpu_s": gap_cpu,
        "targets": {"gap_to_floor_max_s": GAP_TARGET_S, "baseline_min_s": BASELINE_FLOOR_S},
        "gap_target_met": gap_wall["median"] <= GAP_TARGET_S,
        "baseline_as_expected": baseline_median >= BASELINE_FLOOR_S,
        "speedup": round(baseline_median / smoke_median, 2),
    }

    print(f"\n== wall clock, {args.repeat} runs each (seconds)")
    labels = {
        "smoke_gate": "pytest suites/smoke (40 slow pages)",
        "baseline_loop": "sequential httpx loop (loop only)",
        "baseline_process": "sequential httpx loop (whole process)",
        "pytest_version": "python -m pytest --version",
        "pytest_collect_empty": "pytest --collect-only <empty dir>",
        "python_c_pass": "python -c pass",
    }
    print(
        table(
            ["measurement", "median", "min", "max"],
            [
                [
                    labels[k],
                    f"{summary_stats[k]['median']:.3f}",
                    f"{summary_stats[k]['min']:.3f}",
                    f"{summary_stats[k]['max']:.3f}",
                ]
                for k in labels
            ],
        )
    )
    if in_session:
        print(
            f"pytest's own 'in X s' for the smoke run: median {statistics.median(in_session):.2f} s "
            f"(the rest of the wall time is interpreter + pytest/plugin start-up and teardown)"
        )
    print(
        f"child CPU time (user + sys), median: smoke gate {results['child_cpu_s']['smoke_gate']['median']:.2f} s, "
        f"collect empty dir {results['child_cpu_s']['pytest_collect_empty']['median']:.2f} s "
        "(on a loaded machine the wall time grows with this CPU time)"
    )
    print(f"smoke outcomes: {outcomes}")
    print(
        f"\ngap to the floor (gate - collect-only of an empty dir, per repetition): median "
        f"{gap_wall['median']:.2f} s wall (runs {gap_wall['runs']}), {gap_cpu['median']:.2f} s CPU"
    )
    print(
        f"target gap <= {GAP_TARGET_S:g} s: {verdict(results['gap_target_met'])} "
        f"(gate {smoke_median:.2f} s, floor {summary_stats['pytest_collect_empty']['median']:.2f} s median; "
        f"load average {info['loadavg_at_start']} at start, {results['loadavg_at_end']} at end)"
    )
    print(
        f"baseline >= {BASELINE_FLOOR_S:g} s: {'yes' if results['baseline_as_expected'] else 'NO'} "
        f"({baseline_median:.2f} s median); speed-up x{results['speedup']}"
    )
    out = write_results("smoke_gate", results)
    print(f"\nresults written to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
