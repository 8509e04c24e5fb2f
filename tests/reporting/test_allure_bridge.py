"""What every check's Allure result carries: labels, env, description with the runbook text, metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.suite_run import write_opscheck_toml

CHECKS = '''
import allure
import pytest

@pytest.mark.runbook("site-down-p0", severity="P0")
def test_health(check):
    """The health endpoint answers 200."""
    check.metric("latency_ms", 12)

@pytest.mark.runbook("complete-system-recovery", severity="P0")
def test_restore(check):
    for name, value in {"backup_key": "backup_20260101_000000.sql.gz", "backup_age_hours": 5.5,
                        "backup_bytes": 2048, "restore_seconds": 42.0, "restore_mb_per_s": 1.5,
                        "rpo_hours": 24, "rto_minutes": 120, "tables": {"User": 3}}.items():
        check.metric(name, value)

@pytest.mark.runbook("security-headers", severity="P3")
@allure.description("Our own words.")
def test_own_description():
    pass

@pytest.mark.runbook("no-such-section", severity="P2")
def test_unknown_section():
    pass
'''


@pytest.fixture
def results(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    write_opscheck_toml(
        pytester.path, env="staging", base_url="https://ops:bridge-canary-1d2e@app.example.com/"
    )
    pytester.makepyfile(test_checks=CHECKS)
    reports = pytester.path / "reports"
    pytester.runpytest("-p", "no:cacheprovider", "--env", "staging", "--opscheck-reports", str(reports))
    found = {}
    for path in (reports / "allure-results").glob("*-result.json"):
        data = json.loads(path.read_text())
        data["_dir"] = path.parent
        found[data["name"]] = data
    return found


def labels(result: dict[str, Any]) -> set[tuple[str, str]]:
    return {(label["name"], label["value"]) for label in result["labels"]}


def test_every_check_has_severity_suite_section_and_environment_labels(
    results: dict[str, dict[str, Any]],
) -> None:
    health = labels(results["test_health"])
    assert {("severity", "blocker"), ("story", "Site Down (P0)"), ("env", "staging"), ("tag", "P0")} <= health
    assert ("epic", "checks") in health
    assert ("feature", "checks") in health


def test_description_has_what_it_proves_severity_section_environment_target_and_full_section(
    results: dict[str, dict[str, Any]],
) -> None:
    description = results["test_health"]["description"]
    assert description.startswith("The health endpoint answers 200.\n")
    assert "- **Severity:** P0 · blocker · critical: site down, respond within 15 minutes" in description
    assert "- **Runbook section:** Site Down (P0)\n" in description  # the file:// link is in links
    assert "- **Environment:** `staging`" in description
    assert "- **Target:** `https://ops:***@app.example.com/`" in description
    assert "#### If this check fails: Site Down (P0)" in description
    assert "vercel ls --prod" in description  # the whole section, commands included, also for a pass
    assert "bridge-canary-1d2e" not in json.dumps(results, default=str)


def test_a_section_missing_from_the_runbook_is_said_and_a_checks_own_description_wins(
    results: dict[str, dict[str, Any]],
) -> None:
    assert results["test_own_description"]["description"] == "Our own words."
    unknown = results["test_unknown_section"]["description"]
    assert "- **Runbook section:** No Such Section (not in the runbook: built-in advice)" in unknown
    assert results["test_health"]["links"][0]["url"].endswith("RUNBOOK.md#site-down-p0")


def test_restore_metrics_are_parameters_and_all_metrics_a_table(results: dict[str, dict[str, Any]]) -> None:
    restore = results["test_restore"]
    parameters = {p["name"]: p for p in restore["parameters"]}
    assert parameters["backup_key"]["value"] == "backup_20260101_000000.sql.gz"
    assert parameters["restore_seconds"]["value"] == "42.0 s"
    assert parameters["rto_minutes"]["value"] == "120 min"
    assert all(p["excluded"] for p in parameters.values())  # a new backup is not a new test in the history
    assert "tables" not in parameters
    table = next(a for a in restore["attachments"] if a["name"] == "Metrics")
    assert table["type"] == "text/csv"
    text = (Path(restore["_dir"]) / table["source"]).read_text()
    assert text.splitlines()[0] == "metric,value"
    assert 'tables,"{""User"": 3}"' in text
    assert "parameters" not in results["test_health"] or not results["test_health"]["parameters"]
