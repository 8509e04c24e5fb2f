"""Prometheus metrics of a run: pushed to a real Pushgateway and written for node_exporter's textfile
collector, read back with prometheus_client's own parser."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from opscheck.config.sections import MetricsSettings
from opscheck.reporting.metrics import LAST_SUCCESS, SERIES, publish, suite_registry
from opscheck.run.results import RunSummary
from tests.support.hostile_http import STALLS, DribblingServer, StallingServer
from tests.support.project import summary
from tests.support.pushgateway import running_pushgateway
from tests.support.servers import closed_port, silent_tcp_server
from tests.support.suite_run import write_opscheck_toml

SECRET_TOKEN = "tok-7f3a9c1e5b2d4a6f8e0c"

SMOKE = """
import pytest

@pytest.mark.runbook("site-down-p0", severity="P0")
def test_health(check):
    import os
    assert os.environ.get("OPSCHECK_TEST_FAIL") != "1", "health answered 503 (expected 200)"

@pytest.mark.runbook("security-headers", severity="P3")
@pytest.mark.parametrize("path", ["/status?access_token=${SECRET}"])
def test_page(path):
    pass
"""

RESTORE = """
import pytest

@pytest.mark.runbook("data-recovery", severity="P1")
def test_drill(check):
    check.metric("restore_seconds", 90.0)
    check.metric("backup_age_hours", 5.0)
    check.metric("backup_bytes", 123456)
    check.metric("rpo_hours", 24.0)
    check.metric("rto_minutes", 120.0)
