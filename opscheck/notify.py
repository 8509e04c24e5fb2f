"""A ``pytest_opscheck_remediation`` implementation that posts each failure to a webhook.

Off by default; on when the environment configures ``[environments.NAME.notify] webhook_url``. It is also
the worked example of the remediation hook: a team's ``conftest.py`` can page, post to chat or trigger a
rollback the same way::

    def pytest_opscheck_remediation(item, report, remediation):
        if report.opscheck["severity"] == "P0":
            trigger_rollback(reason=report.opscheck["message"])
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from opscheck.config import NotifySettings
from opscheck.runbook import Remedy
from opscheck.secrets import redactor
from opscheck.severity import at_or_above

__all__ = ["WebhookNotifier", "payload"]


def payload(
    environment: str, item: pytest.Item, report: pytest.TestReport, remediation: Remedy
) -> dict[str, Any]:
    """The JSON a webhook receives for one failed check (already redacted)."""
    data = getattr(report, "opscheck", {})
    body = {
        "environment": environment,
        "check": item.nodeid,
        "severity": data.get("severity"),
        "outcome": "error" if data.get("kind") == "error" or report.when != "call" else "failed",
        "message": data.get("message"),
        "runbook_section": remediation.title,
        "runbook_link": remediation.link,
        "what_to_do": remediation.headline,
        "remediation": remediation.text,
    }
    return redactor().scrub_obj(body)  # type: ignore[no-any-return]


class WebhookNotifier:
    """Posts a JSON document per failed check at or above ``min_severity``."""

    def __init__(self, environment: str, settings: NotifySettings) -> None:
        self.environment = environment
        self.settings = settings

    @pytest.hookimpl
    def pytest_opscheck_remediation(
        self, item: pytest.Item, report: pytest.TestReport, remediation: Remedy
    ) -> None:
        severity = getattr(report, "opscheck", {}).get("severity", "P0")
        if not at_or_above(severity, self.settings.min_severity):
            return
        url = self.settings.webhook_url.reveal()
        try:
            response = httpx.post(
                url,
                json=payload(self.environment, item, report, remediation),
                timeout=self.settings.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise RuntimeError(f"webhook post failed: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise RuntimeError(f"webhook answered HTTP {response.status_code}")
