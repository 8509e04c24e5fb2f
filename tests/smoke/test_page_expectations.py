"""Verdicts, point 4: a page that answers 200 with an error body fails. Against the real reference app
(Next.js 16, built from npm): its ``/faults/streamed-error`` page answers 200 and then throws while the body
streams; its normal pages must not be flagged (no false red). Plus ``{ path, contains, not_contains }``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opscheck.config import load_config
from opscheck.errors import ConfigError
from opscheck.smoke.pages import error_marker_in
from tests.support.hostile_http import HugeBodyServer
from tests.support.reference_apps import V4, AppFleet
from tests.support.suite_run import REPO, run_suite, write_opscheck_toml

SMOKE = REPO / "suites" / "smoke"
STREAMED_ERROR = "/faults/streamed-error"


def page_check(path: str) -> str:
    return f"test_page_answers_200[{path}]"


@pytest.fixture
def smoke_run(pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:

    def run(base_url: str, pages: list[Any], **top: Any) -> Any:
        config = write_opscheck_toml(
            tmp_path, base_url=base_url, top={"timeout_s": 10, **top}, smoke={"pages": pages}
        )
        return run_suite(pytester, SMOKE, config, tmp_path / "reports", "-k", "page_answers_200")

    return run


def test_the_real_app_s_error_pages_fail_and_its_normal_pages_pass(
    reference_apps: AppFleet, smoke_run: Any
) -> None:
    app = reference_apps.get(V4)
    pages = [
        {"path": "/", "contains": "Version:", "not_contains": "Maintenance"},
        {"path": "/login", "contains": ["Username", "Password"]},
        STREAMED_ERROR,
        {"path": "/api/health", "contains": "a phrase the health document does not have"},
    ]
    run = smoke_run(app.base_url, pages)
    outcomes = run.outcomes()
    assert outcomes[page_check("/")] == "passed", run.output
    assert outcomes[page_check("/login")] == "passed", run.output
    broken = run.check(page_check(STREAMED_ERROR))
    assert broken["outcome"] == "failed", broken
    assert "HTTP 200 with an error row in the React Server Components payload" in broken["message"]
    assert broken["metrics"]["status"] == 200
    missing = run.check(page_check("/api/health"))
    assert missing["outcome"] == "failed"
    assert "'a phrase the health document does not have' in the page" in missing["message"]


def test_not_contains_fails_the_page(smoke_run: Any, reference_apps: AppFleet) -> None:
    app = reference_apps.get(V4)
    run = smoke_run(app.base_url, [{"path": "/login", "not_contains": "Sign in"}])
    check = run.check(page_check("/login"))
    assert check["outcome"] == "failed"
    assert "expected no 'Sign in', saw 'Sign in' in the page" in check["message"]


def test_an_expectation_beyond_the_body_cap_could_not_be_verified(smoke_run: Any) -> None:
    with HugeBodyServer(3_000_000) as server:
        run = smoke_run(server.url, [{"path": "/big", "contains": "the end"}], max_body_mb=1)
    check = run.check(page_check("/big"))
    assert check["outcome"] == "error", check
    assert "could not be verified" in check["message"]
    assert "max_body_mb" in check["message"]


@pytest.mark.parametrize(
    "body",
    [
        '<!DOCTYPE html><html id="__next_error__"><head></head><body></body></html>',
        '<script>self.__next_f.push([1,"9:E{\\"digest\\":\\"1113312623\\"}\\n"])</script>',
        "<h2>Application error: a server-side exception has occurred (see the server logs)</h2>",
        '<h1 class="next-error-h1" style="display:inline-block">500</h1>',
    ],
)
def test_each_marker_is_recognised(body: str) -> None:
    assert error_marker_in(body) is not None


def test_page_tables_are_validated(tmp_path: Path) -> None:
    path = write_opscheck_toml(tmp_path, smoke={"pages": ["/", {"path": "/x", "contians": "typo"}]})
    with pytest.raises(ConfigError, match=r"unknown key environments\.x\.smoke\.pages\[1\]\.contians"):
        load_config(path, {})
    good = write_opscheck_toml(tmp_path, smoke={"pages": ["/", {"path": "/x", "contains": "a"}]})
    assert load_config(good, {}).environment("x").smoke.pages == ["/", "/x"]
