"""Paging across runs: Slack, PagerDuty Events v2 and the generic webhook get a trigger when a check starts
failing, nothing while it keeps failing, and a resolve when it passes again. Payloads are validated against
JSON schemas written from the services' documented fields and limits, on a local HTTP server."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import jsonschema
import pytest

from opscheck.reporting.paging import Change, WebhookNotifier
from opscheck.run.results import CheckResult
from tests.support.hostile_http import STALLS, DribblingServer, StallingServer
from tests.support.project import REPO, summary
from tests.support.servers import LocalHTTPServer, RecordedRequest, Route, silent_tcp_server
from tests.support.suite_run import write_opscheck_toml

SCHEMAS = REPO / "tests" / "support" / "schemas"
ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"

CHECKS = """
import os
import pytest

@pytest.mark.runbook("site-down-p0", severity="P0")
def test_health():
    assert os.environ.get("OPSCHECK_TEST_FAIL") != "1", "GET /api/health returned 503 (expected 200)"

@pytest.mark.runbook("security-headers", severity="P3")
def test_headers_below_min_severity():
    assert os.environ.get("OPSCHECK_TEST_FAIL") != "1", "no Referrer-Policy"

@pytest.mark.runbook("1-deployment", severity="P1")
def test_always_passes():
    pass
"""


def _schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return data


def _project(pytester: pytest.Pytester, notify: dict[str, Any]) -> None:
    write_opscheck_toml(pytester.path, env="staging", notify=notify)
    pytester.makepyfile(test_checks=CHECKS)


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *, fail: bool) -> pytest.RunResult:
    monkeypatch.setenv("OPSCHECK_TEST_FAIL", "1" if fail else "0")
    reports = pytester.path / "reports"
    return pytester.runpytest(
        "-p", "no:cacheprovider", "--opscheck-reports", str(reports), "--env", "staging"
    )


def _posts(server: LocalHTTPServer, path: str) -> list[dict[str, Any]]:
    requests: list[RecordedRequest] = [r for r in server.requests if r.method == "POST" and r.path == path]
    return [json.loads(r.body) for r in requests]


def test_trigger_then_silence_then_resolve_on_every_notifier(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = {
        "/slack": Route(status=200, body="ok"),
        "/pd": Route(status=202, body={"status": "success", "message": "Event processed"}),
        "/hook": Route(status=204),
    }
    with LocalHTTPServer(routes) as server:
        _project(
            pytester,
            {
                "webhook_url": f"{server.url}/hook",
                "slack_webhook_url": f"{server.url}/slack",
                "pagerduty_routing_key": ROUTING_KEY,
                "pagerduty_url": f"{server.url}/pd",
                "min_severity": "P1",
            },
        )
        assert _run(pytester, monkeypatch, fail=True).ret == 1
        first = {path: _posts(server, path) for path in routes}
        server.clear_requests()
        assert _run(pytester, monkeypatch, fail=True).ret == 1
        second = {path: _posts(server, path) for path in routes}
        server.clear_requests()
        assert _run(pytester, monkeypatch, fail=False).ret == 0
        third = {path: _posts(server, path) for path in routes}
        server.clear_requests()
        assert _run(pytester, monkeypatch, fail=False).ret == 0
        fourth = {path: _posts(server, path) for path in routes}

    # run 1: one page per notifier, only for the P0 check (the P3 one is below min_severity)
    (pd_trigger,) = first["/pd"]
    jsonschema.validate(pd_trigger, _schema("pagerduty_event_v2.json"))
    assert pd_trigger["event_action"] == "trigger"
    assert pd_trigger["routing_key"] == ROUTING_KEY
    assert pd_trigger["payload"]["severity"] == "critical"
    assert "503" in pd_trigger["payload"]["summary"]
    assert (
        pd_trigger["payload"]["custom_details"]["what_to_do"]
        == "Roll back to the last known good deployment."
    )
    (slack_trigger,) = first["/slack"]
    jsonschema.validate(slack_trigger, _schema("slack_incoming_webhook.json"))
    slack_text = json.dumps(slack_trigger)
    assert "test_health" in slack_text
    assert "Roll back to the last known good deployment." in slack_text
    assert "Site Down (P0)" in slack_text
    (hook_trigger,) = first["/hook"]
    assert hook_trigger["event"] == "trigger"
    assert hook_trigger["check"] == "test_checks.py::test_health"
    # run 2: still failing, nobody is paged again
    assert second == {"/slack": [], "/pd": [], "/hook": []}
    # run 3: it passes again: the same incident is resolved
    (pd_resolve,) = third["/pd"]
    jsonschema.validate(pd_resolve, _schema("pagerduty_event_v2.json"))
    assert pd_resolve == {
        "routing_key": ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": pd_trigger["dedup_key"],
    }
    (slack_resolve,) = third["/slack"]
    jsonschema.validate(slack_resolve, _schema("slack_incoming_webhook.json"))
    assert "Resolved" in slack_resolve["text"]
    assert [p["event"] for p in third["/hook"]] == ["resolve"]
    assert third["/hook"][0]["dedup_key"] == hook_trigger["dedup_key"] == pd_trigger["dedup_key"]
    # run 4: nothing open, nothing to say
    assert fourth == {"/slack": [], "/pd": [], "/hook": []}
    # the routing key is a credential: it appears in no report
    reports = pytester.path / "reports"
    for path in reports.rglob("*"):
        if path.is_file():
            assert ROUTING_KEY not in path.read_text(errors="replace"), path


def test_a_notifier_that_fails_is_reported_and_retried_next_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = {"/pd": Route(status=500, body="boom")}
    with LocalHTTPServer(routes) as server:
        _project(pytester, {"pagerduty_routing_key": ROUTING_KEY, "pagerduty_url": f"{server.url}/pd"})
        result = _run(pytester, monkeypatch, fail=True)
        assert result.ret == 1
        result.stdout.fnmatch_lines(
            ["*page: FAILED pagerduty: trigger test_checks.py::test_health*HTTP 500*"]
        )
        entries = summary(pytester.path / "reports")["publishing"]
        assert [(e["destination"], e["ok"]) for e in entries] == [("pagerduty", False)]
        routes["/pd"] = Route(status=202, body={"status": "success"})
        server.clear_requests()
        assert _run(pytester, monkeypatch, fail=True).ret == 1
        (retried,) = _posts(server, "/pd")
    assert retried["event_action"] == "trigger"


@pytest.mark.parametrize("stage", ["silent", "headers", "body"])
def test_a_hung_or_dribbling_notifier_is_abandoned_within_its_timeout(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    with contextlib.ExitStack() as stack:
        if stage == "silent":
            url = f"http://127.0.0.1:{stack.enter_context(silent_tcp_server())}"
        else:
            url = stack.enter_context(DribblingServer(stage=stage, interval_s=0.3)).url
        _project(pytester, {"slack_webhook_url": f"{url}/slack", "timeout_s": 1})
        started = time.monotonic()
        result = _run(pytester, monkeypatch, fail=True)
        elapsed = time.monotonic() - started
    assert result.ret == 1
    assert elapsed < 15, f"the run took {elapsed:.1f} s"
    (entry,) = summary(pytester.path / "reports")["publishing"]
    assert entry["ok"] is False
    assert "no complete answer within notify.timeout_s" in entry["detail"]


@pytest.mark.parametrize("stall", list(STALLS))
def test_a_receiver_that_goes_silent_anywhere_is_no_complete_answer(stall: str) -> None:
    """A delivery reads 'no complete answer within notify.timeout_s' whichever point of its answer the
    receiver stops at."""
    change = Change("trigger", "staging", CheckResult("test_checks.py::test_health", "failed"))
    with StallingServer(STALLS[stall]) as server:
        url = server.url.replace("http:", "https:") if "TLS" in stall else server.url
        started = time.monotonic()
        with pytest.raises(RuntimeError) as caught:
            WebhookNotifier(f"{url}/hook", timeout_s=1).send(change)
    assert time.monotonic() - started < 2.5
    assert str(caught.value) == "webhook post failed: no complete answer within notify.timeout_s"
