"""The run's verdict: opscheck may make pytest's exit status stricter, never looser.

Every path by which pytest says "failed" while opscheck has no failing check of its own at or above the gate
is tried here through a real pytest run: a worker killed under xdist, a plain failing test with no opscheck
marker, a module that fails to import under ``--continue-on-collection-errors``. The one loosening opscheck
allows (failures of checks below the gate) is tried too, so the rule is seen to bite only where it should.
"""

from __future__ import annotations

import pytest

from opscheck.run.verdict import exit_status
from tests.support.project import checks_by_name, run_project, staging_and_production_config, summary


def _project(pytester: pytest.Pytester, checks: str) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_checks=checks)


def _run(pytester: pytest.Pytester, *args: str, subprocess: bool = False) -> pytest.RunResult:
    if subprocess:
        reports = str(pytester.path / "reports")
        return pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--opscheck-reports", reports, "--env", "staging", *args, timeout=120
        )
    return run_project(pytester, "--env", "staging", *args)


PASSING = """
@pytest.mark.runbook("1-deployment", severity="P1")
def test_passes_one():
    pass

@pytest.mark.runbook("1-deployment", severity="P1")
def test_passes_two():
    pass
"""

WORKER_KILLED = (
    """
import os, signal, pytest

@pytest.fixture(scope="session")
def fragile_library():
    os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer or a segfault in a C library does

@pytest.mark.runbook("security-headers", severity="P3")
def test_uses_the_fragile_library(fragile_library):
    pass
"""
    + PASSING
)


def test_a_worker_killed_during_a_session_fixture_fails_the_run(pytester: pytest.Pytester) -> None:
    _project(pytester, WORKER_KILLED)
    result = _run(pytester, "-n", "2", subprocess=True)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    data = summary(pytester.path / "reports")
    assert data["exit_status"] == 1
    crashed = checks_by_name(data)["test_uses_the_fragile_library"]
    assert crashed["outcome"] == "error"
    assert crashed["severity"] == "P0"
    assert crashed["below_gate"] is False
    assert "crashed" in crashed["message"]
    assert data["counts"]["error"] == 1
    result.stdout.fnmatch_lines(["FAIL: 1 check(s) at or above gate P3 failed*"])
    assert "PASS" not in "\n".join(line for line in result.outlines if line.startswith("PASS"))


def test_a_worker_killed_fails_the_run_whatever_the_gate(pytester: pytest.Pytester) -> None:
    _project(pytester, WORKER_KILLED)
    result = _run(pytester, "-n", "2", "--gate", "P0", subprocess=True)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    assert (
        checks_by_name(summary(pytester.path / "reports"))["test_uses_the_fragile_library"]["severity"]
        == "P0"
    )


def test_a_plain_failing_test_without_an_opscheck_marker_keeps_exit_1(pytester: pytest.Pytester) -> None:
    _project(pytester, "import pytest\n" + PASSING + "\ndef test_plain():\n    assert 1 == 2\n")
    result = _run(pytester, "--gate", "P0")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    data = summary(pytester.path / "reports")
    assert data["exit_status"] == 1
    plain = checks_by_name(data)["test_plain"]
    assert (plain["outcome"], plain["severity"], plain["below_gate"]) == ("error", "P0", False)
    assert plain["message"] == "assert 1 == 2 (no opscheck result: counted as an error at P0)"
    result.stdout.fnmatch_lines(["FAIL: 1 check(s) at or above gate P0 failed*"])


def test_a_module_that_fails_to_import_keeps_a_non_zero_exit(pytester: pytest.Pytester) -> None:
    _project(pytester, "import pytest\n" + PASSING)
    pytester.makepyfile(test_broken="import no_such_module_anywhere\n")
    result = _run(pytester, "--continue-on-collection-errors")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    data = summary(pytester.path / "reports")
    assert data["exit_status"] == 1
    broken = next(c for c in data["checks"] if c["nodeid"] == "test_broken.py")
    assert (broken["outcome"], broken["severity"]) == ("error", "P0")
    assert "no_such_module_anywhere" in broken["message"]


def test_failures_below_the_gate_alone_still_pass(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        "import pytest\n"
        + PASSING
        + '\n@pytest.mark.runbook("security-headers", severity="P3")\ndef test_minor():\n    assert False\n',
    )
    result = _run(pytester, "--gate", "P1")
    assert result.ret == pytest.ExitCode.OK
    assert summary(pytester.path / "reports")["exit_status"] == 0


def test_a_below_gate_failure_does_not_hide_a_plain_failure(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        "import pytest\n"
        + PASSING
        + '\n@pytest.mark.runbook("security-headers", severity="P3")\ndef test_minor():\n    assert False\n'
        + "\ndef test_plain():\n    assert False\n",
    )
    result = _run(pytester, "--gate", "P1")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    checks = checks_by_name(summary(pytester.path / "reports"))
    assert checks["test_minor"]["below_gate"] is True
    assert checks["test_plain"]["below_gate"] is False


@pytest.mark.parametrize("stop", [("-x",), ("--maxfail", "1")])
def test_stopping_early_after_a_below_gate_failure_does_not_pass_the_unrun_gate(
    pytester: pytest.Pytester, stop: tuple[str, ...]
) -> None:
    _project(
        pytester,
        "import pytest\n"
        + '@pytest.mark.runbook("security-headers", severity="P3")\ndef test_a_minor():\n    assert False\n'
        + '\n@pytest.mark.runbook("1-deployment", severity="P0")\ndef test_b_site_up():\n    assert False\n',
    )
    result = _run(pytester, "--gate", "P0", *stop)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    data = summary(pytester.path / "reports")
    assert data["exit_status"] == 1
    assert "test_b_site_up" not in checks_by_name(data)  # it never ran: nothing may say the gate passed
    stopped = checks_by_name(data)["<pytest session>"]
    assert (stopped["outcome"], stopped["severity"]) == ("error", "P0")
    assert "stopped early" in stopped["message"]
    assert "did not run" in stopped["message"]
    result.stdout.no_fnmatch_line("*PASS: every check*")


# -- the rule itself, path by path ----------------------------------------------------------------------
OK, FAILED = pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize(
    ("pytest_status", "failures", "forgiven", "gate_failed", "expected"),
    [
        (OK, 0, 0, False, OK),
        (OK, 0, 0, True, FAILED),  # a check that never finished, a flaky one under --fail-on-flaky
        (FAILED, 2, 2, False, OK),  # only failures of checks below the gate
        (FAILED, 3, 2, False, FAILED),  # one failure opscheck cannot attribute
        (FAILED, 2, 2, True, FAILED),
        (FAILED, 0, 0, False, FAILED),  # pytest failed the session without a failed report
        (pytest.ExitCode.INTERRUPTED, 1, 1, False, pytest.ExitCode.INTERRUPTED),
        (pytest.ExitCode.INTERNAL_ERROR, 0, 0, False, pytest.ExitCode.INTERNAL_ERROR),
        (pytest.ExitCode.USAGE_ERROR, 0, 0, False, pytest.ExitCode.USAGE_ERROR),
        (pytest.ExitCode.NO_TESTS_COLLECTED, 0, 0, False, pytest.ExitCode.NO_TESTS_COLLECTED),
    ],
)
def test_exit_status_is_never_looser_than_pytests(
    pytest_status: int, failures: int, forgiven: int, gate_failed: bool, expected: int
) -> None:
    status = exit_status(pytest_status, pytest_failures=failures, forgiven=forgiven, gate_failed=gate_failed)
    assert status == expected
    assert status != OK or pytest_status == OK or forgiven >= failures > 0
