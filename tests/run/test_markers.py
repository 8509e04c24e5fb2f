"""Unit tests of opscheck.run.markers: binding the ``runbook`` marker's arguments into a CheckSpec."""

from __future__ import annotations

from typing import Any

import pytest

from opscheck.run.markers import MARKERS, CheckSpec, InvalidMarker, check_spec, is_destructive
from opscheck.severity import DEFAULT_SEVERITY, SEVERITIES
from tests.support.project import run_project, staging_and_production_config


class FakeItem:
    """Just enough of a pytest item for the marker helpers: its markers by name."""

    def __init__(self, *marks: pytest.MarkDecorator) -> None:
        self.marks = {decorator.mark.name: decorator.mark for decorator in marks}

    def get_closest_marker(self, name: str) -> pytest.Mark | None:
        return self.marks.get(name)


def spec_of(*marks: pytest.MarkDecorator) -> CheckSpec:
    item: Any = FakeItem(*marks)
    return check_spec(item)


def test_positional_section_and_severity_bind() -> None:
    assert spec_of(pytest.mark.runbook("site-down-p0", severity="P0")) == CheckSpec("site-down-p0", "P0")


def test_section_by_keyword_binds() -> None:
    assert (
        spec_of(pytest.mark.runbook(section="tls-certificates", severity="P1")).section == "tls-certificates"
    )


def test_severity_is_required_so_no_check_slips_under_a_gate_unnoticed() -> None:
    with pytest.raises(InvalidMarker, match="severity"):
        spec_of(pytest.mark.runbook("performance-degradation"))


@pytest.mark.parametrize("severity", SEVERITIES)
def test_every_severity_is_accepted(severity: str) -> None:
    assert spec_of(pytest.mark.runbook("x", severity=severity)).severity == severity


def test_declared_marker_is_declared() -> None:
    assert spec_of(pytest.mark.runbook("x", severity="P1")).declared is True


def test_missing_marker_gives_undeclared_most_severe_spec() -> None:
    spec = spec_of()
    assert spec == CheckSpec(None, DEFAULT_SEVERITY, declared=False)
    assert spec.severity == "P0"


@pytest.mark.parametrize("severity", ["P4", "p1", "critical", "", 1])
def test_bad_severity_is_invalid(severity: object) -> None:
    with pytest.raises(InvalidMarker, match="runbook severity must be one of P0, P1, P2, P3") as excinfo:
        spec_of(pytest.mark.runbook("site-down-p0", severity=severity))
    assert repr(severity) in str(excinfo.value)


def test_unknown_keyword_is_invalid_naming_it() -> None:
    with pytest.raises(InvalidMarker, match="sevrity"):
        spec_of(pytest.mark.runbook("site-down-p0", sevrity="P0"))


def test_positional_severity_is_invalid() -> None:
    with pytest.raises(InvalidMarker, match="too many positional arguments"):
        spec_of(pytest.mark.runbook("site-down-p0", "P0"))


def test_missing_section_is_invalid() -> None:
    with pytest.raises(InvalidMarker, match="missing a required argument: 'section'"):
        spec_of(pytest.mark.runbook(severity="P0"))


@pytest.mark.parametrize("section", ["", None, 3])
def test_section_that_is_not_a_slug_is_invalid(section: object) -> None:
    with pytest.raises(InvalidMarker, match="runbook section must be a non-empty heading slug"):
        spec_of(pytest.mark.runbook(section, severity="P0"))


def test_invalid_marker_message_shows_expected_signature() -> None:
    with pytest.raises(InvalidMarker, match=r"expected runbook\(section, \*, severity='P0'..'P3'\)"):
        spec_of(pytest.mark.runbook("x", level="P0"))


def test_destructive_marker_is_detected() -> None:
    item: Any = FakeItem(pytest.mark.destructive)
    assert is_destructive(item) is True


def test_check_without_destructive_marker_is_not_destructive() -> None:
    item: Any = FakeItem(pytest.mark.runbook("x", severity="P0"))
    assert is_destructive(item) is False


@pytest.mark.parametrize("name", ["runbook", "destructive"])
def test_marker_help_starts_with_its_signature(name: str) -> None:
    assert MARKERS[name].startswith(name)


# -- destructive: enforced on every collected item, not only on opscheck's checks ---------------------------
PLAIN_DESTRUCTIVE = """
import pathlib, pytest

pytestmark = pytest.mark.destructive

def test_truncates_a_table():  # no opscheck fixture, no runbook marker: still refused
    pathlib.Path("wrote-to-the-target").touch()

class TestCleanup:
    def test_drops_a_schema(self):
        pathlib.Path("wrote-to-the-target").touch()
"""


def test_a_destructive_test_without_opscheck_fixtures_is_refused_in_production(
    pytester: pytest.Pytester,
) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_plain=PLAIN_DESTRUCTIVE)
    result = run_project(pytester, "--env", "production")
    result.assert_outcomes(deselected=2)
    assert not (pytester.path / "wrote-to-the-target").exists()
    result.stdout.fnmatch_lines(
        [
            "opscheck: environment production * target *production: checks marked destructive are refused*",
            "*2 destructive check(s) deselected*",
        ]
    )
    assert "nothing destructive" not in result.stdout.str()


def test_a_destructive_test_without_opscheck_fixtures_needs_allow_destructive_outside_production(
    pytester: pytest.Pytester,
) -> None:
    staging_and_production_config(pytester)
    pytester.makepyfile(test_plain=PLAIN_DESTRUCTIVE)
    run_project(pytester, "--env", "staging").assert_outcomes(deselected=2)
    assert not (pytester.path / "wrote-to-the-target").exists()
    run_project(pytester, "--env", "staging", "--allow-destructive").assert_outcomes(passed=2)
    assert (pytester.path / "wrote-to-the-target").exists()


def test_without_an_environment_there_is_no_target_and_the_marker_is_left_alone(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_plain=PLAIN_DESTRUCTIVE)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
