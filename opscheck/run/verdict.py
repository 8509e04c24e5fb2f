"""The run's exit status: opscheck may make pytest's stricter, never looser.

This is the one place where opscheck decides the exit status. pytest's own status is the floor:

* ``OK`` becomes ``TESTS_FAILED`` when a check at or above the gate failed (e.g. a check that never
  finished, or a flaky check under ``--fail-on-flaky``);
* ``TESTS_FAILED`` becomes ``OK`` only when *every* failure pytest counted is a failure of an opscheck check
  below the gate: a crashed xdist worker, a plain failing test, a module that failed to import, or anything
  else opscheck cannot attribute keeps the run failed;
* every other status (interrupted, internal error, usage error, nothing collected) is kept as it is.

A failed report that carries no opscheck result is counted as an error at the highest severity (see
:func:`unattributed_result`), so the summary and the terminal verdict agree with the exit status.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from opscheck.secrets import redactor
from opscheck.severity import SEVERITIES

__all__ = [
    "UNATTRIBUTED_SEVERITY",
    "UNEXPLAINED_NODEID",
    "exit_status",
    "unattributed_result",
    "unexplained_result",
]

#: a failure opscheck cannot attribute to a check blocks every gate
UNATTRIBUTED_SEVERITY = SEVERITIES[0]
#: the summary entry of a failed pytest status that no report explains
UNEXPLAINED_NODEID = "<pytest session>"
_MESSAGE_LIMIT = 600
#: the ``E   `` pytest puts before the lines of an exception in a long report
_ERROR_PREFIX = re.compile(r"^E\s+")


def exit_status(
    pytest_status: int, *, pytest_failures: int, forgiven: int, gate_failed: bool, stopped_early: bool = False
) -> int:
    """The run's exit status from pytest's and opscheck's verdicts.

    ``pytest_failures`` is the number of failed reports pytest counted (``session.testsfailed``),
    ``forgiven`` how many of them are failures of opscheck checks below the gate, ``gate_failed`` whether
    any check at or above the gate failed or errored, ``stopped_early`` whether ``-x``/``--maxfail`` ended
    the run after a failure (checks at the gate may not have run: nothing is forgiven).
    """
    if pytest_status == pytest.ExitCode.OK:
        return int(pytest.ExitCode.TESTS_FAILED if gate_failed else pytest.ExitCode.OK)
    if pytest_status == pytest.ExitCode.TESTS_FAILED:
        every_failure_forgiven = 0 < pytest_failures <= forgiven and not stopped_early
        if every_failure_forgiven and not gate_failed:
            return int(pytest.ExitCode.OK)
        return int(pytest.ExitCode.TESTS_FAILED)
    return int(pytest_status)


def unattributed_result(report: pytest.TestReport | pytest.CollectReport) -> dict[str, Any]:
    """The summary data of a failed report that carries no opscheck result: an error at P0."""
    return {
        "severity": UNATTRIBUTED_SEVERITY,
        "kind": "error",
        "message": f"{_seen(report)} (no opscheck result: counted as an error at {UNATTRIBUTED_SEVERITY})",
    }


def stopped_early_result(reason: str) -> dict[str, Any]:
    """The summary data of a run ``-x``/``--maxfail`` ended after failures below the gate: an error at P0."""
    return {
        "severity": UNATTRIBUTED_SEVERITY,
        "kind": "error",
        "message": (
            f"the run stopped early ({reason}: -x/--maxfail) after failures below the gate, so the checks "
            f"after them did not run and the gate is not proven: counted as an error at {UNATTRIBUTED_SEVERITY}"
        ),
    }


def unexplained_result(pytest_failures: int) -> dict[str, Any]:
    """The summary data of a failed pytest status that no failed report of a check at the gate explains
    (e.g. another plugin failed the session): an error at P0, so the verdict line says FAIL too."""
    return {
        "severity": UNATTRIBUTED_SEVERITY,
        "kind": "error",
        "message": (
            f"pytest failed the session ({pytest_failures} failure(s) counted) for a reason opscheck cannot "
            f"attribute to a check: counted as an error at {UNATTRIBUTED_SEVERITY}"
        ),
    }


def _seen(report: pytest.TestReport | pytest.CollectReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = str(getattr(crash, "message", "") or "").strip()
    if not text:  # a report already scrubbed to text: its first exception line, else its last line
        lines = [line for line in report.longreprtext.splitlines() if line.strip()]
        errors = [line for line in lines if _ERROR_PREFIX.match(line)]
        text = _ERROR_PREFIX.sub("", errors[0]) if errors else lines[-1].strip() if lines else "failed"
    text = redactor().scrub(text.splitlines()[0] if text else "failed")
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"
