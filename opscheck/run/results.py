"""A run's results, the data model every report is made of: one :class:`CheckResult` per check, folded
from its phases, and the :class:`RunSummary` of the run (counts, gate, verdict, the summary JSON).

Every phase report of a check carries ``report.opscheck`` (a JSON-able dict, so it crosses from xdist
workers to the controller); the controller folds the phases of each check into one :class:`CheckResult`.
Everything kept here has already passed the redactor, and the JSON is scrubbed once more on the way out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opscheck.secrets import redactor
from opscheck.severity import at_or_above

__all__ = ["CheckResult", "RunSummary"]

_OUTCOME_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


@dataclass
class CheckResult:
    """One check's verdict as it goes into the summary JSON."""

    nodeid: str
    outcome: str = "passed"
    severity: str = "P0"
    below_gate: bool = False
    flaky: bool = False
    duration_s: float = 0.0
    runbook_section: str | None = None
    runbook_slug: str | None = None
    runbook_link: str | None = None
    remediation: str | None = None
    remediation_headline: str | None = None
    message: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)
    phases: set[str] = field(default_factory=set)

    def absorb(self, when: str, outcome: str, data: dict[str, Any], duration: float) -> None:
        """Fold one phase (setup, call, teardown) into the result."""
        self.phases.add(when)
        self.duration_s = round(self.duration_s + duration, 3)
        if not self.failing:  # the failing phase's severity stands (an error may raise it, see OpscheckError)
            self.severity = data.get("severity", self.severity)
        self.runbook_slug = data.get("section_slug", self.runbook_slug)
        self.metrics.update(data.get("metrics", {}))
        self.notes.extend(n for n in data.get("notes", []) if n not in self.notes)
        self.retries.extend(data.get("retries", []))
        phase_outcome = outcome
        if outcome == "failed" and (when != "call" or data.get("kind") == "error"):
            phase_outcome = "error"
        first_failure = phase_outcome in {"failed", "error"} and not self.failing
        if when == "call" and outcome == "passed" and data.get("retries"):
            self.flaky = True
        if data.get("flaky_failed"):
            self.flaky = True
        if _OUTCOME_RANK[phase_outcome] > _OUTCOME_RANK[self.outcome]:
            self.outcome = phase_outcome
        # the first failing phase explains the check (it replaces an earlier skip reason)
        if first_failure or (phase_outcome == "skipped" and self.message is None):
            self.message = data.get("message")
            self.runbook_section = data.get("section_title")
            self.runbook_link = data.get("section_link")
            self.remediation = data.get("remediation")
            self.remediation_headline = data.get("headline")

    @property
    def failing(self) -> bool:
        return self.outcome in {"failed", "error"}

    def suite(self) -> str:
        parts = self.nodeid.split("::", 1)[0].split("/")
        return parts[-2] if len(parts) >= 2 else parts[0]


@dataclass
class RunSummary:
    environment: str | None
    gate: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    checks: dict[str, CheckResult] = field(default_factory=dict)
    interrupted: bool = False
    exit_status: int | None = None
    duration_s: float = 0.0
    #: where the run's results went besides the reports (metrics, pages): never changes the verdict
    publishing: list[dict[str, Any]] = field(default_factory=list)

    def add(self, nodeid: str, when: str, outcome: str, data: dict[str, Any], duration: float) -> None:
        result = self.checks.setdefault(nodeid, CheckResult(nodeid))
        result.absorb(when, outcome, data, duration)
        result.below_gate = result.failing and not at_or_above(result.severity, self.gate)

    def finish(self, interrupted: bool, collected: Mapping[str, str] | None = None) -> None:
        """Close the run: a check whose setup passed but whose body never reported did not finish, and
        is an error, never a pass (an interrupted drill must not read as a green one). In an interrupted
        run, a ``collected`` check (node id -> severity) that never reported at all, because the interrupt
        came while another check was running, is listed as an error too."""
        self.interrupted = interrupted
        for check in self.checks.values():
            if check.outcome == "passed" and "call" not in check.phases:
                check.outcome = "error"
                check.message = "did not finish: the run was interrupted" if interrupted else "did not finish"
                check.below_gate = not at_or_above(check.severity, self.gate)
        if not interrupted:
            return
        for nodeid, severity in (collected or {}).items():
            if nodeid not in self.checks:
                self.checks[nodeid] = CheckResult(
                    nodeid,
                    outcome="error",
                    severity=severity,
                    below_gate=not at_or_above(severity, self.gate),
                    message="did not run: the run was interrupted",
                )

    def gate_failures(self) -> list[CheckResult]:
        return [c for c in self.checks.values() if c.failing and not c.below_gate]

    def below_gate(self) -> list[CheckResult]:
        return [c for c in self.checks.values() if c.failing and c.below_gate]

    def flaky(self) -> list[CheckResult]:
        return [c for c in self.checks.values() if c.flaky]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(_OUTCOME_RANK, 0)
        for check in self.checks.values():
            counts[check.outcome] += 1
        counts["flaky"] = len(self.flaky())
        return counts

    def to_json(self) -> dict[str, Any]:
        data = {
            "environment": self.environment,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "duration_s": round(self.duration_s, 3),
            "gate": self.gate,
            "exit_status": self.exit_status,
            "interrupted": self.interrupted,
            "counts": self.counts(),
            "publishing": self.publishing,
            "checks": [
                {k: v for k, v in asdict(check).items() if k != "phases"} for check in self.checks.values()
            ],
        }
        return redactor().scrub_obj(data)  # type: ignore[no-any-return]

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def verdict(self) -> str:
        failing = self.gate_failures()
        below = self.below_gate()
        if self.interrupted:
            return f"INTERRUPTED: gate {self.gate} not decided ({len(failing)} failing so far)"
        if not self.checks:
            return f"NO CHECKS RAN: gate {self.gate} cannot pass on nothing"
        if failing:
            return f"FAIL: {len(failing)} check(s) at or above gate {self.gate} failed" + (
                f"; {len(below)} more below the gate" if below else ""
            )
        extra = f" ({len(below)} failure(s) below the gate)" if below else ""
        return f"PASS: every check at or above gate {self.gate} passed{extra}"
