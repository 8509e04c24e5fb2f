"""opscheck: operational runbooks as executable pytest suites.

The plugin loads itself through pytest's ``pytest11`` entry point; this package's public surface is what
a team's own checks and conftest hooks use.
"""

from opscheck.config import Environment
from opscheck.context import CheckRecord
from opscheck.errors import (
    CheckFailed,
    ConfigError,
    OpscheckError,
    SectionNotConfigured,
    SettingMissing,
    TargetUnreachable,
    UsageError,
)
from opscheck.runbook import Remedy
from opscheck.secrets import Secret, redactor

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
]

__version__ = "0.1.0"
