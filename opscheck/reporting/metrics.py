"""A run's results as Prometheus metrics: pushed to a Pushgateway and/or written for node_exporter.

One metric group per (environment, suite) of the run, so that a smoke gate does not wipe what the weekly
restore drill reported. Every series carries ``environment`` and ``suite`` labels; label values pass the
redactor (a check id may hold a parametrized token).

``opscheck_last_success_timestamp_seconds`` is the dead man's switch: only a suite run in which every
check passed (none failed or errored, the run not interrupted) moves it; for the restore suite, one in which
a drill restored the backup too. A failing run leaves the previous
value in place: the Pushgateway keeps it because pushes here are ``POST`` (replace the pushed metric names
only) and the pushed registry omits it; the textfile carries it over from the file it replaces.

Publishing never changes the verdict. A push that fails or does not finish within ``timeout_s`` is
reported (terminal summary and summary JSON) and the run goes on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

from opscheck.clients.bounded import bounded_client
from opscheck.clients.http import ssl_context
from opscheck.config import MetricsSettings
from opscheck.errors import OpscheckError
from opscheck.run.results import CheckResult, RunSummary
from opscheck.secrets import mask_url, redactor

__all__ = ["LAST_SUCCESS", "SERIES", "PublishResult", "publish", "suite_registry"]

LAST_SUCCESS = "opscheck_last_success_timestamp_seconds"

#: every series opscheck publishes: name -> (labels beyond environment and suite, help text)
SERIES: dict[str, tuple[tuple[str, ...], str]] = {
    "opscheck_check_outcome": (
        ("check", "severity", "runbook_section", "outcome"),
        "1 for the outcome of each check in the last run (passed, failed, error, skipped)",
    ),
    "opscheck_check_success": (
        ("check", "severity", "runbook_section"),
        "1 if the check passed in the last run, 0 if it failed or errored (skipped checks are absent)",
    ),
    "opscheck_check_duration_seconds": (("check",), "time the check took in the last run"),
    "opscheck_checks": (("outcome",), "number of checks of the suite per outcome in the last run"),
    "opscheck_run_success": ((), "1 if every check of the suite passed in the last run, else 0"),
    "opscheck_run_duration_seconds": ((), "wall time of the last run"),
    "opscheck_run_timestamp_seconds": ((), "when the last run finished (Unix time)"),
    LAST_SUCCESS: ((), "when a run last passed every check of the suite (Unix time): the dead man's switch"),
    "opscheck_restore_duration_seconds": ((), "restore drill: time to restore the backup"),
    "opscheck_backup_age_seconds": ((), "restore drill: age of the newest backup when the run checked it"),
    "opscheck_backup_timestamp_seconds": ((), "restore drill: when the newest backup was taken (Unix time)"),
    "opscheck_backup_size_bytes": ((), "restore drill: size of the backup restored"),
    "opscheck_rpo_seconds": ((), "recovery point objective (backups.rpo_hours)"),
    "opscheck_rto_seconds": ((), "recovery time objective (backups.rto_minutes)"),
    "opscheck_rpo_margin_seconds": ((), "RPO minus the newest backup's age (negative: RPO missed)"),
    "opscheck_rto_margin_seconds": ((), "RTO minus the restore time (negative: RTO missed)"),
}
_BASE_LABELS = ("environment", "suite")


def _fully_passed(checks: list[CheckResult], interrupted: bool) -> bool:
    return (
        not interrupted and any(c.outcome == "passed" for c in checks) and not any(c.failing for c in checks)
    )


def _restored(checks: Iterable[CheckResult]) -> bool:
    """A restore drill ran and passed: a passed check carries its ``restore_seconds`` (``-k`` subsets and
    drills skipped for want of ``[restore]`` do not move the restore suite's dead man's switch)."""
    return any(c.outcome == "passed" and "restore_seconds" in c.metrics for c in checks)


def _restore_values(checks: Iterable[CheckResult], finished_at: float) -> dict[str, float]:
    """The restore drill's numbers, from whichever checks of the suite recorded them."""
    found: dict[str, float] = {}
    for check in checks:
        for key, value in check.metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                found.setdefault(key, float(value))
    values: dict[str, float] = {}
    if "restore_seconds" in found:
        values["opscheck_restore_duration_seconds"] = found["restore_seconds"]
    if "backup_age_hours" in found:
        age = found["backup_age_hours"] * 3600
        values["opscheck_backup_age_seconds"] = age
        values["opscheck_backup_timestamp_seconds"] = finished_at - age
    if "backup_bytes" in found:
        values["opscheck_backup_size_bytes"] = found["backup_bytes"]
    if "rpo_hours" in found:
        values["opscheck_rpo_seconds"] = found["rpo_hours"] * 3600
        if "opscheck_backup_age_seconds" in values:
            values["opscheck_rpo_margin_seconds"] = (
                values["opscheck_rpo_seconds"] - values["opscheck_backup_age_seconds"]
            )
    if "rto_minutes" in found:
        values["opscheck_rto_seconds"] = found["rto_minutes"] * 60
        if "opscheck_restore_duration_seconds" in values:
            values["opscheck_rto_margin_seconds"] = (
                values["opscheck_rto_seconds"] - values["opscheck_restore_duration_seconds"]
            )
    return values


