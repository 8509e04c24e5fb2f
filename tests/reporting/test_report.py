"""Unit tests of opscheck.run.results and opscheck.reporting.summary: folding phases into results, the
gate, the verdict and the outputs."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from opscheck.reporting.summary import markdown_summary, terminal_lines
from opscheck.run.results import CheckResult, RunSummary
from opscheck.secrets import MASK, redactor

NODE = "suites/smoke/test_health_endpoint_is_healthy.py::test_health_endpoint_is_healthy"


def failure(message: str = "GET /api/health returned 503 (expected 200)", **extra: Any) -> dict[str, Any]:
    """The data of a failing phase, as the plugin attaches it to a report."""
    data: dict[str, Any] = {
        "severity": "P0",
        "section_slug": "site-down-p0",
        "kind": "failed",
        "message": message,
        "remediation": "Site Down (P0) [runbook]\n1. Roll back.",
        "headline": "Roll back.",
        "section_title": "Site Down (P0)",
        "section_link": "https://github.com/acme/app/blob/main/RUNBOOK.md#site-down-p0",
    }
    data.update(extra)
    return data


def passing(severity: str = "P0", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"severity": severity, "section_slug": "site-down-p0"}
    data.update(extra)
    return data


def run(gate: str = "P3", **phases: tuple[str, dict[str, Any]]) -> CheckResult:
    """Fold ``setup``/``call``/``teardown`` phases of NODE into a summary and return its result."""
    summary = RunSummary("production", gate)
    for when, (outcome, data) in phases.items():
        summary.add(NODE, when, outcome, data, 0.1)
    return summary.checks[NODE]


def summary_with(*results: tuple[str, str, str], gate: str = "P3") -> RunSummary:
    """A summary with one check per (nodeid, severity, call outcome)."""
    summary = RunSummary("production", gate)
    for nodeid, severity, outcome in results:
        summary.add(nodeid, "setup", "passed", passing(severity), 0.01)
        data = failure(severity=severity) if outcome == "failed" else passing(severity)
        summary.add(nodeid, "call", outcome, data, 0.2)
        summary.add(nodeid, "teardown", "passed", passing(severity), 0.01)
    return summary


# ---------------------------------------------------------------------------------------------------
# Folding phases
# ---------------------------------------------------------------------------------------------------
def test_three_passing_phases_give_passed() -> None:
    result = run(setup=("passed", passing()), call=("passed", passing()), teardown=("passed", passing()))
    assert result.outcome == "passed"
    assert result.message is None


def test_phase_durations_add_up() -> None:
    result = run(setup=("passed", passing()), call=("passed", passing()), teardown=("passed", passing()))
    assert result.duration_s == pytest.approx(0.3)


def test_setup_failure_is_error() -> None:
    result = run(setup=("failed", failure("fixture db: connection refused")), teardown=("passed", passing()))
    assert result.outcome == "error"
    assert result.message == "fixture db: connection refused"


def test_plain_call_failure_is_failed() -> None:
    result = run(setup=("passed", passing()), call=("failed", failure()), teardown=("passed", passing()))
    assert result.outcome == "failed"


def test_call_failure_of_kind_error_is_error() -> None:
    result = run(setup=("passed", passing()), call=("failed", failure("unreachable", kind="error")))
    assert result.outcome == "error"


def test_skip_is_skipped_with_reason() -> None:
    reason = "[environments.production.cache] is not configured for environment 'production'"
    result = run(setup=("skipped", passing(message=reason)), teardown=("passed", passing()))
    assert result.outcome == "skipped"
    assert result.message == reason


def test_teardown_error_after_pass_is_error() -> None:
    result = run(
        setup=("passed", passing()),
        call=("passed", passing()),
        teardown=("failed", failure("teardown: cannot drop database")),
    )
    assert result.outcome == "error"
    assert result.message == "teardown: cannot drop database"


def test_first_failing_phase_message_is_kept() -> None:
    result = run(
        call=("failed", failure("first problem")),
        teardown=("failed", failure("second problem", section_title="Other")),
    )
    assert result.message == "first problem"
    assert result.runbook_section == "Site Down (P0)"
    assert result.outcome == "error"


def test_failure_after_skip_carries_its_own_message_and_remediation() -> None:
    result = run(
        setup=("skipped", passing(message="not configured")),
        teardown=("failed", failure("teardown: server left running")),
    )
    assert result.outcome == "error"
    assert result.message == "teardown: server left running"
    assert result.remediation == "Site Down (P0) [runbook]\n1. Roll back."


def test_failure_records_runbook_fields() -> None:
    result = run(call=("failed", failure()))
    assert result.runbook_section == "Site Down (P0)"
    assert result.runbook_slug == "site-down-p0"
    assert result.runbook_link == "https://github.com/acme/app/blob/main/RUNBOOK.md#site-down-p0"
    assert result.remediation_headline == "Roll back."


def test_severity_and_metrics_come_from_phase_data() -> None:
    result = run(call=("passed", passing("P2", metrics={"latency_ms": 412})))
    assert result.severity == "P2"
    assert result.metrics == {"latency_ms": 412}


def test_notes_are_not_repeated() -> None:
    result = run(setup=("passed", passing(notes=["a"])), call=("passed", passing(notes=["a", "b"])))
    assert result.notes == ["a", "b"]


def test_pass_after_retries_is_flaky() -> None:
    result = run(call=("passed", passing(retries=["GET /: connection reset"])))
    assert result.outcome == "passed"
    assert result.flaky is True
    assert result.retries == ["GET /: connection reset"]


def test_pass_without_retries_is_not_flaky() -> None:
    assert run(call=("passed", passing(retries=[]))).flaky is False


def test_flaky_failure_under_fail_on_flaky_is_flaky_and_failed() -> None:
    result = run(call=("failed", failure("passed only after 1 retry(ies)", kind=None, flaky_failed=True)))
    assert result.outcome == "failed"
    assert result.flaky is True


def test_result_suite_is_its_folder() -> None:
    assert CheckResult(NODE).suite() == "smoke"
    assert CheckResult("test_x.py::test_y").suite() == "test_x.py"


# ---------------------------------------------------------------------------------------------------
# The gate
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("severity", "gate", "below"),
    [
        ("P0", "P1", False),
        ("P1", "P1", False),
        ("P2", "P1", True),
        ("P3", "P1", True),
        ("P3", "P3", False),
        ("P1", "P0", True),
    ],
)
def test_failure_below_gate(severity: str, gate: str, below: bool) -> None:
    result = run(gate, call=("failed", failure(severity=severity)))
    assert result.below_gate is below


def test_passing_check_is_never_below_gate() -> None:
    assert run("P0", call=("passed", passing("P3"))).below_gate is False


def test_skipped_check_is_never_below_gate() -> None:
    assert run("P0", setup=("skipped", passing("P3", message="skip"))).below_gate is False


def test_gate_failures_and_below_gate_split_failing_checks() -> None:
    summary = summary_with(
        ("a::p0", "P0", "failed"), ("b::p2", "P2", "failed"), ("c::ok", "P0", "passed"), gate="P1"
    )
    assert [c.nodeid for c in summary.gate_failures()] == ["a::p0"]
    assert [c.nodeid for c in summary.below_gate()] == ["b::p2"]


def test_errors_count_as_gate_failures() -> None:
    summary = RunSummary("production", "P1")
    summary.add(NODE, "setup", "failed", failure(severity="P1"), 0.1)
    assert [c.outcome for c in summary.gate_failures()] == ["error"]


def test_counts_by_outcome() -> None:
    summary = summary_with(("a::x", "P0", "failed"), ("b::y", "P0", "passed"), ("c::z", "P1", "passed"))
    summary.add("d::s", "setup", "skipped", passing(message="not configured"), 0.0)
    assert summary.counts() == {"passed": 2, "skipped": 1, "failed": 1, "error": 0, "flaky": 0}


# ---------------------------------------------------------------------------------------------------
# Verdict
# ---------------------------------------------------------------------------------------------------
def test_verdict_pass() -> None:
    summary = summary_with(("a::x", "P0", "passed"), gate="P1")
    assert summary.verdict() == "PASS: every check at or above gate P1 passed"


def test_verdict_pass_mentions_failures_below_gate() -> None:
    summary = summary_with(("a::x", "P0", "passed"), ("b::y", "P3", "failed"), gate="P1")
    assert summary.verdict() == "PASS: every check at or above gate P1 passed (1 failure(s) below the gate)"


def test_verdict_fail() -> None:
    summary = summary_with(("a::x", "P0", "failed"), ("b::y", "P3", "failed"), gate="P1")
    assert summary.verdict() == "FAIL: 1 check(s) at or above gate P1 failed; 1 more below the gate"


def test_verdict_interrupted() -> None:
    summary = summary_with(("a::x", "P0", "failed"))
    summary.interrupted = True
    assert summary.verdict() == "INTERRUPTED: gate P3 not decided (1 failing so far)"


def test_verdict_no_checks() -> None:
    assert RunSummary("production", "P0").verdict() == "NO CHECKS RAN: gate P0 cannot pass on nothing"


# ---------------------------------------------------------------------------------------------------
# Summary JSON
# ---------------------------------------------------------------------------------------------------
def test_to_json_has_contract_fields() -> None:
    summary = summary_with(("a::x", "P0", "failed"))
    summary.started_at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    summary.duration_s = 12.34567
    summary.exit_status = 1
    data = summary.to_json()
    assert {"environment", "started_at", "duration_s", "gate", "exit_status", "interrupted", "checks"} <= set(
        data
    )
    assert data["environment"] == "production"
    assert data["started_at"] == "2025-01-02T03:04:05+00:00"
    assert data["duration_s"] == 12.346
    assert data["gate"] == "P3"
    assert data["exit_status"] == 1
    assert data["interrupted"] is False


def test_to_json_check_has_contract_fields() -> None:
    check = summary_with(("a::x", "P0", "failed")).to_json()["checks"][0]
    contract = {
        "nodeid",
        "outcome",
        "severity",
        "below_gate",
        "flaky",
        "duration_s",
        "runbook_section",
        "remediation",
        "message",
        "metrics",
    }
    assert contract <= set(check)
    assert check["nodeid"] == "a::x"
    assert check["outcome"] == "failed"
    assert check["runbook_section"] == "Site Down (P0)"
    assert check["message"] == "GET /api/health returned 503 (expected 200)"
    assert isinstance(check["metrics"], dict)


def test_to_json_outcomes_are_from_contract_vocabulary() -> None:
    summary = summary_with(("a::x", "P0", "failed"), ("b::y", "P0", "passed"))
    summary.add("c::z", "setup", "skipped", passing(message="skip"), 0.0)
    summary.add("d::w", "setup", "failed", failure(), 0.0)
    outcomes = {check["outcome"] for check in summary.to_json()["checks"]}
    assert outcomes == {"passed", "failed", "error", "skipped"}


def test_to_json_is_serialisable() -> None:
    summary = summary_with(("a::x", "P0", "failed"))
    assert json.loads(json.dumps(summary.to_json()))["checks"][0]["nodeid"] == "a::x"


def test_to_json_is_scrubbed_by_process_wide_redactor() -> None:
    secret = f"leak-{uuid.uuid4().hex}"
    redactor().add(secret)
    summary = RunSummary("production", "P3")
    summary.add(
        NODE, "call", "failed", failure(f"login with {secret} failed", metrics={"token": secret}), 0.1
    )
    text = json.dumps(summary.to_json())
    assert secret not in text
    assert f"login with {MASK} failed" in text


def test_write_json_writes_file_atomically(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "opscheck-summary.json"
    summary_with(("a::x", "P0", "failed")).write_json(target)
    assert json.loads(target.read_text(encoding="utf-8"))["checks"][0]["outcome"] == "failed"
    assert sorted(p.name for p in target.parent.iterdir()) == ["opscheck-summary.json"]


def test_write_json_replaces_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "opscheck-summary.json"
    target.write_text("stale", encoding="utf-8")
    RunSummary("staging", "P1").write_json(target)
    assert json.loads(target.read_text(encoding="utf-8"))["environment"] == "staging"


# ---------------------------------------------------------------------------------------------------
# Terminal table
# ---------------------------------------------------------------------------------------------------
def test_terminal_lines_show_failure_with_remediation() -> None:
    lines = terminal_lines(summary_with(("suites/smoke/test_a.py::test_a", "P0", "failed")))
    assert lines[0] == "P0  failed    suites/smoke/test_a.py::test_a"
    assert "seen: GET /api/health returned 503 (expected 200)" in lines[1]
    assert "do:   Roll back.  [Site Down (P0)]" in lines[2]
    assert lines[-1].startswith("FAIL:")


def test_terminal_lines_mark_below_gate() -> None:
    lines = terminal_lines(summary_with(("a::x", "P3", "failed"), gate="P1"))
    assert lines[0].startswith("P3  failed *")
    assert "* below the gate: reported, does not fail the run" in lines
    assert lines[-1].startswith("PASS:")


def test_terminal_lines_show_flaky_check_with_retry() -> None:
    summary = RunSummary("production", "P3")
    summary.add("a::x", "call", "passed", passing(retries=["GET /: timeout"]), 0.1)
    lines = terminal_lines(summary)
    assert lines[0] == "P0  flaky     a::x"
    assert "retried: GET /: timeout" in lines[1]


def test_terminal_lines_omit_passing_checks() -> None:
    lines = terminal_lines(summary_with(("a::x", "P0", "passed")))
    assert lines == ["PASS: every check at or above gate P3 passed"]


def test_terminal_lines_list_gate_failures_before_flaky_passes() -> None:
    summary = summary_with(("z::failed", "P1", "failed"))
    summary.add("a::flaky", "call", "passed", passing("P0", retries=["retry"]), 0.1)
    rows = [line.split()[-1] for line in terminal_lines(summary) if line[:1] == "P"]
    assert rows == ["z::failed", "a::flaky"]


def test_terminal_lines_truncate_long_message() -> None:
    summary = RunSummary("production", "P3")
    summary.add("a::x", "call", "failed", failure("x" * 500), 0.1)
    seen = next(line for line in terminal_lines(summary, width=160) if "seen:" in line)
    assert seen.endswith("…")
    assert len(seen) == 160


def test_terminal_lines_are_scrubbed() -> None:
    secret = f"leak-{uuid.uuid4().hex}"
    redactor().add(secret)
    summary = RunSummary("production", "P3")
    summary.add("a::x", "call", "failed", failure(f"token {secret} rejected"), 0.1)
    assert not any(secret in line for line in terminal_lines(summary))


# ---------------------------------------------------------------------------------------------------
# GitHub step summary
# ---------------------------------------------------------------------------------------------------
def test_markdown_summary_has_row_for_failing_check() -> None:
    markdown = markdown_summary(summary_with(("suites/smoke/test_a.py::test_a", "P0", "failed")))
    assert "| severity | outcome | check | seen | runbook |" in markdown
    assert (
        "| P0 | failed | `suites/smoke/test_a.py::test_a` | GET /api/health returned 503 (expected 200) | "
        "[Site Down (P0)](https://github.com/acme/app/blob/main/RUNBOOK.md#site-down-p0) |"
    ) in markdown


def test_markdown_summary_has_details_with_remediation() -> None:
    markdown = markdown_summary(summary_with(("a::x", "P0", "failed")))
    assert "<details><summary>P0 a::x: Roll back.</summary>" in markdown
    assert "Site Down (P0) [runbook]\n1. Roll back." in markdown
    assert "</details>" in markdown


def test_markdown_summary_verdict_names_gate() -> None:
    markdown = markdown_summary(summary_with(("a::x", "P0", "failed"), gate="P1"))
    assert "**FAIL: 1 check(s) at or above gate P1 failed**" in markdown
    assert markdown.startswith("## ❌ opscheck · production · gate P1")


def test_markdown_summary_of_passing_run_has_no_table() -> None:
    markdown = markdown_summary(summary_with(("a::x", "P0", "passed")))
    assert markdown.startswith("## ✅ ")
    assert "| severity |" not in markdown
    assert "1 passed" in markdown


def test_markdown_summary_of_empty_run_is_not_green() -> None:
    markdown = markdown_summary(RunSummary("production", "P1"))
    assert markdown.startswith("## ❌ ")
    assert "NO CHECKS RAN" in markdown


def test_markdown_summary_marks_below_gate_and_flaky_rows() -> None:
    summary = summary_with(("a::x", "P3", "failed"), gate="P1")
    summary.add("b::y", "call", "passed", passing("P1", retries=["retry"]), 0.1)
    markdown = markdown_summary(summary)
    assert "| P3 | failed (below gate) | `a::x` |" in markdown
    assert "| P1 | flaky | `b::y` |" in markdown


def test_markdown_summary_escapes_pipes() -> None:
    summary = RunSummary("production", "P3")
    summary.add("a::test[x|y]", "call", "failed", failure("expected a|b, saw c"), 0.1)
    markdown = markdown_summary(summary)
    assert "`a::test[x\\|y]`" in markdown
    assert "expected a\\|b, saw c" in markdown


def test_markdown_summary_links_only_http_runbooks() -> None:
    summary = RunSummary("production", "P3")
    summary.add("a::x", "call", "failed", failure(section_link="file:///srv/RUNBOOK.md#site-down-p0"), 0.1)
    markdown = markdown_summary(summary)
    assert "file:///" not in markdown
    assert "| Site Down (P0) |" in markdown


def test_markdown_summary_is_scrubbed() -> None:
    secret = f"leak-{uuid.uuid4().hex}"
    redactor().add(secret)
    summary = RunSummary("production", "P3")
    summary.add("a::x", "call", "failed", failure(f"saw {secret}", remediation=f"rotate {secret}"), 0.1)
    assert secret not in markdown_summary(summary)


def test_a_check_interrupted_after_its_setup_is_an_error_never_a_pass() -> None:
    summary = RunSummary("prod", "P1")
    summary.add("s/test_drill.py::test_drill", "setup", "passed", {"severity": "P0"}, 0.1)
    summary.add("s/test_other.py::test_other", "setup", "passed", {"severity": "P2"}, 0.1)
    summary.add("s/test_other.py::test_other", "call", "passed", {"severity": "P2"}, 0.1)
    summary.finish(interrupted=True)
    drill = summary.checks["s/test_drill.py::test_drill"]
    assert (drill.outcome, drill.message, drill.below_gate) == (
        "error",
        "did not finish: the run was interrupted",
        False,
    )
    assert summary.checks["s/test_other.py::test_other"].outcome == "passed"
    assert "phases" not in summary.to_json()["checks"][0]


def test_an_interrupted_run_lists_collected_checks_that_never_reported_as_errors() -> None:
    summary = RunSummary("prod", "P1")
    summary.add("suites/restore/test_a.py::test_stream", "setup", "passed", {"severity": "P1"}, 0.1)
    summary.finish(
        interrupted=True,
        collected={
            "suites/restore/test_a.py::test_stream": "P1",
            "suites/restore/test_b.py::test_drill": "P0",
            "suites/restore/test_c.py::test_size": "P3",
        },
    )
    checks = summary.checks
    assert checks["suites/restore/test_b.py::test_drill"].outcome == "error"
    assert checks["suites/restore/test_b.py::test_drill"].message == "did not run: the run was interrupted"
    assert not checks["suites/restore/test_b.py::test_drill"].below_gate
    assert checks["suites/restore/test_c.py::test_size"].below_gate
    assert (
        checks["suites/restore/test_a.py::test_stream"].message == "did not finish: the run was interrupted"
    )


def test_a_finished_run_does_not_invent_checks_it_did_not_collect_reports_for() -> None:
    summary = RunSummary("prod", "P3")
    summary.add("t.py::test_a", "call", "passed", {"severity": "P1"}, 0.1)
    summary.finish(interrupted=False, collected={"t.py::test_a": "P1", "t.py::test_deselected_later": "P0"})
    assert list(summary.checks) == ["t.py::test_a"]
