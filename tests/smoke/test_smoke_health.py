"""The smoke suite's health check against the REAL reference app (Next.js 16 from npm, see
``tests/auth/test_auth_suite.py``): an app's health endpoint is configured, or explicitly absent, never guessed.

* ``smoke.health_path = false``: the health check skips naming the key; the rest of the suite still runs.
* a 404 on the configured path fails saying there is no health endpoint there and which key to set, with no
  rollback advice (the runbook's Site Down section would say "roll back").
* a 200 that is not JSON is judged by ``smoke.health_expect``: "json-ok" (default) fails naming the key (a
  page where JSON was promised may be a broken deployment: the Site Down advice stays), "status" passes.
* ``smoke.health_path = ""`` is a configuration error naming the key (it used to probe "/" silently).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.auth_run import V4Apps
from tests.support.reference_apps import V5, AppFleet
from tests.support.suite_run import REPO, SuiteRun, run_suite, write_opscheck_toml

pytestmark = pytest.mark.xdist_group("reference-app")

SMOKE = REPO / "suites" / "smoke"
HEALTH = "test_health_endpoint_is_healthy"
MAINTENANCE = "test_maintenance_mode_is_off"
HOME = "test_page_answers_200[/]"
RUN_CONFIGURATION = "Configuration of this opscheck run"


def smoke_run(pytester: pytest.Pytester, tmp_path: Path, base_url: str, name: str, **smoke: Any) -> SuiteRun:
    directory = tmp_path / name
    directory.mkdir()
    config = write_opscheck_toml(directory, base_url=base_url, smoke={"pages": ["/"], **smoke})
    return run_suite(pytester, SMOKE, config, directory / "reports")


def test_health_path_false_skips_the_health_check_naming_the_key(
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps
) -> None:
    app = fleet.get()
    run = smoke_run(pytester, tmp_path, app.base_url, "none", health_path=False)
    check = run.check(HEALTH)
    assert check["outcome"] == "skipped", run.output
    assert "smoke.health_path = false" in check["message"]
    assert run.check(MAINTENANCE)["outcome"] == "passed", run.output  # judged from the home page alone
    assert run.check(HOME)["outcome"] == "passed", run.output
    assert run.ret == 0, run.output


def test_a_404_on_the_health_path_says_there_is_no_health_endpoint_without_rollback_advice(
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps
) -> None:
    app = fleet.get()
    run = smoke_run(pytester, tmp_path, app.base_url, "missing", health_path="/healthz")
    check = run.check(HEALTH)
    assert (check["outcome"], check["severity"]) == ("failed", "P0"), run.output
    assert "HTTP 404: there is no health endpoint at /healthz" in check["message"]
    assert "smoke.health_path" in check["message"]
    assert check["runbook_section"] == RUN_CONFIGURATION
    assert "smoke.health_path = false" in check["remediation"]
    assert "roll back" not in check["remediation"].lower()
    assert run.check(HOME)["outcome"] == "passed"
    assert run.ret == 1


@pytest.mark.parametrize(("expect", "outcome"), [("status", "passed"), (None, "failed")])
def test_a_200_that_is_not_json_is_judged_by_health_expect(
    expect: str | None, outcome: str, pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps
) -> None:
    app = fleet.get()  # its home page answers 200 with HTML: a health endpoint that is no JSON document
    smoke = {"health_path": "/"} | ({"health_expect": expect} if expect else {})
    run = smoke_run(pytester, tmp_path, app.base_url, "plain", **smoke)
    check = run.check(HEALTH)
    assert check["outcome"] == outcome, run.output
    if outcome == "failed":
        assert "HTTP 200 with a non-JSON body" in check["message"]
        assert 'set smoke.health_expect = "status"' in check["message"]


def test_an_empty_health_path_is_a_configuration_error_naming_the_key(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    config = write_opscheck_toml(tmp_path, smoke={"health_path": ""})
    result = pytester.runpytest_subprocess(
        str(SMOKE), "--env", "x", "--opscheck-config", str(config), "-p", "no:cacheprovider", timeout=60
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = result.stderr.str() + result.stdout.str()
    assert "environments.x.smoke.health_path is empty" in errors
    assert "Traceback" not in errors


def test_the_v5_app_without_a_health_endpoint_is_told_which_key_to_set_then_passes_with_it(
    pytester: pytest.Pytester,
    tmp_path: Path,
    reference_apps: AppFleet,
) -> None:
    app = reference_apps.get(V5)  # the Auth.js v5 reference app has no /api/health, like many real apps
    default = smoke_run(pytester, tmp_path, app.base_url, "default")
    check = default.check(HEALTH)
    assert check["outcome"] == "failed", default.output
    assert "there is no health endpoint at /api/health" in check["message"]
    assert check["runbook_section"] == RUN_CONFIGURATION
    assert "roll back" not in check["remediation"].lower()
    explicit = smoke_run(pytester, tmp_path, app.base_url, "explicit", health_path=False)
    assert explicit.check(HEALTH)["outcome"] == "skipped"
    assert "failed" not in explicit.outcomes().values(), explicit.output
    assert explicit.ret == 0, explicit.output
