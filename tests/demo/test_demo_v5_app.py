"""``opscheck demo --app v5``: the embedded stack with the Auth.js v5 reference app instead of the next-auth 4 one,
really built from npm; the smoke and auth suites pass against it and the demo leaves nothing running."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from opscheck.demo.apps import APPS
from tests.support.demo_run import demo, refused, urls_of
from tests.support.project import REPO, checks_by_name, summary

pytestmark = pytest.mark.xdist_group("reference-app")


def test_demo_with_the_v5_app_runs_smoke_and_auth_green(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    reports = tmp_path / "reports"
    result = demo(workdir, "--app", "v5", "--suites", "smoke,auth", "--", "--opscheck-reports", str(reports))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "PASS: every check at or above gate P3 passed" in result.stdout, output

    config = tomllib.loads((workdir / "opscheck.toml").read_text())["environments"]["demo"]
    assert config["auth"]["base_path"] == "/auth"
    assert config["smoke"]["health_path"] is False
    assert "/dashboard" in config["auth"]["protected_paths"]
    env_file = (workdir / "app.env").read_text()
    assert "AUTH_SECRET=" in env_file
    assert "NEXTAUTH_SECRET" not in env_file

    checks = checks_by_name(summary(reports))
    assert checks["test_smoke_user_can_sign_in"]["outcome"] == "passed"
    assert checks["test_protected_path_refuses_requests_without_a_session[/dashboard]"]["outcome"] == "passed"
    health = checks["test_health_endpoint_is_healthy"]
    assert health["outcome"] == "skipped"
    assert "health_path" in health["message"]
    app_url, database_url = urls_of(workdir)
    assert refused(app_url)
    assert refused(database_url)


def test_demo_app_choice_is_listed_in_its_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "opscheck.cli", "demo", "--help"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0
    assert "--app {" + ",".join(sorted(APPS)) + "}" in result.stdout
