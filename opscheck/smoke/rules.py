"""What the smoke suite expects of a deployment, as functions that raise with a clear message.

The suite probes the health endpoint and every page concurrently once per run (see
:meth:`opscheck.clients.http.OpsClient.probe_many`); the functions here judge one probe each, so every page
keeps its own verdict while the whole gate costs about one round trip.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from opscheck.clients.bounded import BodyTooLarge
from opscheck.clients.http import OpsClient, Probe
from opscheck.errors import CheckFailed, OpscheckError, TargetUnreachable
from opscheck.run.context import CheckRecord
from opscheck.secrets import clip
from opscheck.smoke.pages import PageExpectation, error_marker_in

__all__ = [
    "SECURITY_HEADER_RULES",
    "Health",
    "NoHealthEndpoint",
    "NoHealthPathForVersion",
    "answered",
    "expect_healthy",
    "expect_page_ok",
    "expect_within_budget",
    "maintenance_signal",
    "security_header_problem",
    "wait_for_version",
]

_OK_STATUSES = {"ok", "healthy", "up", "pass", "green"}
_HSTS_MIN_AGE = 31_536_000


def answered(probe: Probe, check: CheckRecord | None = None) -> Probe:
    """The probe, if the target answered at all; TargetUnreachable otherwise. Records its metrics."""
    __tracebackhide__ = True
    if check is not None:
        check.retries.extend(probe.retries)
        if probe.latency_ms is not None:
            check.metric("latency_ms", probe.latency_ms)
        if probe.status is not None:
            check.metric("status", probe.status)
    if probe.error is not None:
        raise TargetUnreachable(f"GET {probe.url}", probe.error)
    return probe


@dataclass(frozen=True)
class Health:
    """What a health endpoint said about itself."""

    status: str | None
    version: str | None
    database: str | None
    maintenance: bool
    body: dict[str, Any]

    @classmethod
    def parse(cls, probe: Probe) -> Health:
        try:
            body = json.loads(probe.text)
        except ValueError:
            snippet = re.sub(r"\s+", " ", clip(probe.text, 80))
            raise CheckFailed(
                f"GET {probe.url}",
                "a JSON health document",
                f"HTTP {probe.status} with a non-JSON body {snippet!r}",
            ) from None
        if not isinstance(body, dict):
            raise CheckFailed(
                f"GET {probe.url}", "a JSON object", f"{type(body).__name__} {clip(str(body), 60)!r}"
            )
        database = body.get("database", body.get("db"))
        if isinstance(database, dict):
            database = database.get("status")
        status = body.get("status")
        return cls(
            status=str(status).lower() if status is not None else None,
            version=_version_of(body),
            database=str(database).lower() if database is not None else None,
            maintenance=bool(body.get("maintenance")) or str(status).lower() == "maintenance",
            body=body,
        )


def _string(value: Any) -> str | None:
    return None if value is None else str(value)


def _version_of(body: dict[str, Any]) -> str | None:
    """The deployed version a health document reports: ``version``, else ``commit``, else ``sha``."""
    return _string(body.get("version") or body.get("commit") or body.get("sha"))


class NoHealthEndpoint(CheckFailed):
    """The configured health path answers 404: there is no health endpoint there (a setting to fix, not a
    deployment to roll back)."""

    def __init__(self, probe: Probe, path: str) -> None:
        super().__init__(
            f"GET {probe.url}",
            "the app's health endpoint",
            f"HTTP 404: there is no health endpoint at {path} (set smoke.health_path to the app's health "
            "endpoint, or smoke.health_path = false if it has none)",
        )
        self.advice = (
            f"There is no health endpoint at {path}: set smoke.health_path to the app's health endpoint, or "
            "smoke.health_path = false if the app has none (the pages are still checked). If the endpoint "
            "should exist, check that this deployment still ships it."
        )


class NoHealthPathForVersion(OpscheckError):
    """``expected_version`` is set, but ``smoke.health_path = false``: there is nowhere to read it from."""

    advice = (
        "expected_version is set but smoke.health_path = false: the deployed version is read from the health "
        "endpoint. Point smoke.health_path at an endpoint that reports the version, or leave expected_version "
        "empty for this environment."
    )

    def __init__(self) -> None:
        super().__init__(
            "expected_version is set, but smoke.health_path = false: there is no health endpoint to read the "
            "deployed version from, so it was not checked"
        )


def expect_healthy(probe: Probe, expect: str = "json-ok", path: str = "") -> Health:
    """The health endpoint answers as ``expect`` (``smoke.health_expect``) says a healthy one does.

    ``json-ok``: 200 and a JSON body whose status is ok, with a database component that is ok when it is
    reported. ``status``: 200 (any body). A 404 means there is no health endpoint at ``path``.
    """
    __tracebackhide__ = True
    if probe.status == 404:
        raise NoHealthEndpoint(probe, path or probe.url)
    if expect == "status":
        if probe.status != 200:
            raise CheckFailed(f"GET {probe.url}", "HTTP 200", f"HTTP {probe.status}")
        with contextlib.suppress(CheckFailed):
            return Health.parse(probe)  # a JSON body still gives the version, when there is one
        return Health(None, None, None, False, {})
    health: Health | None = None
    if probe.text.strip():
        try:
            health = Health.parse(probe)
        except CheckFailed as exc:
            if probe.status != 200:
                raise
            hint = '; if it answers plain text by design, set smoke.health_expect = "status"'
            raise CheckFailed(exc.checked, exc.expected, exc.seen + hint) from None
    if probe.status != 200:
        said = f" saying status {health.status!r}" if health and health.status else ""
        raise CheckFailed(f"GET {probe.url}", "HTTP 200", f"HTTP {probe.status}{said}")
    if health is None:
        raise CheckFailed(f"GET {probe.url}", "a JSON health document", "an empty body")
    if health.status not in _OK_STATUSES:
        raise CheckFailed(f"health status at {probe.url}", "'ok'", repr(health.status))
    if health.database is not None and health.database not in _OK_STATUSES:
        raise CheckFailed(f"database component at {probe.url}", "'ok'", repr(health.database))
    return health


def expect_within_budget(probe: Probe, budget_ms: float) -> None:
    __tracebackhide__ = True
    if probe.latency_ms is not None and probe.latency_ms > budget_ms:
        raise CheckFailed(
            f"latency of GET {probe.url}", f"at most {budget_ms:g} ms", f"{probe.latency_ms:g} ms"
        )


def expect_page_ok(probe: Probe, expectation: PageExpectation | None = None) -> None:
    """200, no Next.js error marker in the body (see :mod:`opscheck.smoke.pages`), and the page's own
    ``contains`` / ``not_contains``. Of a body larger than ``max_body_mb`` only the first part is read:
    an expectation that part cannot settle is an error ("could not be verified"), never a pass."""
    __tracebackhide__ = True
    if probe.status != 200:
        where = probe.headers.get("location")
        extra = f" redirecting to {where}" if where else ""
        raise CheckFailed(f"GET {probe.url}", "HTTP 200", f"HTTP {probe.status}{extra}")
    marker = error_marker_in(probe.text)
    if marker is not None:
        raise CheckFailed(
            f"body of GET {probe.url}", "a page without Next.js error markers", f"HTTP 200 with {marker}"
        )
    if expectation is None:
        return
    for text in expectation.not_contains:
        if text in probe.text:
            raise CheckFailed(f"body of GET {probe.url}", f"no {text!r}", f"{text!r} in the page")
    missing = [text for text in expectation.contains if text not in probe.text]
    if probe.truncated and (missing or expectation.not_contains):
        raise BodyTooLarge(f"the contains/not_contains of GET {probe.url}", len(probe.text.encode()))
    if missing:
        raise CheckFailed(f"body of GET {probe.url}", f"{missing[0]!r} in the page", "it is not there")


def maintenance_signal(health: Probe | None, home: Probe) -> str | None:
    """Why the deployment looks like it is in maintenance mode, or None; unreachable if nothing answered.

    ``health`` is None when the app has no health endpoint (``smoke.health_path = false``).
    """
    __tracebackhide__ = True
    if home.error is not None and (health is None or health.error is not None):
        where = f"GET {health.url} and GET {home.url}" if health is not None else f"GET {home.url}"
        raise TargetUnreachable(where, home.error if health is None else (health.error or home.error))
    if health is not None and health.error is None and health.text.strip():
        with contextlib.suppress(CheckFailed):
            if Health.parse(health).maintenance:
                return f"{health.url} reports maintenance (HTTP {health.status})"
    if home.error is None and home.status == 503 and "maintenance" in home.text.lower():
        return f"{home.url} answers 503 with a maintenance page"
    return None


def wait_for_version(client: OpsClient, path: str, expected: str, budget_s: float) -> str | None:
    """Poll the health endpoint until it reports ``expected`` (bounded); return the last version seen."""
    seen: list[str | None] = [None]

    def attempt() -> None:
        response = client.get(path)
        try:
            version = _version_of(json.loads(response.text))
        except (ValueError, AttributeError):
            version = None
        seen[0] = version
        if version != expected:
            raise _NotYet

    try:
        for attempt_ in Retrying(
            stop=stop_after_delay(budget_s),
            wait=wait_fixed(min(2.0, max(budget_s / 10, 0.2))),
            retry=retry_if_exception_type((_NotYet, TargetUnreachable)),
            reraise=True,
        ):
            with attempt_:
                attempt()
    except _NotYet:
        pass
    return seen[0]


class _NotYet(Exception):
    pass


# rule name -> (https only, what is expected)
SECURITY_HEADER_RULES: dict[str, tuple[bool, str]] = {
    "strict-transport-security": (True, f"Strict-Transport-Security with max-age >= {_HSTS_MIN_AGE}"),
    "x-content-type-options": (False, "X-Content-Type-Options: nosniff"),
    "frame-ancestors": (False, "a CSP frame-ancestors directive or X-Frame-Options DENY/SAMEORIGIN"),
    "referrer-policy": (False, "a Referrer-Policy header"),
}


def security_header_problem(rule: str, headers: Any) -> str | None:
    """What is wrong with ``rule`` in these response headers, or None when it is met."""
    if rule == "strict-transport-security":
        value = headers.get("strict-transport-security")
        if not value:
            return "no Strict-Transport-Security header"
        match = re.search(r"max-age\s*=\s*\"?(\d+)", value, re.IGNORECASE)
        if not match or int(match.group(1)) < _HSTS_MIN_AGE:
            return f"Strict-Transport-Security: {value}"
        return None
    if rule == "x-content-type-options":
        value = headers.get("x-content-type-options")
        return None if value and value.strip().lower() == "nosniff" else f"X-Content-Type-Options: {value}"
    if rule == "frame-ancestors":
        csp = headers.get("content-security-policy") or ""
        xfo = (headers.get("x-frame-options") or "").strip().upper()
        if "frame-ancestors" in csp.lower() or xfo in {"DENY", "SAMEORIGIN"}:
            return None
        return f"no frame-ancestors in CSP and X-Frame-Options: {xfo or None}"
    if rule == "referrer-policy":
        return None if headers.get("referrer-policy") else "no Referrer-Policy header"
    raise ValueError(f"unknown security header rule {rule!r}")
