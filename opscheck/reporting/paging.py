"""Paging that behaves: tell people when a check starts failing and when it recovers, not on every run.

At the end of a run (on the controller, once) each configured notifier is sent only *changes*:

- a check at or above ``notify.min_severity`` that fails and has no open incident → ``trigger``;
- a check that fails and already has one → nothing (the page is already out);
- a check with an open incident that passed → ``resolve``.

Open incidents are kept per notifier in ``<reports>/opscheck-incidents.json``, so a notifier that was
down gets the change on the next run. Checks this run did not execute (another suite, skipped) keep
their state; an interrupted run sends nothing. A notifier that fails is reported, never fatal.

Notifiers: the generic JSON webhook, Slack (incoming webhook with Block Kit blocks) and PagerDuty
(Events API v2, one stable ``dedup_key`` per environment and check).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx

from opscheck.clients.bounded import bounded_client
from opscheck.clients.http import ssl_context
from opscheck.config import NotifySettings
from opscheck.errors import OpscheckError
from opscheck.run.results import CheckResult, RunSummary
from opscheck.secrets import clip, redactor
from opscheck.severity import at_or_above

__all__ = [
    "Change",
    "IncidentBook",
    "Notifier",
    "PagerDutyNotifier",
    "SlackNotifier",
    "WebhookNotifier",
    "dedup_key",
    "notifiers_for",
    "send_changes",
]

STATE_FILE = "opscheck-incidents.json"
#: PagerDuty Events API v2 severities for opscheck's
PAGERDUTY_SEVERITY = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}
_SLACK_EMOJI = {"P0": ":red_circle:", "P1": ":large_orange_circle:", "P2": ":large_yellow_circle:"}


def dedup_key(environment: str, nodeid: str) -> str:
    """Stable across runs and machines for one check in one environment; reveals nothing."""
    digest = hashlib.sha256(f"{environment}\0{nodeid}".encode()).hexdigest()[:32]
    return f"opscheck-{digest}"


@dataclass(frozen=True)
class Change:
    """One thing worth telling people: a check started failing, or it recovered."""

    action: Literal["trigger", "resolve"]
    environment: str
    check: CheckResult

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.environment, self.check.nodeid)


class Notifier(Protocol):
    name: str

    def send(self, change: Change) -> None:
        """Deliver one change; raise on failure (the caller reports it)."""


#: a notifier's answer is a short status document; more than this is not read
_MAX_ANSWER_BYTES = 64 * 1024


def _deliver(service: str, url: str, body: dict[str, Any], timeout_s: float) -> None:
    """POST JSON within one deadline for the whole exchange (a dribbling receiver cannot stretch it);
    raise a RuntimeError naming the service, never the URL (a webhook URL is a secret)."""
    try:
        with bounded_client(
            timeout_s=timeout_s, max_body_bytes=_MAX_ANSWER_BYTES, verify=ssl_context(None)
        ) as client:
            response = client.post(url, json=body)
    except (httpx.HTTPError, OpscheckError, OSError) as exc:
        raise RuntimeError(f"{service} post failed: {_why(exc)}") from None
    if response.status_code >= 400:
        raise RuntimeError(f"{service} answered HTTP {response.status_code}")


def _why(exc: BaseException) -> str:
    """What went wrong, without the URL (a webhook URL is a secret)."""
    if isinstance(exc, httpx.TimeoutException):
        return "no complete answer within notify.timeout_s"
    return type(exc).__name__


def _text(check: CheckResult, limit: int) -> str:
    return clip(check.message or check.outcome, limit)


@dataclass
class WebhookNotifier:
    """A JSON document per change: ``event`` is ``trigger`` or ``resolve``."""

    url: str
    timeout_s: float
    name: str = "webhook"

    def send(self, change: Change) -> None:
        check = change.check
        body = {
            "event": change.action,
            "dedup_key": change.dedup_key,
            "environment": change.environment,
            "check": check.nodeid,
            "severity": check.severity,
            "outcome": check.outcome,
            "message": check.message,
            "runbook_section": check.runbook_section,
            "runbook_link": check.runbook_link,
            "what_to_do": check.remediation_headline,
            "remediation": check.remediation,
        }
        _deliver("webhook", self.url, redactor().scrub_obj(body), self.timeout_s)


@dataclass
class SlackNotifier:
    """Slack incoming webhook: Block Kit blocks with the check, what was seen and the runbook step."""

    url: str
    timeout_s: float
    name: str = "slack"

    def payload(self, change: Change) -> dict[str, Any]:
        check = change.check
        scrub = redactor().scrub
        if change.action == "resolve":
            title = f"Resolved: {check.nodeid} passes again ({change.environment})"
            emoji = ":large_green_circle:"
        else:
            title = f"{check.severity} {check.outcome}: {check.nodeid} ({change.environment})"
            emoji = _SLACK_EMOJI.get(check.severity, ":white_circle:")
        header = scrub(title)
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": header[:150], "emoji": True}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Check*\n{scrub(check.nodeid)[:1900]}"},
                    {"type": "mrkdwn", "text": f"*Severity*\n{emoji} {check.severity}"},
                    {"type": "mrkdwn", "text": f"*Environment*\n{scrub(change.environment)[:1900]}"},
                    {"type": "mrkdwn", "text": f"*Outcome*\n{check.outcome}"},
                ],
            },
        ]
        if change.action == "trigger":
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*Seen*\n{_text(check, 2900)}"}}
            )
            step = scrub(check.remediation_headline or "Follow the runbook section below.")
            section = scrub(check.runbook_section or "")
            link = check.runbook_link
            where = f"<{link}|{section or 'runbook'}>" if link and link.startswith("http") else section
            do = f"*Do*\n{step}" + (f"\nRunbook: {where}" if where else "")
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": do[:2900]}})
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"opscheck · {change.dedup_key}"}]}
        )
        return {"text": header[:3000], "blocks": blocks}

    def send(self, change: Change) -> None:
        _deliver("Slack", self.url, redactor().scrub_obj(self.payload(change)), self.timeout_s)


@dataclass
class PagerDutyNotifier:
    """PagerDuty Events API v2: ``trigger`` with a stable dedup key, ``resolve`` when the check passes."""

    url: str
    routing_key: str
    timeout_s: float
    name: str = "pagerduty"

    def payload(self, change: Change) -> dict[str, Any]:
        check = change.check
        event: dict[str, Any] = {
            "routing_key": self.routing_key,
            "event_action": change.action,
            "dedup_key": change.dedup_key,
        }
        if change.action == "resolve":
            return event
        scrub = redactor().scrub
        summary = scrub(f"[{change.environment}] {check.severity} {check.nodeid}: {_text(check, 800)}")
        event["payload"] = {
            "summary": summary[:1024],
            "source": scrub(change.environment),
            "severity": PAGERDUTY_SEVERITY.get(check.severity, "critical"),
            "component": check.suite(),
            "group": scrub(change.environment),
            "class": check.runbook_slug or "opscheck",
            "custom_details": redactor().scrub_obj(
                {
                    "check": check.nodeid,
                    "outcome": check.outcome,
                    "runbook_section": check.runbook_section,
                    "what_to_do": check.remediation_headline,
                    "remediation": check.remediation,
                }
            ),
        }
        event["client"] = "opscheck"
        if check.runbook_link and check.runbook_link.startswith("http"):
            event["links"] = [{"href": check.runbook_link, "text": check.runbook_section or "runbook"}]
        return event

    def send(self, change: Change) -> None:
        _deliver("PagerDuty", self.url, self.payload(change), self.timeout_s)


def notifiers_for(settings: NotifySettings) -> list[Notifier]:
    found: list[Notifier] = []
    if settings.webhook_url:
        found.append(WebhookNotifier(settings.webhook_url.reveal(), settings.timeout_s))
    if settings.slack_webhook_url:
        found.append(SlackNotifier(settings.slack_webhook_url.reveal(), settings.timeout_s))
    if settings.pagerduty_routing_key:
        found.append(
            PagerDutyNotifier(
                settings.pagerduty_url, settings.pagerduty_routing_key.reveal(), settings.timeout_s
            )
        )
    return found


@dataclass
class IncidentBook:
    """Open incidents per notifier, kept between runs in the reports directory."""

    path: Path
    open: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> IncidentBook:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError):
            return cls(path)  # unreadable: start afresh rather than never page again
        opened = data.get("open") if isinstance(data, dict) else None
        return cls(path, opened if isinstance(opened, dict) else {})

    def is_open(self, notifier: str, key: str) -> bool:
        return key in self.open.get(notifier, {})

    def mark(self, notifier: str, change: Change) -> None:
        book = self.open.setdefault(notifier, {})
        if change.action == "resolve":
            book.pop(change.dedup_key, None)
        else:
            book[change.dedup_key] = {
                "environment": change.environment,
                "check": redactor().scrub(change.check.nodeid),
                "severity": change.check.severity,
                "opened_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".incidents-", dir=self.path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({"version": 1, "open": self.open}, out, indent=2, sort_keys=True)
        os.replace(name, self.path)


def changes_for(
    book: IncidentBook, notifier: str, summary: RunSummary, min_severity: str
) -> Iterable[Change]:
    environment = summary.environment or "?"
    for check in summary.checks.values():
        key = dedup_key(environment, check.nodeid)
        was_open = book.is_open(notifier, key)
        if check.failing and not was_open and at_or_above(check.severity, min_severity):
            yield Change("trigger", environment, check)
        elif check.outcome == "passed" and was_open:
            yield Change("resolve", environment, check)


@dataclass(frozen=True)
class Delivery:
    notifier: str
    action: str
    check: str
    ok: bool
    detail: str = ""


def send_changes(
    summary: RunSummary, notifiers: list[Notifier], min_severity: str, reports_dir: Path
) -> list[Delivery]:
    """Send each notifier the changes since its last successful delivery; record what was delivered."""
    if summary.interrupted or not notifiers:
        return []
    book = IncidentBook.load(reports_dir / STATE_FILE)
    deliveries: list[Delivery] = []
    for notifier in notifiers:
        for change in list(changes_for(book, notifier.name, summary, min_severity)):
            check = redactor().scrub(change.check.nodeid)
            try:
                notifier.send(change)
            except Exception as exc:  # a notifier's failure is reported, never fatal
                detail = redactor().scrub(str(exc) or type(exc).__name__)
                deliveries.append(Delivery(notifier.name, change.action, check, False, detail))
                continue
            book.mark(notifier.name, change)
            deliveries.append(Delivery(notifier.name, change.action, check, True))
    try:
        book.save()
    except OSError as exc:
        deliveries.append(Delivery("state", "save", str(book.path), False, exc.strerror or "cannot write"))
    return deliveries