def suite_registry(
    summary: RunSummary,
    suite: str,
    checks: list[CheckResult],
    finished_at: float,
    last_success: float | None,
) -> CollectorRegistry:
    """The registry of one suite's group. ``last_success`` is the previous dead-man's-switch value, kept
    when this run did not fully pass (``None``: the series is left out of the registry)."""
    registry = CollectorRegistry()
    scrub = redactor().scrub
    environment = summary.environment or "?"
    gauges = {
        name: Gauge(name, text, (*_BASE_LABELS, *labels), registry=registry)
        for name, (labels, text) in SERIES.items()
    }

    def put(name: str, value: float, **labels: str) -> None:
        values = {"environment": environment, "suite": suite, **labels}
        gauges[name].labels(**{k: scrub(v) for k, v in values.items()}).set(value)

    counts = dict.fromkeys(("passed", "failed", "error", "skipped"), 0)
    for check in checks:
        counts[check.outcome] += 1
        section = check.runbook_section or check.runbook_slug or ""
        put("opscheck_check_outcome", 1, check=check.nodeid, severity=check.severity,
            runbook_section=section, outcome=check.outcome)  # fmt: skip
        if check.outcome != "skipped":
            put("opscheck_check_success", 0 if check.failing else 1, check=check.nodeid,
                severity=check.severity, runbook_section=section)  # fmt: skip
        put("opscheck_check_duration_seconds", check.duration_s, check=check.nodeid)
    for outcome, count in counts.items():
        put("opscheck_checks", count, outcome=outcome)
    passed = _fully_passed(checks, summary.interrupted)
    put("opscheck_run_success", 1 if passed else 0)
    put("opscheck_run_duration_seconds", summary.duration_s)
    put("opscheck_run_timestamp_seconds", finished_at)
    if passed and (suite != "restore" or _restored(checks)):
        put(LAST_SUCCESS, finished_at)
    elif last_success is not None:
        put(LAST_SUCCESS, last_success)
    for name, value in _restore_values(checks, finished_at).items():
        put(name, value)
    for gauge in gauges.values():  # a family with no sample is not worth a HELP line
        if not any(family.samples for family in gauge.collect()):
            registry.unregister(gauge)
    return registry


@dataclass(frozen=True)
class PublishResult:
    """What happened to one destination: ``ok`` and a sentence for people (never a secret)."""

    destination: str
    ok: bool
    detail: str


def _suites(summary: RunSummary) -> dict[str, list[CheckResult]]:
    grouped: dict[str, list[CheckResult]] = {}
    for check in summary.checks.values():
        grouped.setdefault(check.suite(), []).append(check)
    return grouped


