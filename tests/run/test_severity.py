"""Unit tests of opscheck.severity: the order of P0..P3 and what a gate lets through."""

from __future__ import annotations

import pytest

from opscheck.severity import ALLURE_SEVERITY, DEFAULT_SEVERITY, SEVERITIES, at_or_above, describe


def test_severities_run_from_most_to_least_severe() -> None:
    assert SEVERITIES == ("P0", "P1", "P2", "P3")


@pytest.mark.parametrize(
    ("severity", "gate", "fails_run"),
    [
        ("P0", "P0", True),
        ("P1", "P0", False),
        ("P0", "P1", True),
        ("P1", "P1", True),
        ("P2", "P1", False),
        ("P3", "P1", False),
        ("P2", "P3", True),
        ("P3", "P3", True),
    ],
)
def test_at_or_above(severity: str, gate: str, fails_run: bool) -> None:
    assert at_or_above(severity, gate) is fails_run


@pytest.mark.parametrize("severity", SEVERITIES)
def test_default_gate_p3_lets_nothing_through(severity: str) -> None:
    assert at_or_above(severity, "P3") is True


def test_undeclared_checks_count_as_most_severe() -> None:
    assert DEFAULT_SEVERITY == "P0"


def test_allure_severity_mapping_follows_contract() -> None:
    assert ALLURE_SEVERITY == {"P0": "blocker", "P1": "critical", "P2": "normal", "P3": "minor"}


@pytest.mark.parametrize(("severity", "words"), [("P0", "site down"), ("P3", "minor issue")])
def test_describe(severity: str, words: str) -> None:
    assert words in describe(severity)
