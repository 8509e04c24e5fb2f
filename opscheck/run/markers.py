"""The ``runbook`` and ``destructive`` markers: registration and validation.

A marker's arguments are validated by binding them to the signature of a function that documents it,
so a typo is an error naming the test, not a silently ignored keyword.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import pytest

from opscheck.severity import DEFAULT_SEVERITY, SEVERITIES

__all__ = ["MARKERS", "CheckSpec", "InvalidMarker", "check_spec", "is_destructive"]


class InvalidMarker(Exception):
    """A marker is used with arguments it does not accept."""


@dataclass(frozen=True)
class CheckSpec:
    """What a check declares: the runbook section it verifies and the severity of its failure."""

    section: str | None
    severity: str
    declared: bool = True


def runbook(section: str, *, severity: str) -> CheckSpec:
    """runbook(section, *, severity): the runbook section (heading slug, e.g. "site-down-p0")
    whose procedure a failure of this check calls for, and its severity P0..P3."""
    if not isinstance(section, str) or not section:
        raise InvalidMarker(f"runbook section must be a non-empty heading slug, got {section!r}")
    if severity not in SEVERITIES:
        raise InvalidMarker(f"runbook severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    return CheckSpec(section, severity)


def destructive() -> None:
    """destructive: the check writes to its target; deselected unless --allow-destructive, and never
    run against an environment with production = true."""


MARKERS = {
    "runbook": "runbook(section, *, severity): the runbook section (heading slug, e.g. 'site-down-p0') "
    "whose procedure a failure of this check calls for, and its severity P0..P3",
    "destructive": "destructive: the check writes to its target; deselected unless --allow-destructive, "
    "and never run against an environment with production = true",
}


def check_spec(item: pytest.Item) -> CheckSpec:
    """The item's declared spec; raise InvalidMarker when the marker's arguments do not bind."""
    marker = item.get_closest_marker("runbook")
    if marker is None:
        return CheckSpec(None, DEFAULT_SEVERITY, declared=False)
    signature = inspect.signature(runbook)
    unknown = sorted(set(marker.kwargs) - set(signature.parameters))
    if unknown:
        raise InvalidMarker(
            f"runbook marker: unexpected keyword {unknown[0]!r} (expected runbook(section, *, severity='P0'..'P3'))"
        )
    try:
        bound = signature.bind(*marker.args, **marker.kwargs)
    except TypeError as exc:
        raise InvalidMarker(
            f"runbook marker: {exc} (expected runbook(section, *, severity='P0'..'P3'))"
        ) from None
    return runbook(*bound.args, **bound.kwargs)


def is_destructive(item: pytest.Item) -> bool:
    return item.get_closest_marker("destructive") is not None
