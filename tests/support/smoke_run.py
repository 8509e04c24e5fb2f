"""Local smoke targets, and the smoke suite's config, for :mod:`tests.support.suite_run`.

``write_config`` writes an ``opscheck.toml`` for one environment (named ``x``) that points at a local
target and uses the repository's example runbook; ``run_smoke`` is ``run_suite`` of ``suites/smoke``::

    cfg = write_config(tmp_path, base_url=server.url, database_url=pg_cluster.dsn())
    run = run_smoke(pytester, cfg, tmp_path)
    assert run.check("test_health_endpoint_is_healthy").outcome == "passed"

The suite's check names (``HEALTH``, ``page_ok("/")``, …) are here for every test that reads its verdicts.
Healthy-app building blocks (routes for ``/api/health``, ``/`` and ``/login``) live here too, and
``SequenceRoute``, a route whose status changes from one request to the next.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import Route
from tests.support.suite_run import ENV, REPO, RUNBOOK, SMOKE_SUITE, SuiteRun, run_suite, write_opscheck_toml

__all__ = [
    "CACHE",
    "DATABASE",
    "ENV",
    "FRAMING",
    "HEADER_CHECKS",
    "HEALTH",
    "HEALTHY_BODY",
    "HSTS",
    "MAINTENANCE",
    "NOSNIFF",
    "PAGE_CHECKS",
    "REFERRER",
    "REPO",
    "RUNBOOK",
    "SECURITY_HEADERS",
    "SMOKE_SUITE",
    "TLS",
    "VERSION",
    "SequenceRoute",
    "healthy_routes",
    "html_page",
    "page_fast",
    "page_ok",
    "run_smoke",
    "write_config",
]

# -- check names (test ids inside suites/smoke) ------------------------------------------------------
HEALTH = "test_health_endpoint_is_healthy"
VERSION = "test_deployed_version_is_expected"
MAINTENANCE = "test_maintenance_mode_is_off"
DATABASE = "test_database_answers_read_only"
CACHE = "test_cache_answers_ping"
TLS = "test_tls_certificate_is_valid"
HSTS = "test_security_header_is_set[strict-transport-security]"
NOSNIFF = "test_security_header_is_set[x-content-type-options]"
FRAMING = "test_security_header_is_set[frame-ancestors]"
REFERRER = "test_security_header_is_set[referrer-policy]"
HEADER_CHECKS = (NOSNIFF, FRAMING, REFERRER)


def page_ok(path: str) -> str:
    return f"test_page_answers_200[{path}]"


def page_fast(path: str) -> str:
    return f"test_page_answers_within_budget[{path}]"


PAGE_CHECKS = (page_ok("/"), page_ok("/login"), page_fast("/"), page_fast("/login"))


HEALTHY_BODY: dict[str, Any] = {"status": "ok", "version": "v1", "database": {"status": "ok"}}

SECURITY_HEADERS: dict[str, str] = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def html_page(title: str, *, headers: dict[str, str] | None = None, status: int = 200) -> Route:
    """An HTML page; with the four security headers unless ``headers`` says otherwise."""
    chosen = dict(SECURITY_HEADERS if headers is None else headers)
    chosen.setdefault("Content-Type", "text/html; charset=utf-8")
    body = f"<!doctype html><html><head><title>{title}</title></head><body>{title}</body></html>"
    return Route(status=status, body=body, headers=chosen)


def healthy_routes(version: str = "v1", extra: dict[str, Route] | None = None) -> dict[str, Route]:
    """``/api/health``, ``/`` and ``/login`` of a healthy app; ``extra`` replaces or adds paths."""
    routes = {
        "/api/health": Route(body={**HEALTHY_BODY, "version": version}),
        "/": html_page("Home"),
        "/login": html_page("Sign in"),
    }
    routes.update(extra or {})
    return routes


class SequenceRoute(Route):
    """A route that answers ``statuses[i]`` to its i-th request (the last one from then on).

    The server calls ``render()`` before it reads ``status``, once per request, so the status is
    advanced there. Thread-safe; ``calls`` counts the requests served.
    """

    def __init__(self, statuses: list[int], body: Any = b"", headers: dict[str, str] | None = None) -> None:
        super().__init__(status=statuses[0], body=body, headers=dict(headers or {}))
        self._statuses = list(statuses)
        self._lock = threading.Lock()
        self.calls = 0

    def render(self) -> tuple[bytes, dict[str, str]]:
        with self._lock:
            self.status = self._statuses[min(self.calls, len(self._statuses) - 1)]
            self.calls += 1
        return super().render()


def write_config(
    directory: Path,
    base_url: str,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    expected_version: str | None = None,
    ca_bundle: str | Path | None = None,
    timeout_s: float = 5,
    retries: int | None = None,
    name: str = "opscheck.toml",
    **smoke: Any,
) -> Path:
    """Write an ``opscheck.toml`` with environment ``x`` for ``base_url`` and return its path.

    ``smoke`` keys go into ``[environments.x.smoke]`` (``pages``, default ``["/", "/login"]``,
    ``max_latency_ms``, ...); the database
    and cache sections are written only when their URL is given.
    """
    smoke.setdefault("pages", ["/", "/login"])
    top: dict[str, Any] = {"timeout_s": timeout_s}
    if expected_version is not None:
        top["expected_version"] = expected_version
    if ca_bundle is not None:
        top["ca_bundle"] = ca_bundle
    if retries is not None:
        top["retries"] = retries
    database = None if database_url is None else {"url": database_url}
    cache = None if redis_url is None else {"redis_url": redis_url}
    return write_opscheck_toml(
        directory, base_url=base_url, name=name, top=top, smoke=smoke, database=database, cache=cache
    )


def run_smoke(
    pytester: pytest.Pytester, config: Path, reports: Path, *args: str, in_process: bool = False
) -> SuiteRun:
    """``run_suite`` of ``suites/smoke`` with ``config`` as environment ``x``; reports go to ``reports``."""
    return run_suite(pytester, SMOKE_SUITE, config, reports, *args, in_process=in_process)
