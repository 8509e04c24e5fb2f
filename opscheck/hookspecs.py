"""Hooks opscheck calls, for a team's ``conftest.py`` or plugin to implement."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from opscheck.config import Environment
    from opscheck.runbook import Remedy

__all__ = ["pytest_opscheck_remediation", "pytest_opscheck_secrets"]


def pytest_opscheck_remediation(item: pytest.Item, report: pytest.TestReport, remediation: Remedy) -> None:
    """Called once for every failed or errored check, in the process that ran it.

    :param item: the check.
    :param report: its (already redacted) report of the phase that failed; ``report.opscheck`` holds the
        check's result as it goes into the summary JSON (severity, message, metrics, ...).
    :param remediation: the runbook section (or built-in advice) that says what to do.

    Use it to page someone, post to chat or trigger a rollback. Anything it raises is reported as a
    warning; it never changes the check's outcome. Any conftest or plugin may implement it.
    """


def pytest_opscheck_secrets(config: pytest.Config, environment: Environment) -> Iterable[str]:
    """Return further secret values that no output may contain (opscheck already knows credential keys,
    secret-looking environment variables, URL passwords and session cookies).

    :param config: the pytest config.
    :param environment: the selected environment's settings.

    Called once at start-up, in every process (xdist workers included). Any conftest or plugin may
    implement it; all results are used.
    """
    return ()
