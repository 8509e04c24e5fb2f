"""The opscheck exception tree.

Every problem opscheck reports is one of these; the plugin turns them into concise, secret-free
check results (no traceback dump) with the runbook section to follow::

    OpscheckError
    ├── UsageError                  bad option or environment name (pytest exit 4)
    │   └── ConfigError             opscheck.toml is malformed, has an unknown key or a wrong type
    ├── SettingMissing              a `${VAR}` the check needs is unset        -> outcome "error"
    ├── SectionNotConfigured        the environment lacks a config section     -> outcome "skipped"
    ├── TargetUnreachable           connection refused, DNS, timeout, TLS      -> outcome "error"
    └── CheckFailed                 the target answered, with the wrong thing  -> outcome "failed"

A target that cannot be reached is an *error*; a target that answers wrongly is a *failure*.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CheckFailed",
    "ConfigError",
    "OpscheckError",
    "SectionNotConfigured",
    "SettingMissing",
    "TargetUnreachable",
    "UsageError",
]


class OpscheckError(Exception):
    """Base class of everything opscheck raises on purpose."""

    #: outcome this error gives a check in opscheck's reports
    outcome = "error"
    #: advice that replaces the runbook section's remediation: set when the problem is the run's own
    #: configuration (an unset variable, a key pointing at nothing), where deployment advice would mislead
    advice: str | None = None
    #: advice specific to this problem, shown before the runbook section's (which it does not replace)
    lead: str | None = None
    #: severity that overrides the check's own (a problem of the whole deployment, not of the check); None
    #: keeps the check's
    severity: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its class, arguments and attributes (subclasses' ``__init__`` take other arguments),
        so a step's result holding an error can be handed to another process."""
        return (_rebuild, (type(self), self.args, dict(vars(self))))


def _rebuild(cls: type[OpscheckError], args: tuple[Any, ...], attributes: dict[str, Any]) -> OpscheckError:
    error = cls.__new__(cls, *args)
    error.args = args
    vars(error).update(attributes)
    return error


class UsageError(OpscheckError):
    """The command line or environment selection is wrong (pytest exit status 4)."""


class ConfigError(UsageError):
    """The configuration file cannot be used; the message names the file, line or key."""


class SettingMissing(OpscheckError):
    """A value the check needs comes from an environment variable that is not set."""

    def __init__(self, variable: str, key: str, *, empty: bool = False) -> None:
        self.variable = variable
        self.key = key
        state = "is empty, which counts as not set" if empty else "is not set"
        super().__init__(f"{variable} {state} ({key})")
        self.advice = (
            f"{variable} {'is empty' if empty else 'is not set'} where opscheck runs: a configuration problem of "
            f"this run, not of the deployment, which was not judged by this check. Set {variable} in the "
            f"environment that runs opscheck (a CI secret, or export it in your shell), or change {key} in "
            "opscheck.toml."
        )


class SectionNotConfigured(OpscheckError):
    """The selected environment does not configure what this check verifies: the check is skipped."""

    outcome = "skipped"

    def __init__(self, key: str, environment: str) -> None:
        self.key = key
        self.environment = environment
        super().__init__(f"{key} is not configured for environment {environment!r}")


class CheckFailed(OpscheckError, AssertionError):
    """The target answered, but not as the runbook expects.

    ``checked`` names the thing, ``expected`` the runbook's expectation, ``seen`` what was observed.
    """

    outcome = "failed"

    def __init__(self, checked: str, expected: str, seen: str) -> None:
        self.checked = checked
        self.expected = expected
        self.seen = seen
        super().__init__(f"{checked}: expected {expected}, saw {seen}")


class TargetUnreachable(OpscheckError):
    """The target could not be reached at all (refused, DNS failure, timeout, TLS handshake)."""

    def __init__(self, checked: str, reason: str) -> None:
        self.checked = checked
        self.reason = reason
        super().__init__(f"{checked}: could not be reached ({reason})")
