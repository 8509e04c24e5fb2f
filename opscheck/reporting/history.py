"""``reports/history.jsonl``: one line per run, so trends survive the run that produced them.

The plugin appends a line at the end of every run in which a check ran: when, against which environment
and config, the verdict, the counts, and the restore drill's metrics when it ran. CI keeps the file
between runs (a cache), ``opscheck report`` draws restore time and backup age against RTO and RPO from
it, and an auditor asking "when did we last test a restore?" reads the answer in one line of ``grep``.
Every line passes the redactor before it is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from opscheck.run.results import RunSummary
from opscheck.secrets import redactor

__all__ = ["RESTORE_METRICS", "Run", "append_run", "read_runs", "run_line"]

#: the restore drill's metrics a history line keeps (see the contract's summary JSON), each with its unit
#: as the reports show it (the Allure results list them as parameters)
RESTORE_METRICS: Final[Mapping[str, str]] = {
    "backup_key": "",
    "backup_age_hours": " h",
    "backup_bytes": " bytes",
    "restore_seconds": " s",
    "restore_mb_per_s": " MB/s",
    "rpo_hours": " h",
    "rto_minutes": " min",
}
_FAILING_LIMIT = 50


def run_line(summary: RunSummary, config: Path | None = None) -> dict[str, Any]:
    """The history line of a finished run."""
    counts = summary.counts()
    decided = counts["passed"] + counts["failed"] + counts["error"]
    line: dict[str, Any] = {
        "time": summary.started_at.isoformat(timespec="seconds"),
        "environment": summary.environment,
        "gate": summary.gate,
        "exit_status": summary.exit_status,
        "interrupted": summary.interrupted,
        "duration_s": round(summary.duration_s, 3),
        "counts": counts,
        "pass_rate": round(counts["passed"] / decided, 4) if decided else None,
        "failing": sorted(c.nodeid for c in summary.checks.values() if c.failing)[:_FAILING_LIMIT],
    }
    restore: dict[str, Any] = {}
    for check in summary.checks.values():
        for key in RESTORE_METRICS:
            if key in check.metrics and key not in restore:
                restore[key] = check.metrics[key]
    if restore:
        line["restore"] = restore
    if config is not None:
        line["config"] = str(config)
    return redactor().scrub_obj(line)  # type: ignore[no-any-return]


def append_run(summary: RunSummary, path: Path, config: Path | None = None) -> bool:
    """Append the run's line to ``path``; a run in which no check ran (collect-only, nothing
    collected) adds nothing. Returns whether a line was written."""
    if not summary.checks:
        return False
    data = json.dumps(run_line(summary, config), ensure_ascii=False, default=str) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    # one write() on an O_APPEND descriptor: concurrent runs never interleave inside a line
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data.encode("utf-8"))
    finally:
        os.close(fd)
    return True


@dataclass(frozen=True)
class Run:
    """One line of a history file, parsed."""

    time: datetime
    environment: str
    data: dict[str, Any]

    @property
    def restore(self) -> dict[str, Any]:
        value = self.data.get("restore")
        return value if isinstance(value, dict) else {}

    @property
    def config(self) -> Path | None:
        value = self.data.get("config")
        return Path(value) if isinstance(value, str) and value else None


def read_runs(paths: Iterable[Path]) -> list[Run]:
    """The runs of every history file in ``paths`` (missing files are empty), oldest first, each run
    once (the same file may be reachable twice, e.g. through a matrix's merged artifacts)."""
    seen: set[tuple[str, str]] = set()
    runs: list[Run] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        for raw in text.splitlines():
            try:
                data = json.loads(raw)
                time = datetime.fromisoformat(data["time"])
                if time.tzinfo is None:
                    time = time.replace(tzinfo=UTC)
            except (ValueError, KeyError, TypeError):
                continue  # a torn or foreign line must not cost the rest of the history
            environment = str(data.get("environment") or "?")
            key = (data["time"], environment)
            if key not in seen:
                seen.add(key)
                runs.append(Run(time, environment, data))
    runs.sort(key=lambda run: run.time)
    return runs
