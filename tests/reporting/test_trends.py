"""The restore trend chart (matplotlib, real PNG) and the run history table."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opscheck.reporting.history import Run
from opscheck.reporting.trends import ChartUnavailable, history_markdown, restore_chart, restore_points


def run(day: int, environment: str = "production", **restore: object) -> Run:
    time = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=7 * day)
    data = {"time": time.isoformat(), "environment": environment, "exit_status": 0, "gate": "P3"}
    data["counts"] = {"passed": 9, "failed": 0, "error": 0, "skipped": 1}
    if restore:
        data["restore"] = restore
    return Run(time, environment, data)


def drill(day: int, seconds: float, age: float, environment: str = "production") -> Run:
    return run(day, environment, restore_seconds=seconds, backup_age_hours=age, rto_minutes=120, rpo_hours=24)


def test_only_runs_with_restore_metrics_are_points() -> None:
    points = restore_points([run(0), drill(1, 60, 3), drill(2, 90, 30, "staging")])
    assert {env: len(runs) for env, runs in points.items()} == {"production": 1, "staging": 1}


def test_chart_is_a_png_of_restore_time_and_backup_age(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the report extra (matplotlib) is not installed")
    history = [drill(week, 600 + 60 * week, 4 + week) for week in range(8)] + [
        drill(9, 9000, 30)
    ]  # over RTO/RPO
    history += [drill(week, 300, 2, "staging") for week in range(3)]
    path = restore_chart(history, tmp_path / "chart.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1000, 650)
    assert len(data) > 20_000  # two panels with lines, limits and labels, not an empty canvas


def test_no_drill_in_the_history_means_no_chart_and_says_why(tmp_path: Path) -> None:
    with pytest.raises(ChartUnavailable, match="no restore drill"):
        restore_chart([run(0), run(1)], tmp_path / "chart.png")
    assert not (tmp_path / "chart.png").exists()


def test_history_table_lists_newest_first_with_restore_numbers() -> None:
    table = history_markdown([drill(0, 90, 5.5), run(1, "staging")])
    rows = [line for line in table.splitlines() if line.startswith("| 2026")]
    assert rows[0].startswith("| 2026-01-08 00:00 | staging | 0 | P3 | 9 | 0 | 0 | 1 |")
    assert "| 5.5 h | 1.5 min | 120 min |" in rows[1]
