"""A secret inside a parametrized check id under xdist: the id is scrubbed for every report, and the
workers still hand the controller ids it can match to its items (no INTERNALERROR)."""

from __future__ import annotations

import pytest

from tests.support.project import all_output_text, summary
from tests.support.suite_run import write_opscheck_toml

TOKEN = "xd-7c1f0a9e4b2d6f8a3c5e"

CHECKS = """
import os
import pytest

@pytest.mark.runbook("site-down-p0", severity="P0")
@pytest.mark.parametrize("path", ["/status?access_token=" + os.environ["STATUS_API_TOKEN"], "/plain"])
def test_page(path):
    assert "plain" in path, "status page answered 503 (expected 200)"
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_secret_in_a_check_id_is_scrubbed_with_and_without_xdist(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    monkeypatch.setenv("STATUS_API_TOKEN", TOKEN)  # a secret-named variable: the redactor knows it
    write_opscheck_toml(pytester.path, env="staging")
    pytester.makepyfile(test_checks=CHECKS)
    reports = pytester.path / "reports"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--opscheck-reports", str(reports), "--env", "staging", "-n", workers, "-rA"
    )
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output, output[-3000:]
    assert result.ret == 1
    assert TOKEN not in output
    assert TOKEN not in all_output_text(reports)
    outcomes = sorted(check["outcome"] for check in summary(reports)["checks"])
    assert outcomes == ["failed", "passed"]
