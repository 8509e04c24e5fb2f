"""Shared helpers for the benchmark scripts: machine description, timing statistics, result files.

Only the standard library is imported here, so a script's own start-up cost stays visible.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PG_BINDIR = Path("/usr/lib/postgresql")


def _first_line(cmd: Sequence[str]) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else None


def _psql() -> str | None:
    found = sorted(PG_BINDIR.glob("*/bin/psql"), key=lambda p: int(p.parent.parent.name), reverse=True)
    return str(found[0]) if found else shutil.which("psql")


def _meminfo_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        return None
    return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _git_revision() -> str | None:
    """The commit measured, with ``+dirty`` when opscheck/ or suites/ have uncommitted changes."""
    head = _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    if head is None:
        return None
    try:
        status = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "opscheck", "suites"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return head
    return head + ("+dirty" if status.strip() else "")


def machine() -> dict[str, Any]:
    """What the numbers were measured on (and which commit)."""
    psql = _psql()
    try:
        import pytest  # noqa: PLC0415 - only for its version

        pytest_version = pytest.__version__
    except ImportError:
        pytest_version = None
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "mem_gib": _meminfo_gib(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "pytest": pytest_version,
        "psql": _first_line([psql, "--version"]) if psql else None,
        "gunzip": _first_line(["gzip", "--version"]),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "git": _git_revision(),
    }


def print_machine(info: dict[str, Any]) -> None:
    print("machine:")
    for key in (
        "nproc",
        "cpu",
        "mem_gib",
        "kernel",
        "python",
        "pytest",
        "psql",
        "gunzip",
        "loadavg_at_start",
        "git",
    ):
        print(f"  {key:<17} {info.get(key)}")


def stats(values: Iterable[float]) -> dict[str, float]:
    data = sorted(values)
    return {
        "median": round(statistics.median(data), 4),
        "min": round(data[0], 4),
        "max": round(data[-1], 4),
        "runs": [round(v, 4) for v in data],
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width text table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_results(name: str, data: dict[str, Any], suffix: str = "") -> Path:
    """benchmarks/results/<name>-<YYYYMMDD-HHMMSS><suffix>.json"""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{name}-{stamp}{suffix}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    return path


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"
