"""The shipped smoke suite against real local targets: passes when the target is right, and fails with
the right outcome, severity and runbook section when it is broken.

Each test runs the real ``suites/smoke`` (mostly in a subprocess, as CI does) against LocalHTTPServer,
a throwaway PostgreSQL cluster and, where needed, a local Redis, then reads ``opscheck-summary.json``.
A run costs about a second, so most runs assert several checks at once.
"""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

# httpx imports httpcore lazily and caches its exception classes: import it here, so that the in-process
# run below does not import a second copy that httpx's cached mapping would not know
import httpcore  # noqa: F401
import psycopg
import pytest

from opscheck.clients.postgres import connect_readonly
from opscheck.restore.servers.local import LocalCluster
from tests.support.certs import IssuedCert, LocalPKI
from tests.support.servers import LocalHTTPServer, Route, closed_port, silent_tcp_server
from tests.support.smoke_run import (
    CACHE,
    DATABASE,
    FRAMING,
    HEADER_CHECKS,
    HEALTH,
    HEALTHY_BODY,
    HSTS,
    MAINTENANCE,
    NOSNIFF,
    PAGE_CHECKS,
    REFERRER,
    TLS,
    VERSION,
    SequenceRoute,
    healthy_routes,
    html_page,
    page_fast,
    page_ok,
    run_smoke,
    write_config,
)
from tests.support.suite_run import SuiteRun

if TYPE_CHECKING:
    from tests.support.redis_server import RedisServer

pytest_plugins = ["tests.support.redis_server"]

# -- runbook sections of examples/RUNBOOK.md ---------------------------------------------------------
SITE_DOWN = "Site Down (P0)"
PERFORMANCE = "Performance Degradation"
DEPLOYMENT = "1. Deployment"
CACHE_SECTION = "4. Cache Management"
DATABASE_SECTION = "Database Connection Errors"
TLS_SECTION = "TLS Certificates"
HEADERS_SECTION = "Security Headers"
MAINTENANCE_SECTION = "Scheduled Maintenance"

#: what a healthy http target with a database (and nothing else configured) gives
HEALTHY_VERDICTS: dict[str, str] = {
    HEALTH: "passed",
    DATABASE: "passed",
    MAINTENANCE: "passed",
    **dict.fromkeys(PAGE_CHECKS, "passed"),
    **dict.fromkeys(HEADER_CHECKS, "passed"),
    HSTS: "skipped",
    TLS: "skipped",
    CACHE: "skipped",
    VERSION: "skipped",
}


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    return tmp_path / "reports"


def assert_check(
    run: SuiteRun,
    name: str,
    outcome: str,
    *,
    severity: str | None = None,
    section: str | None = None,
    says: tuple[str, ...] = (),
    below_gate: bool = False,
) -> dict[str, Any]:
    """One check's verdict, with its runbook section and remediation when it did not pass."""
    check = run.check(name)
    context = f"{name}: {json.dumps(check, indent=1)}\n--- output ---\n{run.output}"
    assert check["outcome"] == outcome, context
    if severity is not None:
        assert check["severity"] == severity, context
    if section is not None:
        assert check["runbook_section"] == section, context
        assert check["remediation"], context
        assert check["remediation_headline"], context
    for text in says:
        assert text.lower() in (check["message"] or "").lower(), context
    if outcome in {"failed", "error"}:
        assert check["below_gate"] is below_gate, context
    return check


def assert_unaffected(run: SuiteRun, expected: dict[str, str], *affected: str) -> None:
    """Every check not named in ``affected`` has the outcome ``expected`` gives it."""
    want = {name: outcome for name, outcome in expected.items() if name not in affected}
    have = {name: run.outcomes().get(name) for name in want}
    assert have == want, run.output


# -- 1. healthy ------------------------------------------------------------------------------------