_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _textfile(directory: Path, environment: str, suite: str) -> Path:
    return directory / f"opscheck_{_SAFE.sub('_', environment)}_{_SAFE.sub('_', suite)}.prom"


def _previous_last_success(path: Path, environment: str, suite: str) -> float | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if (
                    sample.name == LAST_SUCCESS
                    and labels.get("environment") == environment
                    and labels.get("suite") == suite
                ):
                    return float(sample.value)
    except ValueError:  # a damaged file from elsewhere: start the switch afresh
        return None
    return None


#: the Pushgateway answers pushes with an empty body or a short error text
_MAX_ANSWER_BYTES = 64 * 1024


def _handler(url: str, timeout_s: float) -> Callable[..., Callable[[], None]]:
    """A prometheus_client push handler sending through opscheck's bounded HTTP client (one deadline for
    the whole push); userinfo in the URL becomes basic auth and its password a secret."""
    parts = urlsplit(url)
    auth = None
    if parts.username is not None:
        password = unquote(parts.password or "")
        redactor().add(password)
        auth = httpx.BasicAuth(unquote(parts.username), password)

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        def send() -> None:
            with bounded_client(
                timeout_s=timeout_s, max_body_bytes=_MAX_ANSWER_BYTES, verify=ssl_context(None)
            ) as client:
                response = client.request(method, url, headers=dict(headers), content=data, auth=auth)
            if response.status_code >= 400:
                raise OSError(f"the Pushgateway answered HTTP {response.status_code}")

        return send

    return handler


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def publish(
    summary: RunSummary, settings: MetricsSettings, finished_at: float | None = None
) -> list[PublishResult]:
    """Push and/or write the run's metrics; one result per destination and never an exception."""
    finished = time.time() if finished_at is None else finished_at
    environment = summary.environment or "?"
    results: list[PublishResult] = []
    suites = _suites(summary)
    if not suites:
        return results
    gateway = settings.pushgateway_url.strip()
    if gateway:
        shown = f"Pushgateway {mask_url(gateway)} (job {settings.job})"
        handler = _handler(gateway, settings.timeout_s)
        target = _strip_userinfo(gateway)
        errors = []
        for suite, checks in sorted(suites.items()):
            registry = suite_registry(summary, suite, checks, finished, last_success=None)

            def push(registry: CollectorRegistry = registry, suite: str = suite) -> None:
                pushadd_to_gateway(
                    target,
                    job=settings.job,
                    registry=registry,
                    grouping_key={"environment": environment, "suite": suite},
                    timeout=settings.timeout_s,
                    handler=handler,
                )

            try:
                push()
            except httpx.TimeoutException:
                errors.append(
                    f"{suite}: no complete answer within {settings.timeout_s:g} s (metrics.timeout_s)"
                )
            except (OSError, httpx.HTTPError, OpscheckError) as exc:
                errors.append(redactor().scrub(f"{suite}: {exc or type(exc).__name__}"))
        names = ", ".join(sorted(suites))
        results.append(
            PublishResult(shown, False, "; ".join(errors))
            if errors
            else PublishResult(shown, True, f"pushed {names}")
        )
    directory = settings.textfile_dir
    if directory is not None:
        written, errors = [], []
        for suite, checks in sorted(suites.items()):
            path = _textfile(directory, environment, suite)
            previous = _previous_last_success(path, environment, suite)
            registry = suite_registry(summary, suite, checks, finished, last_success=previous)
            try:
                directory.mkdir(parents=True, exist_ok=True)
                write_to_textfile(str(path), registry)  # atomic: a temporary file, then rename
            except OSError as exc:
                errors.append(f"{path}: {exc.strerror}")
            else:
                written.append(path.name)
        shown = f"textfile directory {directory}"
        results.append(
            PublishResult(shown, False, "; ".join(errors))
            if errors
            else PublishResult(shown, True, f"wrote {', '.join(written)}")
        )
    return results
