"""What a running check records besides pass or fail: metrics, notes, remediation, retries.

Library code (the HTTP client's retries, a restore's timings) records into the check that is running
through :func:`current`, without the check passing a handle around.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CheckRecord", "current", "note_retry", "recording", "retry_sink"]


@dataclass
class CheckRecord:
    """Everything a check adds to its result beyond the outcome."""

    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    remediation: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)

    def metric(self, name: str, value: Any) -> None:
        """Record a number or short string in the result's ``metrics``."""
        self.metrics[name] = value

    def note(self, text: str) -> None:
        """A warning that does not fail the check but belongs in its result."""
        self.notes.append(text)

    def add_remediation(self, text: str) -> None:
        """Extra remediation shown after the runbook section's text when the check fails."""
        self.remediation.append(text)


_CURRENT: ContextVar[CheckRecord | None] = ContextVar("opscheck_current_check", default=None)
_RETRIES: ContextVar[list[str] | None] = ContextVar("opscheck_retry_sink", default=None)


def current() -> CheckRecord | None:
    """The record of the check running now, if any."""
    return _CURRENT.get()


@contextmanager
def recording(record: CheckRecord) -> Iterator[CheckRecord]:
    """Make ``record`` the current check's record (and its retry sink) inside the block."""
    token = _CURRENT.set(record)
    sink = _RETRIES.set(record.retries)
    try:
        yield record
    finally:
        _RETRIES.reset(sink)
        _CURRENT.reset(token)


@contextmanager
def retry_sink(sink: list[str]) -> Iterator[list[str]]:
    """Collect retries of the operations in the block into ``sink`` (e.g. one concurrent probe's)."""
    token = _RETRIES.set(sink)
    try:
        yield sink
    finally:
        _RETRIES.reset(token)


def note_retry(reason: str) -> None:
    """Called by code that retried a transient failure: the check is then reported as flaky."""
    sink = _RETRIES.get()
    if sink is not None:
        sink.append(reason)