def test_healthy_http_target_passes_every_check_or_skips_with_a_reason(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path, pg_cluster: LocalCluster
) -> None:
    with LocalHTTPServer(healthy_routes()) as server:
        config = write_config(tmp_path, server.url, database_url=pg_cluster.dsn())
        run = run_smoke(pytester, config, reports)

    assert run.ret == 0, run.output
    assert run.summary["exit_status"] == 0
    assert run.summary["environment"] == "x"
    assert run.summary["interrupted"] is False
    assert run.outcomes() == HEALTHY_VERDICTS
    assert not any(check.flaky for check in run.checks.values())
    skipped = {name: run.check(name).message for name, o in HEALTHY_VERDICTS.items() if o == "skipped"}
    assert "not https" in skipped[TLS]
    assert "only applies to https" in skipped[HSTS]
    assert "cache" in skipped[CACHE]
    assert "not configured" in skipped[CACHE]
    assert "expected_version is not set" in skipped[VERSION]
    assert run.check(HEALTH).metrics["version"] == "v1"
    assert run.check(HEALTH).metrics["status"] == 200
    assert run.check(DATABASE).metrics["server_version"].startswith(str(pg_cluster.major))
    summary_text = (reports / "opscheck-summary.json").read_text()
    assert pg_cluster.password not in summary_text
    assert (reports / "junit.xml").is_file()


# -- 2. unhealthy health endpoint --------------------------------------------------------------------

UNHEALTHY = {
    "503": (Route(status=503, body={"status": "unavailable"}), {}, ("HTTP 503", "unavailable")),
    "500": (Route(status=500, body="Internal Server Error"), {}, ("500",)),
    "not-json": (Route(body="<html><body>It works!</body></html>"), {}, ("non-JSON", "It works")),
    "degraded": (Route(body={**HEALTHY_BODY, "status": "degraded"}), {}, ("health status", "'degraded'")),
    "database-error": (
        Route(body={**HEALTHY_BODY, "database": {"status": "error"}}),
        {},
        ("database component", "'error'"),
    ),
    "slow": (Route(body=HEALTHY_BODY, delay_s=1.2), {"max_latency_ms": 500}, ("latency", "at most 500 ms")),
}


@pytest.mark.parametrize("variant", list(UNHEALTHY))
def test_unhealthy_health_endpoint_fails_the_site_down_check(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path, variant: str
) -> None:
    route, smoke, message = UNHEALTHY[variant]
    with LocalHTTPServer(healthy_routes(extra={"/api/health": route})) as server:
        config = write_config(tmp_path, server.url, **smoke)
        run = run_smoke(pytester, config, reports)

    assert run.ret == 1, run.output
    assert run.summary["exit_status"] == 1
    assert_check(run, HEALTH, "failed", severity="P0", section=SITE_DOWN, says=("/api/health", *message))
    assert "Roll back" in run.check(HEALTH).remediation
    expected = {**HEALTHY_VERDICTS, DATABASE: "skipped"}
    assert_unaffected(run, expected, HEALTH)


# -- 3. and 4. unreachable targets ---------------------------------------------------------------------


def test_target_down_errors_every_network_check_quickly(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path
) -> None:
    config = write_config(
        tmp_path,
        f"http://127.0.0.1:{closed_port()}",
        database_url=f"postgresql://opscheck:pw-for-a-dead-db@127.0.0.1:{closed_port()}/app",
        redis_url=f"redis://127.0.0.1:{closed_port()}/0",
        expected_version="v1",
        timeout_s=2,
        version_wait_s=1,
    )
    run = run_smoke(pytester, config, reports)

    assert run.ret == 1, run.output
    for name in (HEALTH, *PAGE_CHECKS):
        assert_check(run, name, "error", says=("connection refused",))
    assert_check(run, HEALTH, "error", severity="P0", section=SITE_DOWN)
    assert_check(run, MAINTENANCE, "error", severity="P1", says=("connection refused",))
    for name in HEADER_CHECKS:
        assert_check(run, name, "error", severity="P3", says=("connection refused",))
    assert_check(run, VERSION, "error", severity="P1", section=DEPLOYMENT, says=("connection refused",))
    assert_check(run, DATABASE, "error", severity="P0", section=DATABASE_SECTION, says=("refused",))
    assert_check(run, CACHE, "error", severity="P2", section=CACHE_SECTION, says=("refused",))
    assert run.check(TLS).outcome == "skipped"
    assert run.check(HSTS).outcome == "skipped"
    assert "pw-for-a-dead-db" not in (reports / "opscheck-summary.json").read_text()
    # refused connections are retried (bounded), never waited on
    assert run.summary["duration_s"] < 8, run.summary["duration_s"]
    assert run.wall_s < 20, run.wall_s


