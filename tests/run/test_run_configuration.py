"""A problem of the run's own configuration (an unset ``${VAR}``) is reported as such: outcome error in the
summary AND in pytest's own line, with advice about the configuration instead of the check's runbook section
(a P0 check must not tell people to roll back a deployment nobody judged)."""

from __future__ import annotations

import pytest

from opscheck.errors import SettingMissing
from opscheck.runbook import Remedy
from tests.support.project import checks_by_name, summary
from tests.support.suite_run import write_opscheck_toml

CHECKS = """
import pytest
from opscheck.errors import CheckFailed


@pytest.mark.runbook("site-down-p0", severity="P0")
def test_needs_the_password(opscheck_env):
    opscheck_env.auth.password


@pytest.mark.runbook("site-down-p0", severity="P0")
def test_a_real_failure(opscheck_env):
    raise CheckFailed("GET /api/health", "HTTP 200", "HTTP 503")
"""


def test_an_unset_variable_is_a_configuration_problem_of_the_run_not_deployment_advice(
    pytester: pytest.Pytester,
) -> None:
    write_opscheck_toml(pytester.path, auth={"username": "smoke", "password": "${SMOKE_PASSWORD}"})
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--env", "x", "--opscheck-reports", str(pytester.path / "reports"), "-rA"
    )
    checks = checks_by_name(summary(pytester.path / "reports"))
    unset = checks["test_needs_the_password"]
    assert unset["outcome"] == "error"
    assert unset["message"] == "SMOKE_PASSWORD is not set (environments.x.auth.password)"
    assert unset["runbook_section"] == "Configuration of this opscheck run"
    assert "not judged" in unset["remediation"]
    assert "Set SMOKE_PASSWORD" in unset["remediation"]
    assert "Revert" not in unset["remediation"]  # the Site Down section's rollback advice
    real = checks["test_a_real_failure"]
    assert real["outcome"] == "failed"
    assert real["runbook_section"] == "Site Down (P0)"
    # pytest's own line agrees with the summary: one error, one failure
    outcomes = result.parseoutcomes()
    assert (outcomes.get("errors", 0), outcomes.get("failed", 0)) == (1, 1), result.stdout.str()
    result.stdout.fnmatch_lines(["ERROR*test_needs_the_password*", "FAILED*test_a_real_failure*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_run_configuration_advice_replaces_the_runbook_section() -> None:
    error = SettingMissing("SMOKE_USER", "environments.x.auth.username")
    assert error.advice is not None
    remedy = Remedy.run_configuration(error.advice)
    assert remedy.headline == (
        "SMOKE_USER is not set where opscheck runs: a configuration problem of this run, not of the "
        "deployment, which was not judged by this check"
    )
    assert remedy.render().startswith("Configuration of this opscheck run [opscheck]\n")
