"""A rule's verdict on one variable (:class:`Finding`), how it becomes the check's outcome (:func:`enforce`),
and the wording findings share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from opscheck.errors import CheckFailed
from opscheck.run.context import CheckRecord

__all__ = ["Finding", "enforce", "variables_listed"]


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one variable.

    ``seen`` set: the rule is broken (what was seen, described without the value). ``skipped`` set: the
    rule does not apply here, and why. ``notes`` are warnings recorded in the result either way.
    """

    variable: str
    rule: str
    expected: str
    seen: str | None = None
    skipped: str | None = None
    notes: tuple[str, ...] = ()
    metrics: Mapping[str, Any] = field(default_factory=dict)
    retries: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.seen is None and self.skipped is None


def enforce(finding: Finding, check: CheckRecord | None = None, origin: str = "") -> None:
    """Record the finding's notes and metrics, then skip, fail or pass. A failure reads
    ``VARIABLE [rule]: expected …, saw …, in ORIGIN`` (where the value came from)."""
    __tracebackhide__ = True
    label = f"{finding.variable} [{finding.rule}]"
    if check is not None:
        for note in finding.notes:
            check.note(f"{label}: {note}")
        for name, value in finding.metrics.items():
            check.metric(name, value)
        check.retries.extend(finding.retries)
    if finding.skipped is not None:
        pytest.skip(f"{label}: {finding.skipped}")
    if finding.seen is not None:
        raise CheckFailed(label, finding.expected, f"{finding.seen}, in {origin}" if origin else finding.seen)


def variables_listed(items: Iterable[str]) -> str:
    """``a, b and c`` (each once)."""
    names = list(dict.fromkeys(items))
    if not names:
        return ""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
