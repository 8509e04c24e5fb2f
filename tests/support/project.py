"""Write an opscheck project (config, runbook, checks) into a pytester directory, run it, read its summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.suite_run import write_environments

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_RUNBOOK = REPO / "examples" / "RUNBOOK.md"


def summary(reports: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((reports / "opscheck-summary.json").read_text())
    return data


def checks_by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Summary checks keyed by the test name part of the node id (``test_x[param]``)."""
    return {check["nodeid"].split("::")[-1]: check for check in data["checks"]}


def all_output_text(*roots: Path) -> str:
    """Every file below ``roots`` read as text (binary decoded leniently), for leak scans."""
    chunks = []
    for root in roots:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        chunks.extend(p.read_bytes().decode("utf-8", errors="replace") for p in files)
    return "\n".join(chunks)


def staging_and_production_config(pytester: pytest.Pytester, **tables: dict[str, Any]) -> Path:
    """Environments staging and production with the same settings, ``tables`` as their sub-tables."""
    staging = {"base_url": "http://127.0.0.1:9", "runbook": EXAMPLE_RUNBOOK, **tables}
    return write_environments(
        pytester.path, {"staging": staging, "production": {**staging, "production": True}}
    )


def run_project(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in the pytester project (as ``runpytest`` does), its reports under ``reports/``."""
    reports = pytester.path / "reports"
    return pytester.runpytest("-p", "no:cacheprovider", "--opscheck-reports", str(reports), *args)
