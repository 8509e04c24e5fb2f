"""The autouse fixtures of tests/conftest.py isolate every test: from the caller's environment, and from
secrets an earlier test registered in the process-wide redactor."""

from __future__ import annotations

import pytest

from opscheck.secrets import Redactor

SECRET = "leaky-secret-4f1c9a7e"

TWO_TESTS = f"""
from opscheck.secrets import redactor

def test_registers_a_secret_and_does_not_clean_up():
    redactor().add("{SECRET}")
    assert redactor().scrub("token {SECRET}") == "token ***"

def test_the_next_test_does_not_know_it():
    assert "{SECRET}" not in redactor()
    assert redactor().scrub("token {SECRET}") == "token {SECRET}"
"""


def test_a_secret_one_test_registers_is_unknown_to_the_next(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("from tests.conftest import _isolated_redactor  # noqa: F401\n")
    pytester.makepyfile(test_two=TWO_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_restore_forgets_what_was_added_after_the_snapshot_and_keeps_the_rest() -> None:
    r = Redactor()
    r.add("kept-secret-9b2d7e11")
    r.scrub("built")  # the first secret is in an automaton, the second will be pending
    known = r.snapshot()
    r.add("added-later-5c8a3f02")
    assert r.scrub("added-later-5c8a3f02 kept-secret-9b2d7e11") == "*** ***"
    r.restore(known)
    assert r.scrub("added-later-5c8a3f02 kept-secret-9b2d7e11") == "added-later-5c8a3f02 ***"
    assert "added-later-5c8a3f02" not in r
    assert len(r) == 1
    r.add("added-later-5c8a3f02")  # can be registered again
    assert r.scrub("added-later-5c8a3f02") == "***"


def test_no_caller_variable_reaches_a_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest("from tests.conftest import _isolated_environment, _nowhere  # noqa: F401\n")
    pytester.makepyfile(
        test_env="""
import os

def test_sees_none():
    assert "DATABASE_URL" not in os.environ
    assert "GITHUB_STEP_SUMMARY" not in os.environ
    assert "PGPASSWORD" not in os.environ
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
"""
    )
    monkeypatch.setenv("DATABASE_URL", "postgresql://caller@db.example.com/app")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", "/tmp/summary")
    monkeypatch.setenv("PGPASSWORD", "caller-pg-password")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