def test_blackholed_target_costs_one_timeout(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path
) -> None:
    with silent_tcp_server() as port:
        config = write_config(tmp_path, f"http://127.0.0.1:{port}", timeout_s=1)
        run = run_smoke(pytester, config, reports)

    assert run.ret == 1, run.output
    for name in (HEALTH, *PAGE_CHECKS):
        assert_check(run, name, "error", says=("timeout",))
    assert_check(run, HEALTH, "error", severity="P0", section=SITE_DOWN)
    assert_check(run, MAINTENANCE, "error")
    for name in HEADER_CHECKS:
        assert_check(run, name, "error")
    # every probe ran concurrently and timed out once: about one second, not pages x attempts x timeout
    assert run.summary["duration_s"] < 5, run.summary["duration_s"]
    assert run.wall_s < 15, run.wall_s


RESOLVER_FAILURES = {
    "no-such-name": socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
    "resolver-down": socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
}


@pytest.mark.parametrize("failure", list(RESOLVER_FAILURES))
def test_dns_failure_is_an_error_saying_the_lookup_failed(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    error = RESOLVER_FAILURES[failure]
    real_getaddrinfo = socket.getaddrinfo
    looked_up: list[str] = []

    def fake_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        looked_up.append(name)
        if name.endswith(".invalid"):
            raise socket.gaierror(*error.args)  # no query ever leaves this machine
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    sigterm = signal.getsignal(signal.SIGTERM)
    config = write_config(tmp_path, "http://app.invalid", timeout_s=2)
    try:
        run = run_smoke(pytester, config, reports, in_process=True)
    finally:
        signal.signal(signal.SIGTERM, sigterm)  # the in-process run installs its own handler

    assert "app.invalid" in looked_up
    assert run.ret == 1, run.output
    for name in (HEALTH, *PAGE_CHECKS, *HEADER_CHECKS, MAINTENANCE):
        assert_check(run, name, "error", says=("DNS lookup failed",))
    assert_check(run, HEALTH, "error", severity="P0", section=SITE_DOWN, says=("app.invalid",))


# -- 6. and 11. wrong version, wrong database password ---------------------------------------------------


def test_wrong_version_and_rejected_database_login_fail_their_checks(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path, pg_cluster: LocalCluster
) -> None:
    wrong_password = "not-the-cluster-password"
    with LocalHTTPServer(healthy_routes(version="v1")) as server:
        config = write_config(
            tmp_path,
            server.url,
            database_url=pg_cluster.dsn(password=wrong_password),
            expected_version="v2",
            version_wait_s=1,
        )
        run = run_smoke(pytester, config, reports)

    assert run.ret == 1, run.output
    check = assert_check(run, VERSION, "failed", severity="P1", section=DEPLOYMENT, says=("'v2'", "'v1'"))
    assert check["metrics"]["version"] == "v1"
    assert_check(
        run,
        DATABASE,
        "failed",
        severity="P0",
        section=DATABASE_SECTION,
        says=("password authentication failed",),
    )
    assert "DATABASE_URL" in run.check(DATABASE).remediation
    assert wrong_password not in (reports / "opscheck-summary.json").read_text()
    assert_unaffected(run, HEALTHY_VERDICTS, VERSION, DATABASE)


# -- 7. and 8. pages and security headers -----------------------------------------------------------------


def test_broken_pages_fail_by_name_and_slow_pages_fail_the_budget(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path
) -> None:
    routes = healthy_routes(
        extra={
            "/": html_page("Home", headers={}),
            "/moved": Route(status=302, headers={"Location": "/login"}),
            "/slow": Route(body="<html>slow</html>", delay_s=1.2),
        }
    )
    pages = ["/", "/login", "/gone", "/moved", "/slow"]
    with LocalHTTPServer(routes) as server:
        config = write_config(tmp_path, server.url, pages=pages, max_latency_ms=500)
        run = run_smoke(pytester, config, reports)

    assert run.ret == 1, run.output
    assert_check(
        run, page_ok("/gone"), "failed", severity="P1", section=SITE_DOWN, says=("/gone", "HTTP 404")
    )
    assert_check(
        run,
        page_ok("/moved"),
        "failed",
        severity="P1",
        section=SITE_DOWN,
        says=("/moved", "HTTP 302", "redirecting to /login"),
    )
    assert_check(
        run,
        page_fast("/slow"),
        "failed",
        severity="P1",
        section=PERFORMANCE,
        says=("/slow", "at most 500 ms"),
    )
    assert run.check(page_fast("/slow")).metrics["latency_ms"] >= 1200
    failing_headers = {
        NOSNIFF: "x-content-type-options",
        FRAMING: "x-frame-options",
        REFERRER: "referrer-policy",
    }
    for name, header in failing_headers.items():
        assert_check(run, name, "failed", severity="P3", section=HEADERS_SECTION, says=(header,))
    passing = [page_ok("/"), page_ok("/login"), page_ok("/slow"), *(page_fast(p) for p in pages[:4])]
    assert {name: run.check(name).outcome for name in passing} == dict.fromkeys(passing, "passed")
    assert_check(run, HEALTH, "passed")
    assert_check(run, MAINTENANCE, "passed")


def test_missing_security_headers_fail_separately_below_a_p2_gate(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path
) -> None:
    # wrong nosniff value, no framing protection, no Referrer-Policy; the right version is deployed
    home = html_page("Home", headers={"X-Content-Type-Options": "sniff"})
    with LocalHTTPServer(healthy_routes(extra={"/": home})) as server:
        config = write_config(tmp_path, server.url, expected_version="v1", version_wait_s=5)
        run = run_smoke(pytester, config, reports, "--gate", "P2")

    assert run.ret == 0, run.output
    assert run.summary["gate"] == "P2"
    assert run.summary["exit_status"] == 0
    says = {
        NOSNIFF: ("X-Content-Type-Options: sniff",),
        FRAMING: ("X-Frame-Options: None",),
        REFERRER: ("no Referrer-Policy header",),
    }
    for name, message in says.items():
        assert_check(
            run, name, "failed", severity="P3", section=HEADERS_SECTION, says=message, below_gate=True
        )
    assert_check(run, VERSION, "passed")
    assert run.check(VERSION).metrics["version"] == "v1"
    assert_unaffected(run, {**HEALTHY_VERDICTS, DATABASE: "skipped", VERSION: "passed"}, *HEADER_CHECKS)
    assert "below the gate" in run.result.stdout.str()


# -- 9. maintenance ------------------------------------------------------------------------------------


def test_maintenance_mode_fails_its_check(pytester: pytest.Pytester, tmp_path: Path, reports: Path) -> None:
    health = Route(status=503, body={"status": "maintenance", "maintenance": True})
    with LocalHTTPServer(healthy_routes(extra={"/api/health": health})) as server:
        config = write_config(tmp_path, server.url)
        run = run_smoke(pytester, config, reports)

    assert run.ret == 1, run.output
    assert_check(
        run,
        MAINTENANCE,
        "failed",
        severity="P1",
        section=MAINTENANCE_SECTION,
        says=("/api/health reports maintenance", "HTTP 503"),
    )
    assert_check(run, HEALTH, "failed", severity="P0", section=SITE_DOWN, says=("HTTP 503", "maintenance"))
    assert_unaffected(run, {**HEALTHY_VERDICTS, DATABASE: "skipped"}, MAINTENANCE, HEALTH)


# -- 10. TLS ---------------------------------------------------------------------------------------------

BAD_CERTIFICATES = {
    "expired": (LocalPKI.expired, ("certificate has expired",)),
    "wrong-host": (LocalPKI.wrong_host, ("hostname mismatch", "other.example")),
    "untrusted": (LocalPKI.untrusted, ("untrusted issuer", LocalPKI.UNTRUSTED_CA_NAME)),
}


@pytest.fixture
def pki(tmp_path: Path) -> LocalPKI:
    return LocalPKI(tmp_path / "pki")


def run_https(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path, cert: IssuedCert, **settings: Any
) -> SuiteRun:
    with LocalHTTPServer(healthy_routes(), ssl_context=cert.server_context) as server:
        config = write_config(tmp_path, server.url, ca_bundle=cert.ca_bundle, **settings)
        return run_smoke(pytester, config, reports)


def test_https_target_with_a_valid_certificate_passes_tls_and_hsts(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path, pki: LocalPKI
) -> None:
    run = run_https(pytester, tmp_path, reports, pki.valid(), expected_version="v1", version_wait_s=5)

    assert run.ret == 0, run.output
    assert_check(run, TLS, "passed")
    assert run.check(TLS).metrics["days_left"] > 80
    assert "opscheck test CA" in run.check(TLS).metrics["issuer"]
    assert_check(run, HSTS, "passed")
    assert_unaffected(
        run, {**HEALTHY_VERDICTS, DATABASE: "skipped", VERSION: "passed", TLS: "passed", HSTS: "passed"}
    )


def test_certificate_expiring_soon_fails_with_the_days_left(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path, pki: LocalPKI
) -> None:
    run = run_https(pytester, tmp_path, reports, pki.expiring(days_left=5), tls_min_days=14)

    assert run.ret == 1, run.output
    assert_check(
        run, TLS, "failed", severity="P1", section=TLS_SECTION, says=("at least 14 days", "days left")
    )
    assert 4 < run.check(TLS).metrics["days_left"] <= 5
    # the site itself still works over this certificate
    assert_unaffected(run, {**HEALTHY_VERDICTS, DATABASE: "skipped", HSTS: "passed"}, TLS)


@pytest.mark.parametrize("variant", list(BAD_CERTIFICATES))
def test_bad_certificate_fails_tls_and_makes_the_site_unreachable(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path, pki: LocalPKI, variant: str
) -> None:
    issue, says = BAD_CERTIFICATES[variant]
    run = run_https(pytester, tmp_path, reports, issue(pki))

    assert run.ret == 1, run.output
    # the certificate could be read (over a second, non-verifying handshake): a wrong answer, so "failed"
    assert_check(run, TLS, "failed", severity="P1", section=TLS_SECTION, says=says)
    # an https client refuses the certificate: the site cannot be reached
    for name in (HEALTH, *PAGE_CHECKS, MAINTENANCE, HSTS, *HEADER_CHECKS):
        assert_check(run, name, "error", says=("TLS verification failed",))
    assert_check(run, HEALTH, "error", severity="P0", section=SITE_DOWN)


def test_plain_http_on_an_https_url_is_a_tls_error(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path, pki: LocalPKI
) -> None:
    with LocalHTTPServer(healthy_routes()) as server:
        config = write_config(
            tmp_path, f"https://localhost:{server.port}", ca_bundle=pki.ca_bundle, timeout_s=3
        )
        run = run_smoke(pytester, config, reports)

    assert run.ret == 1, run.output
    # no certificate was ever presented: the handshake itself failed, so the check errors
    assert_check(run, TLS, "error", severity="P1", section=TLS_SECTION, says=("TLS handshake failed",))
    assert_check(run, HEALTH, "error", severity="P0", section=SITE_DOWN, says=("TLS handshake failed",))


# -- 11. the database is opened read-only ------------------------------------------------------------


def test_database_session_refuses_writes(pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as admin:
        admin.execute("CREATE TABLE orders (id int)")
    conn = connect_readonly(pg_database, timeout_s=5)
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="read-only transaction"):
            conn.execute("CREATE TABLE intruder (id int)")
        conn.rollback()
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="read-only transaction"):
            conn.execute("INSERT INTO orders VALUES (1)")
        conn.rollback()
        # twice over: the session default is read-only even outside psycopg's READ ONLY transactions ...
        conn.autocommit = True
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO orders VALUES (2)")
        # ... and psycopg's read_only still holds if a statement switches the session default off
        conn.execute("SET default_transaction_read_only = off")
        conn.autocommit = False
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO orders VALUES (3)")
        conn.rollback()
    finally:
        conn.close()
    with psycopg.connect(pg_database) as admin:
        assert admin.execute("SELECT count(*) FROM orders").fetchone() == (0,)
        assert admin.execute("SELECT to_regclass('intruder')").fetchone() == (None,)


