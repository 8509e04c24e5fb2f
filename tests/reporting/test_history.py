"""reports/history.jsonl: one redacted line per run, appended by the plugin; and reading it back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opscheck.reporting.history import append_run, read_runs, run_line
from opscheck.run.results import RunSummary
from opscheck.secrets import MASK, redactor
from tests.support.suite_run import write_opscheck_toml

RESTORE = {
    "backup_key": "backup_20240112_120000.sql.gz",
    "backup_age_hours": 5.5,
    "backup_bytes": 1234,
    "restore_seconds": 42.0,
    "restore_mb_per_s": 3.1,
    "rpo_hours": 24,
    "rto_minutes": 120,
}


def finished(**metrics: object) -> RunSummary:
    summary = RunSummary("production", "P1", started_at=datetime(2026, 3, 2, 4, 5, 6, tzinfo=UTC))
    summary.add(
        "suites/restore/test_a.py::test_a", "call", "passed", {"severity": "P0", "metrics": metrics}, 1.0
    )
    summary.add(
        "suites/smoke/test_b.py::test_b", "call", "failed", {"severity": "P1", "message": "boom"}, 0.5
    )
    summary.exit_status = 1
    summary.duration_s = 1.5
    return summary


def test_line_has_time_environment_counts_and_restore_metrics() -> None:
    line = run_line(finished(**RESTORE, latency_ms=3), Path("/etc/opscheck.toml"))
    assert line["time"] == "2026-03-02T04:05:06+00:00"
    assert line["environment"] == "production"
    assert line["gate"] == "P1"
    assert line["exit_status"] == 1
    assert line["counts"] == {"passed": 1, "skipped": 0, "failed": 1, "error": 0, "flaky": 0}
    assert line["pass_rate"] == 0.5
    assert line["failing"] == ["suites/smoke/test_b.py::test_b"]
    assert line["restore"] == RESTORE  # latency_ms is no restore metric
    assert line["config"] == "/etc/opscheck.toml"


def test_line_without_a_restore_drill_has_no_restore_key() -> None:
    assert "restore" not in run_line(finished(latency_ms=3))


def test_secrets_never_reach_the_line() -> None:
    secret = "hist-canary-7f3a9c"
    redactor().add(secret)
    line = json.dumps(run_line(finished(backup_key=f"backup_{secret}.sql.gz")))
    assert secret not in line
    assert MASK in line


def test_append_adds_one_line_per_run_and_skips_runs_without_checks(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "history.jsonl"
    assert append_run(finished(**RESTORE), path)
    assert append_run(finished(), path)
    assert not append_run(RunSummary("production", "P3"), path)  # collect-only, nothing collected
    assert len(path.read_text().splitlines()) == 2


def test_read_runs_merges_files_once_each_and_survives_torn_lines(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    append_run(finished(**RESTORE), first)
    later = finished()
    later.started_at = datetime(2026, 3, 9, tzinfo=UTC)
    append_run(later, second)
    with first.open("a") as handle:
        handle.write('{"time": "2026-03-0')  # a run killed mid-write
    runs = read_runs([second, first, first, tmp_path / "missing.jsonl"])
    assert [r.time.day for r in runs] == [2, 9]
    assert runs[0].restore["restore_seconds"] == 42.0
    assert runs[1].restore == {}


def test_plugin_appends_a_line_per_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_opscheck_toml(pytester.path, env="staging")
    pytester.makepyfile(
        test_checks="""
        import pytest

        @pytest.mark.runbook("complete-system-recovery", severity="P0")
        def test_restore(check):
            check.metric("restore_seconds", 12.5)
            check.metric("rto_minutes", 120)

        @pytest.mark.runbook("site-down-p0", severity="P0")
        def test_down():
            assert False, "503"
        """
    )
    reports = pytester.path / "reports"
    for _ in range(2):
        pytester.runpytest("-p", "no:cacheprovider", "--env", "staging", "--opscheck-reports", str(reports))
    pytester.runpytest(
        "-p", "no:cacheprovider", "--env", "staging", "--opscheck-reports", str(reports), "--co"
    )
    lines = [json.loads(line) for line in (reports / "history.jsonl").read_text().splitlines()]
    assert len(lines) == 2  # the collect-only run adds nothing
    assert lines[-1]["environment"] == "staging"
    assert lines[-1]["counts"]["failed"] == 1
    assert lines[-1]["restore"] == {"restore_seconds": 12.5, "rto_minutes": 120}
    assert lines[-1]["config"] == str(config)