"""


def _project(pytester: pytest.Pytester, metrics: dict[str, Any]) -> None:
    write_opscheck_toml(pytester.path, env="staging", metrics=metrics)
    pytester.mkdir("smoke")
    pytester.mkdir("restore")
    (pytester.path / "smoke" / "test_smoke.py").write_text(SMOKE.replace("${SECRET}", SECRET_TOKEN))
    (pytester.path / "restore" / "test_restore.py").write_text(RESTORE)


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *, fail: bool) -> pytest.RunResult:
    monkeypatch.setenv("OPSCHECK_TEST_FAIL", "1" if fail else "0")
    monkeypatch.setenv("STATUS_API_TOKEN", SECRET_TOKEN)  # a secret-named variable: the redactor knows it
    reports = pytester.path / "reports"
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--opscheck-reports", str(reports), "--env", "staging",
        "-p", "no:randomly", "smoke", "restore",
    )  # fmt: skip


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    matches = [
        value
        for (sample, have), value in samples.items()
        if sample == name and set(labels.items()) <= set(have)
    ]
    assert len(matches) == 1, f"{name} {labels}: expected one sample, found {len(matches)}"
    return matches[0]


def test_a_run_pushes_its_series_to_a_real_pushgateway(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_pushgateway() as gateway:
        _project(pytester, {"pushgateway_url": gateway})
        before = time.time()
        result = _run(pytester, monkeypatch, fail=False)
        assert result.ret == 0, result.stdout.str()
        scraped = httpx.get(f"{gateway}/metrics", timeout=5).text
    samples = _samples(scraped)
    smoke = {"environment": "staging", "suite": "smoke", "job": "opscheck"}
    restore = {"environment": "staging", "suite": "restore", "job": "opscheck"}
    assert _value(samples, "opscheck_check_success", check="smoke/test_smoke.py::test_health", **smoke) == 1
    assert _value(samples, "opscheck_check_outcome", outcome="passed", severity="P0", **smoke) == 1
    assert _value(samples, "opscheck_checks", outcome="passed", **smoke) == 2
    assert _value(samples, "opscheck_run_success", **restore) == 1
    assert _value(samples, LAST_SUCCESS, **smoke) >= before
    assert _value(samples, "opscheck_restore_duration_seconds", **restore) == 90
    assert _value(samples, "opscheck_rto_margin_seconds", **restore) == 120 * 60 - 90
    assert _value(samples, "opscheck_rpo_margin_seconds", **restore) == (24 - 5) * 3600
    assert _value(samples, "opscheck_backup_size_bytes", **restore) == 123456
    # a token in a parametrized check id never reaches a label
    assert SECRET_TOKEN not in scraped
    assert "opscheck_restore_duration_seconds" not in {
        n for (n, labels) in samples if ("suite", "smoke") in labels
    }
    data = summary(pytester.path / "reports")
    assert [entry["ok"] for entry in data["publishing"]] == [True]


def test_the_dead_mans_switch_moves_only_on_fully_passing_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    textfiles = tmp_path / "textfile"
    with running_pushgateway() as gateway:
        _project(pytester, {"pushgateway_url": gateway, "textfile_dir": textfiles})
        assert _run(pytester, monkeypatch, fail=False).ret == 0
        pushed_first = _value(
            _samples(httpx.get(f"{gateway}/metrics", timeout=5).text), LAST_SUCCESS, suite="smoke"
        )
        file_first = _value(_samples((textfiles / "opscheck_staging_smoke.prom").read_text()), LAST_SUCCESS)
        time.sleep(1.1)
        failed = _run(pytester, monkeypatch, fail=True)
        assert failed.ret == 1
        samples = _samples(httpx.get(f"{gateway}/metrics", timeout=5).text)
        assert _value(samples, LAST_SUCCESS, suite="smoke") == pushed_first
        assert _value(samples, "opscheck_run_success", suite="smoke") == 0
        assert _value(samples, "opscheck_check_success", check="smoke/test_smoke.py::test_health") == 0
        # the restore suite passed fully in the same run: its switch moved
        assert _value(samples, LAST_SUCCESS, suite="restore") > pushed_first
        file_samples = _samples((textfiles / "opscheck_staging_smoke.prom").read_text())
        assert _value(file_samples, LAST_SUCCESS) == file_first
        assert _value(file_samples, "opscheck_run_success") == 0
        time.sleep(1.1)
        assert _run(pytester, monkeypatch, fail=False).ret == 0
        samples = _samples(httpx.get(f"{gateway}/metrics", timeout=5).text)
        assert _value(samples, LAST_SUCCESS, suite="smoke") > pushed_first
    assert sorted(p.name for p in textfiles.iterdir()) == [
        "opscheck_staging_restore.prom",
        "opscheck_staging_smoke.prom",
    ]


@pytest.mark.parametrize("kind", ["refused", "silent", "dribbling"])
def test_a_gateway_that_is_down_or_hangs_is_reported_and_never_changes_the_verdict(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    if kind == "refused":
        _project(pytester, {"pushgateway_url": f"http://127.0.0.1:{closed_port()}", "timeout_s": 2})
        started = time.monotonic()
        result = _run(pytester, monkeypatch, fail=False)
    elif kind == "silent":
        with silent_tcp_server() as port:
            _project(pytester, {"pushgateway_url": f"http://127.0.0.1:{port}", "timeout_s": 2})
            started = time.monotonic()
            result = _run(pytester, monkeypatch, fail=False)
    else:
        with DribblingServer(stage="headers", interval_s=0.3) as server:
            _project(pytester, {"pushgateway_url": server.url, "timeout_s": 2})
            started = time.monotonic()
            result = _run(pytester, monkeypatch, fail=False)
    elapsed = time.monotonic() - started
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*metrics: FAILED Pushgateway http://127.0.0.1:*"])
    data = summary(pytester.path / "reports")
    assert data["exit_status"] == 0
    (entry,) = data["publishing"]
    assert entry["ok"] is False
    if kind != "refused":
        assert "no complete answer within 2 s" in entry["detail"]
    assert elapsed < 30


def test_the_header_less_registry_is_valid_exposition_with_documented_names() -> None:
    run = RunSummary("prod", "P3")
    run.add("restore/test_r.py::test_drill", "setup", "passed", {"severity": "P1"}, 0.1)
    run.add(
        "restore/test_r.py::test_drill",
        "call",
        "passed",
        {
            "severity": "P1",
            "metrics": {
                "restore_seconds": 30.0,
                "rto_minutes": 1.0,
                "backup_age_hours": 30.0,
                "rpo_hours": 24.0,
            },
        },
        0.2,
    )
    registry = suite_registry(run, "restore", list(run.checks.values()), 1000.0, last_success=None)
    from prometheus_client import generate_latest

    samples = _samples(generate_latest(registry).decode())
    assert {name for name, _ in samples} <= set(SERIES)
    assert _value(samples, "opscheck_rto_margin_seconds") == 30.0
    assert _value(samples, "opscheck_rpo_margin_seconds") == -6 * 3600
    assert _value(samples, "opscheck_backup_timestamp_seconds") == 1000.0 - 30 * 3600
    assert _value(samples, LAST_SUCCESS) == 1000.0


def test_a_failing_suite_keeps_the_previous_switch_value_and_only_that() -> None:
    run = RunSummary("prod", "P3")
    run.add("smoke/test_s.py::test_a", "call", "failed", {"severity": "P0", "message": "503"}, 0.1)
    registry = suite_registry(run, "smoke", list(run.checks.values()), 2000.0, last_success=None)
    from prometheus_client import generate_latest

    assert LAST_SUCCESS not in generate_latest(registry).decode()
    kept = suite_registry(run, "smoke", list(run.checks.values()), 2000.0, last_success=1500.0)
    assert _value(_samples(generate_latest(kept).decode()), LAST_SUCCESS) == 1500.0
    assert json.dumps(run.to_json())  # the summary stays JSON-able with publishing entries


def test_a_restore_run_without_a_restore_moves_no_dead_mans_switch() -> None:
    """`pytest suites/restore -k rpo`, or a drill skipped for want of [restore]: every check that ran passed,
    but nothing was restored; the restore suite's switch is the "last green restore drill" alert's input."""
    from prometheus_client import generate_latest

    run = RunSummary("prod", "P3")
    listing = {"severity": "P1", "metrics": {"backup_age_hours": 5.0, "rpo_hours": 24.0}}
    run.add("restore/test_rpo.py::test_newest_backup_is_within_rpo", "call", "passed", listing, 0.1)
    run.add("restore/test_drill.py::test_restore_drill_succeeds_within_rto", "setup", "skipped", {}, 0.0)
    registry = suite_registry(run, "restore", list(run.checks.values()), 2000.0, last_success=None)
    assert LAST_SUCCESS not in generate_latest(registry).decode()
    kept = suite_registry(run, "restore", list(run.checks.values()), 2000.0, last_success=1500.0)
    assert _value(_samples(generate_latest(kept).decode()), LAST_SUCCESS) == 1500.0
    green = RunSummary("prod", "P3")
    green.add("restore/test_rpo.py::test_newest_backup_is_within_rpo", "call", "passed", listing, 0.1)
    drilled = {"severity": "P0", "metrics": {"restore_seconds": 90.0, "rto_minutes": 120.0}}
    green.add(
        "restore/test_drill.py::test_restore_drill_succeeds_within_rto", "call", "passed", drilled, 90.0
    )
    moved = suite_registry(green, "restore", list(green.checks.values()), 2000.0, last_success=1500.0)
    assert _value(_samples(generate_latest(moved).decode()), LAST_SUCCESS) == 2000.0


def test_a_publisher_that_breaks_costs_the_run_neither_its_verdict_nor_its_summary(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _project(pytester, {"textfile_dir": tmp_path / "textfile"})
    pytester.makeconftest(
        "import opscheck.reporting.metrics\n"
        "def _boom(*args, **kwargs):\n"
        "    raise RuntimeError('publisher bug')\n"
        "opscheck.reporting.metrics.publish = _boom\n"
    )
    result = _run(pytester, monkeypatch, fail=False)
    assert result.ret == 0, result.stdout.str()
    (entry,) = summary(pytester.path / "reports")["publishing"]
    assert entry == {
        "kind": "error",
        "destination": "metrics/notify",
        "ok": False,
        "detail": "RuntimeError: publisher bug",
    }


@pytest.mark.parametrize("stall", list(STALLS))
def test_a_gateway_that_goes_silent_anywhere_is_no_complete_answer(stall: str) -> None:
    """A push reads 'no complete answer within timeout_s' whichever point of the answer the gateway stops at."""
    run = RunSummary("prod", "P3")
    run.add("smoke/test_s.py::test_a", "call", "passed", {"severity": "P0"}, 0.1)
    with StallingServer(STALLS[stall]) as server:
        url = server.url.replace("http:", "https:") if "TLS" in stall else server.url
        settings = MetricsSettings({"pushgateway_url": url, "timeout_s": 1}, "metrics", "prod", Path("."))
        started = time.monotonic()
        (result,) = publish(run, settings)
    assert time.monotonic() - started < 2.5
    assert (result.ok, result.detail) == (False, "smoke: no complete answer within 1 s (metrics.timeout_s)")
