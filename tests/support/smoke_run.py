"""Run the shipped smoke suite against local targets and read back its summary JSON.

``write_config`` writes an ``opscheck.toml`` for one environment (named ``x``) that points at a local
target and uses the repository's example runbook; ``run_smoke`` runs the real ``suites/smoke`` with it
(in a subprocess by default) and returns a :class:`SmokeRun` whose checks are looked up by test name::

    cfg = write_config(tmp_path, base_url=server.url, database_url=pg_cluster.dsn())
    run = run_smoke(pytester, cfg, tmp_path)
    assert run.check("test_health_endpoint_is_healthy").outcome == "passed"

Healthy-app building blocks (routes for ``/api/health``, ``/`` and ``/login``) live here too, and
``SequenceRoute``, a route whose status changes from one request to the next.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import Route

__all__ = [
    "ENV",
    "HEALTHY_BODY",
    "REPO",
    "RUNBOOK",
    "SECURITY_HEADERS",
    "SMOKE_SUITE",
    "CheckView",
    "SequenceRoute",
    "SmokeRun",
    "healthy_routes",
    "html_page",
    "run_smoke",
    "write_config",
]

REPO = Path(__file__).resolve().parents[2]
SMOKE_SUITE = REPO / "suites" / "smoke"
RUNBOOK = REPO / "examples" / "RUNBOOK.md"
ENV = "x"

#: a subprocess run of the suite must finish within this (a hung run fails the test instead)
RUN_TIMEOUT_S = 90.0

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


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


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
    top: dict[str, Any] = {"base_url": base_url, "runbook": RUNBOOK, "timeout_s": timeout_s}
    if expected_version is not None:
        top["expected_version"] = expected_version
    if ca_bundle is not None:
        top["ca_bundle"] = ca_bundle
    if retries is not None:
        top["retries"] = retries
    lines = [f"[environments.{ENV}]", *(f"{k} = {_toml(v)}" for k, v in top.items()), ""]
    lines += [f"[environments.{ENV}.smoke]", *(f"{k} = {_toml(v)}" for k, v in smoke.items()), ""]
    if database_url is not None:
        lines += [f"[environments.{ENV}.database]", f"url = {_toml(database_url)}", ""]
    if redis_url is not None:
        lines += [f"[environments.{ENV}.cache]", f"redis_url = {_toml(redis_url)}", ""]
    path = directory / name
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@dataclass(frozen=True)
class CheckView:
    """One check of the summary JSON, with attribute access to the fields tests assert on."""

    data: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class SmokeRun:
    """The outcome of one run of the smoke suite."""

    result: pytest.RunResult
    summary: dict[str, Any]
    wall_s: float
    checks: dict[str, CheckView] = field(init=False)

    def __post_init__(self) -> None:
        self.checks = {c["nodeid"].split("::", 1)[1]: CheckView(c) for c in self.summary["checks"]}

    @property
    def ret(self) -> int:
        return int(self.result.ret)

    def check(self, name: str) -> CheckView:
        """A check by test name, e.g. ``test_page_answers_200[/login]``."""
        if name not in self.checks:
            raise AssertionError(
                f"no check {name!r} in the summary; have {sorted(self.checks)}\n{self.output}"
            )
        return self.checks[name]

    def outcomes(self) -> dict[str, str]:
        return {name: view.outcome for name, view in self.checks.items()}

    def others(self, *names: str) -> dict[str, str]:
        """Outcomes of every check except ``names``."""
        return {n: o for n, o in self.outcomes().items() if n not in names}

    @property
    def output(self) -> str:
        return "\n".join(self.result.outlines[-60:] + self.result.errlines[-20:])


def run_smoke(
    pytester: pytest.Pytester,
    config: Path,
    reports: Path,
    *args: str,
    in_process: bool = False,
) -> SmokeRun:
    """Run ``suites/smoke`` with ``config`` as environment ``x``; reports go to ``reports``."""
    argv = [
        str(SMOKE_SUITE),
        "--env",
        ENV,
        "--opscheck-config",
        str(config),
        "--opscheck-reports",
        str(reports),
        "-p",
        "no:cacheprovider",
        *args,
    ]
    started = time.perf_counter()
    if in_process:
        result = pytester.runpytest_inprocess(*argv)
    else:
        result = pytester.runpytest_subprocess(*argv, timeout=RUN_TIMEOUT_S)
    wall = time.perf_counter() - started
    summary_path = reports / "opscheck-summary.json"
    if not summary_path.is_file():
        tail = "\n".join(result.outlines[-40:] + result.errlines[-40:])
        raise AssertionError(f"no summary JSON at {summary_path} (exit {result.ret}):\n{tail}")
    return SmokeRun(result, json.loads(summary_path.read_text(encoding="utf-8")), wall)