# -- 12. cache ---------------------------------------------------------------------------------------


def test_cache_check_passes_and_fails_on_a_wrong_password(
    pytester: pytest.Pytester, tmp_path: Path, redis_server: RedisServer
) -> None:
    expected = {**HEALTHY_VERDICTS, DATABASE: "skipped", CACHE: "passed"}
    with LocalHTTPServer(healthy_routes()) as server:
        good = write_config(tmp_path, server.url, redis_url=redis_server.url(), name="good.toml")
        reachable = run_smoke(pytester, good, tmp_path / "good")
        bad = write_config(
            tmp_path, server.url, redis_url=redis_server.url("wrong-redis-pw"), name="bad.toml"
        )
        rejected = run_smoke(pytester, bad, tmp_path / "bad")

    assert reachable.ret == 0, reachable.output
    assert_check(reachable, CACHE, "passed")
    assert reachable.check(CACHE).metrics["latency_ms"] >= 0
    assert_unaffected(reachable, expected)

    assert rejected.ret == 1, rejected.output
    assert_check(
        rejected, CACHE, "failed", severity="P2", section=CACHE_SECTION, says=("credentials to be accepted",)
    )
    assert_unaffected(rejected, expected, CACHE)
    for directory in ("good", "bad"):
        text = (tmp_path / directory / "opscheck-summary.json").read_text()
        assert redis_server.password not in text
        assert "wrong-redis-pw" not in text


