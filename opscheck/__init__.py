"""opscheck: operational runbooks as executable pytest suites.

The plugin loads itself through pytest's ``pytest11`` entry point; this package's public surface is what
a team's own checks and conftest hooks use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opscheck.config import Environment
from opscheck.errors import (
    CheckFailed,
    ConfigError,
    OpscheckError,
    SectionNotConfigured,
    SettingMissing,
    TargetUnreachable,
    UsageError,
)
from opscheck.run.context import CheckRecord
from opscheck.runbook import Remedy
from opscheck.secrets import Secret, redactor

if TYPE_CHECKING:
    import pytest

    from opscheck.run.session import OpscheckSession

__all__ = [
    "CheckFailed",
    "CheckRecord",
    "ConfigError",
    "Environment",
    "OpscheckError",
    "Remedy",
    "Secret",
    "SectionNotConfigured",
    "SettingMissing",
    "TargetUnreachable",
    "UsageError",
    "redactor",
    "run_state",
]


def run_state(config: pytest.Config) -> OpscheckSession | None:
    """The run's opscheck session (the selected environment, its settings, the results so far), for a
    team's own ``conftest.py`` hooks; None before the plugin configured the run or with ``-p no:opscheck``."""
    from opscheck.run.session import state  # noqa: PLC0415 - importing the package stays cheap: the session pulls in the reporters

    return state(config)


__version__ = "0.1.0"
