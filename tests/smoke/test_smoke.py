"""opscheck.smoke.rules: how one probe of a deployment is judged (pure functions), and the bounded version wait."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from opscheck.clients.http import OpsClient, Probe
from opscheck.errors import CheckFailed, TargetUnreachable
from opscheck.run.context import CheckRecord
from opscheck.smoke.rules import (
    SECURITY_HEADER_RULES,
    Health,
    answered,
    expect_healthy,
    expect_page_ok,
    expect_within_budget,
    maintenance_signal,
    security_header_problem,
    wait_for_version,
)
from tests.support.servers import LocalHTTPServer, Route, closed_port

BASE = "https://app.example.com"


def probe(
    path: str = "/api/health",
    *,
    status: int | None = 200,
    text: str = "",
    headers: dict[str, str] | None = None,
    latency_ms: float | None = 12.5,
    error: str | None = None,
) -> Probe:
    return Probe(
        path,
        BASE + path,
        status=status,
        latency_ms=latency_ms,
        headers=httpx.Headers(headers or {}),
        text=text,
        error=error,
    )


def unreachable(path: str = "/api/health") -> Probe:
    return probe(path, status=None, latency_ms=3.0, error="connection refused")


# -- Health.parse --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "version", "database", "maintenance"),
    [
        pytest.param(
            '{"status": "ok", "version": "v1", "database": {"status": "ok"}}',
            "ok",
            "v1",
            "ok",
            False,
            id="nested",
        ),
        pytest.param(
            '{"status": "OK", "db": "Up", "commit": "abc123"}', "ok", "abc123", "up", False, id="db-commit"
        ),
        pytest.param('{"status": "healthy", "sha": 1234}', "healthy", "1234", None, False, id="sha-number"),
        pytest.param('{"status": "maintenance"}', "maintenance", None, None, True, id="status-maintenance"),
        pytest.param('{"status": "ok", "maintenance": true}', "ok", None, None, True, id="maintenance-flag"),
        pytest.param('{"maintenance": false}', None, None, None, False, id="nothing-said"),
    ],
)
def test_health_parse_reads_the_usual_spellings(
    body: str, status: str | None, version: str | None, database: str | None, maintenance: bool
) -> None:
    health = Health.parse(probe(text=body))

    assert (health.status, health.version, health.database, health.maintenance) == (
        status,
        version,
        database,
        maintenance,
    )


def test_health_parse_rejects_a_non_json_body_with_a_short_snippet() -> None:
    page = "<html>\n  <body>" + "x" * 500 + "</body></html>"

    with pytest.raises(CheckFailed) as raised:
        Health.parse(probe(status=502, text=page))

    message = str(raised.value)
    assert "a JSON health document" in message
    assert "HTTP 502 with a non-JSON body '<html> <body>xxx" in message
    assert len(message) < 200


@pytest.mark.parametrize("body", ['["ok"]', '"ok"', "42", "null"])
def test_health_parse_rejects_json_that_is_not_an_object(body: str) -> None:
    with pytest.raises(CheckFailed, match="expected a JSON object"):
        Health.parse(probe(text=body))


# -- expect_healthy -----------------------------------------------------------------------------------


def test_expect_healthy_returns_what_the_endpoint_said() -> None:
    health = expect_healthy(probe(text='{"status": "pass", "version": "v7", "database": {"status": "ok"}}'))

    assert health.version == "v7"


@pytest.mark.parametrize(
    ("status", "text", "message"),
    [
        pytest.param(
            503, '{"status": "unavailable"}', "expected HTTP 200, saw HTTP 503 saying status 'unavailable'"
        ),
        pytest.param(500, "", "expected HTTP 200, saw HTTP 500", id="500-empty"),
        pytest.param(500, "Internal Server Error", "HTTP 500 with a non-JSON body", id="500-text"),
        pytest.param(200, "  ", "expected a JSON health document, saw an empty body", id="200-empty"),
        pytest.param(200, '{"status": "degraded"}', "health status at", id="degraded"),
        pytest.param(200, '{"version": "v1"}', "expected 'ok', saw None", id="no-status"),
        pytest.param(
            200, '{"status": "ok", "database": {"status": "error"}}', "database component", id="db-error"
        ),
        pytest.param(200, '{"status": "ok", "db": "down"}', "saw 'down'", id="db-down"),
    ],
)
def test_expect_healthy_fails_with_what_was_wrong(status: int, text: str, message: str) -> None:
    with pytest.raises(CheckFailed) as raised:
        expect_healthy(probe(status=status, text=text))

    assert message in str(raised.value)
    assert BASE + "/api/health" in str(raised.value)


# -- answered, budget, pages ---------------------------------------------------------------------------


def test_answered_records_metrics_and_retries() -> None:
    check = CheckRecord()
    seen = probe(status=200, latency_ms=41.5)
    seen.retries.append("GET /api/health: HTTP 503 (attempt 1)")

    assert answered(seen, check) is seen
    assert check.metrics == {"latency_ms": 41.5, "status": 200}
    assert check.retries == ["GET /api/health: HTTP 503 (attempt 1)"]


def test_answered_raises_unreachable_for_a_probe_that_got_no_answer() -> None:
    check = CheckRecord()

    with pytest.raises(
        TargetUnreachable, match=r"GET https://app.example.com/api/health.*connection refused"
    ):
        answered(unreachable(), check)
    assert check.metrics == {"latency_ms": 3.0}


def test_latency_budget() -> None:
    expect_within_budget(probe(latency_ms=1500), 1500)
    expect_within_budget(probe(latency_ms=None), 1)  # nothing measured: nothing to judge

    with pytest.raises(CheckFailed, match=r"expected at most 1500 ms, saw 1500.1 ms"):
        expect_within_budget(probe(latency_ms=1500.1), 1500)


def test_page_must_answer_200() -> None:
    expect_page_ok(probe("/", status=200))

    with pytest.raises(
        CheckFailed, match=r"GET https://app.example.com/gone: expected HTTP 200, saw HTTP 404$"
    ):
        expect_page_ok(probe("/gone", status=404))
    with pytest.raises(CheckFailed, match="saw HTTP 307 redirecting to /login"):
        expect_page_ok(probe("/admin", status=307, headers={"Location": "/login"}))


# -- security headers ------------------------------------------------------------------------------------

GOOD_HEADERS = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@pytest.mark.parametrize("rule", list(SECURITY_HEADER_RULES))
def test_every_rule_is_met_by_good_headers(rule: str) -> None:
    assert security_header_problem(rule, httpx.Headers(GOOD_HEADERS)) is None


def test_only_hsts_is_https_only() -> None:
    assert {rule for rule, (https_only, _) in SECURITY_HEADER_RULES.items() if https_only} == {
        "strict-transport-security"
    }


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        pytest.param({}, "no Strict-Transport-Security header", id="missing"),
        pytest.param({"Strict-Transport-Security": "max-age=86400"}, "max-age=86400", id="one-day"),
        pytest.param({"Strict-Transport-Security": "max-age=31535999"}, "31535999", id="a-second-short"),
        pytest.param(
            {"Strict-Transport-Security": "includeSubDomains"}, "includeSubDomains", id="no-max-age"
        ),
    ],
)
def test_hsts_needs_a_year(headers: dict[str, str], problem: str) -> None:
    found = security_header_problem("strict-transport-security", httpx.Headers(headers))

    assert found is not None
    assert problem in found


@pytest.mark.parametrize(
    "value", ["max-age=31536000", 'max-age="31536000"; preload', "includeSubDomains; MAX-AGE = 40000000"]
)
def test_hsts_of_a_year_or_more_passes_in_any_spelling(value: str) -> None:
    assert (
        security_header_problem(
            "strict-transport-security", httpx.Headers({"strict-transport-security": value})
        )
        is None
    )


@pytest.mark.parametrize(
    ("rule", "headers", "problem"),
    [
        ("x-content-type-options", {}, "X-Content-Type-Options: None"),
        ("x-content-type-options", {"X-Content-Type-Options": "sniff"}, "X-Content-Type-Options: sniff"),
        ("frame-ancestors", {}, "no frame-ancestors in CSP and X-Frame-Options: None"),
        ("frame-ancestors", {"X-Frame-Options": "ALLOW-FROM https://x"}, "X-Frame-Options: ALLOW-FROM"),
        ("frame-ancestors", {"Content-Security-Policy": "default-src 'self'"}, "no frame-ancestors in CSP"),
        ("referrer-policy", {"X-Frame-Options": "DENY"}, "no Referrer-Policy header"),
    ],
)
def test_header_problems_say_what_was_seen(rule: str, headers: dict[str, str], problem: str) -> None:
    found = security_header_problem(rule, httpx.Headers(headers))

    assert found is not None
    assert problem in found


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'"},
        {"X-Frame-Options": "sameorigin"},
        {"x-frame-options": " DENY "},
    ],
)
def test_framing_protection_by_csp_or_x_frame_options(headers: dict[str, str]) -> None:
    assert security_header_problem("frame-ancestors", httpx.Headers(headers)) is None


def test_nosniff_is_case_insensitive() -> None:
    assert (
        security_header_problem(
            "x-content-type-options", httpx.Headers({"x-content-type-options": "NoSniff "})
        )
        is None
    )


def test_unknown_rule_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown security header rule 'x-powered-by'"):
        security_header_problem("x-powered-by", httpx.Headers())


# -- maintenance ----------------------------------------------------------------------------------------


def test_no_maintenance_signal_from_a_healthy_deployment() -> None:
    health = probe(text='{"status": "ok"}')
    home = probe("/", text="<html>Welcome</html>")

    assert maintenance_signal(health, home) is None


@pytest.mark.parametrize(
    "body",
    ['{"status": "maintenance"}', '{"status": "ok", "maintenance": true}', '{"status": "MAINTENANCE"}'],
)
def test_health_endpoint_announces_maintenance(body: str) -> None:
    signal = maintenance_signal(probe(status=503, text=body), probe("/"))

    assert signal == f"{BASE}/api/health reports maintenance (HTTP 503)"


def test_home_page_503_with_a_maintenance_page() -> None:
    home = probe("/", status=503, text="<h1>Down for Maintenance</h1>")

    signal = maintenance_signal(probe(status=503, text="<html>busy</html>"), home)

    assert signal == f"{BASE}/ answers 503 with a maintenance page"


@pytest.mark.parametrize(
    ("health", "home"),
    [
        pytest.param(
            probe(status=503, text="Service Unavailable"), probe("/", status=503, text="Oops"), id="plain-503"
        ),
        pytest.param(
            probe(status=200, text=""), probe("/", status=200, text="maintenance tips"), id="200-mentions"
        ),
        pytest.param(unreachable(), probe("/"), id="health-unreachable"),
        pytest.param(probe(text='{"status": "ok"}'), unreachable("/"), id="home-unreachable"),
    ],
)
def test_outages_that_are_not_maintenance(health: Probe, home: Probe) -> None:
    assert maintenance_signal(health, home) is None


def test_maintenance_cannot_be_judged_when_nothing_answered() -> None:
    with pytest.raises(TargetUnreachable, match="connection refused"):
        maintenance_signal(unreachable(), unreachable("/"))


# -- wait_for_version (against a real server) ----------------------------------------------------------


def _health(version: str, key: str = "version") -> Route:
    return Route(body={"status": "ok", key: version})


def test_wait_for_version_returns_as_soon_as_it_is_deployed() -> None:
    with (
        LocalHTTPServer({"/api/health": _health("v1")}) as server,
        OpsClient(server.url, timeout_s=2) as client,
    ):
        threading.Timer(0.4, lambda: server.routes.update({"/api/health": _health("v2")})).start()
        started = time.monotonic()

        seen = wait_for_version(client, "/api/health", "v2", budget_s=10)

        assert seen == "v2"
        assert time.monotonic() - started < 3


def test_wait_for_version_is_bounded_and_returns_the_last_version_seen() -> None:
    with (
        LocalHTTPServer({"/api/health": _health("v1")}) as server,
        OpsClient(server.url, timeout_s=2) as client,
    ):
        started = time.monotonic()

        seen = wait_for_version(client, "/api/health", "v2", budget_s=1)

        elapsed = time.monotonic() - started
    assert seen == "v1"
    assert 0.9 < elapsed < 3
    assert len(server.requests) >= 3  # it polled, it did not ask once and give up


@pytest.mark.parametrize("key", ["commit", "sha"])
def test_wait_for_version_reads_the_same_keys_as_the_health_check(key: str) -> None:
    with (
        LocalHTTPServer({"/api/health": _health("3f2a9c1", key)}) as server,
        OpsClient(server.url, timeout_s=2) as client,
    ):
        assert wait_for_version(client, "/api/health", "3f2a9c1", budget_s=1) == "3f2a9c1"


@pytest.mark.parametrize(
    "route", [Route(body="<html>deploying</html>"), Route(body=["v2"]), Route(status=404)]
)
def test_wait_for_version_sees_none_in_an_unusable_answer(route: Route) -> None:
    with (
        LocalHTTPServer({"/api/health": route}) as server,
        OpsClient(server.url, timeout_s=2, attempts=1) as client,
    ):
        assert wait_for_version(client, "/api/health", "v2", budget_s=0.3) is None


def test_wait_for_version_raises_when_the_target_stays_unreachable() -> None:
    with OpsClient(f"http://127.0.0.1:{closed_port()}", timeout_s=2, attempts=1) as client:
        started = time.monotonic()
        with pytest.raises(TargetUnreachable, match="connection refused"):
            wait_for_version(client, "/api/health", "v2", budget_s=0.5)
    assert time.monotonic() - started < 3