# -- 13. xdist ---------------------------------------------------------------------------------------


def test_xdist_run_gives_the_same_verdicts_and_one_summary(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path, pg_cluster: LocalCluster
) -> None:
    with LocalHTTPServer(healthy_routes()) as server:
        config = write_config(tmp_path, server.url, database_url=pg_cluster.dsn())
        run = run_smoke(pytester, config, reports, "-n", "2")

    assert run.ret == 0, run.output
    assert "2 workers" in run.result.stdout.str()
    assert run.summary["exit_status"] == 0
    assert len(run.summary["checks"]) == len(HEALTHY_VERDICTS)
    assert run.outcomes() == HEALTHY_VERDICTS
    assert run.summary["counts"]["passed"] == list(HEALTHY_VERDICTS.values()).count("passed")
    assert sorted(p.name for p in reports.glob("*.json")) == ["opscheck-summary.json"]


# -- 14. flaky -----------------------------------------------------------------------------------------


@pytest.fixture
def flaky_health() -> Iterator[LocalHTTPServer]:
    """A healthy app whose health endpoint answers 503 once, then 200."""
    route = SequenceRoute([503, 200], body=HEALTHY_BODY)
    with LocalHTTPServer(healthy_routes(extra={"/api/health": route})) as server:
        yield server


def test_check_that_passed_after_a_retry_is_flaky(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path, flaky_health: LocalHTTPServer
) -> None:
    config = write_config(tmp_path, flaky_health.url)
    run = run_smoke(pytester, config, reports)

    assert run.ret == 0, run.output
    check = assert_check(run, HEALTH, "passed")
    assert check["flaky"] is True
    assert any("HTTP 503" in retry for retry in check["retries"]), check
    assert run.summary["counts"]["flaky"] == 1
    assert_unaffected(run, {**HEALTHY_VERDICTS, DATABASE: "skipped"})


def test_fail_on_flaky_fails_the_run(
    pytester: pytest.Pytester, tmp_path: Path, reports: Path, flaky_health: LocalHTTPServer
) -> None:
    config = write_config(tmp_path, flaky_health.url)
    run = run_smoke(pytester, config, reports, "--fail-on-flaky")

    assert run.ret == 1, run.output
    check = assert_check(run, HEALTH, "failed", severity="P0", section=SITE_DOWN, says=("retry", "HTTP 503"))
    assert check["flaky"] is True
    assert_unaffected(run, {**HEALTHY_VERDICTS, DATABASE: "skipped"}, HEALTH)
