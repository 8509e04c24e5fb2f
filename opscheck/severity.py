"""Severities P0 to P3, as in the runbook's severity table."""

from __future__ import annotations

from typing import Final

__all__ = ["ALLURE_SEVERITY", "DEFAULT_SEVERITY", "SEVERITIES", "at_or_above", "describe"]

SEVERITIES: Final = ("P0", "P1", "P2", "P3")

#: a check that declares no severity is treated as the most severe: an unclassified failure blocks
#: every gate rather than passing one unnoticed
DEFAULT_SEVERITY: Final = "P0"

ALLURE_SEVERITY: Final = {"P0": "blocker", "P1": "critical", "P2": "normal", "P3": "minor"}

_DESCRIPTIONS: Final = {
    "P0": "critical: site down, respond within 15 minutes",
    "P1": "high: major feature broken, respond within 1 hour",
    "P2": "medium: feature degraded, respond within 4 hours",
    "P3": "low: minor issue, respond within 24 hours",
}


def at_or_above(severity: str, gate: str) -> bool:
    """Whether a failure of ``severity`` fails a run gated at ``gate`` (P0 is the most severe)."""
    return SEVERITIES.index(severity) <= SEVERITIES.index(gate)


def describe(severity: str) -> str:
    return _DESCRIPTIONS[severity]
