"""The run's results as people read them: the table printed after pytest's own summary and the GitHub
step summary. Both are made from :class:`~opscheck.run.results.RunSummary` and scrubbed on the way out.
"""

from __future__ import annotations

from collections.abc import Iterable

from opscheck.run.results import CheckResult, RunSummary
from opscheck.secrets import clip, redactor

__all__ = ["markdown_summary", "terminal_lines"]


def _rows(summary: RunSummary) -> Iterable[CheckResult]:
    order = {"error": 0, "failed": 1}
    interesting = [c for c in summary.checks.values() if c.failing or c.flaky]
    return sorted(
        interesting,
        key=lambda c: (not c.failing, c.below_gate, c.severity, order.get(c.outcome, 2), c.nodeid),
    )


def _short(text: str | None, width: int) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return clip(line, width)


def terminal_lines(summary: RunSummary, width: int = 120) -> list[str]:
    """The table printed after pytest's own summary: failed, flaky and below-gate checks, worst first."""
    lines: list[str] = []
    text_width = max(100, width - 14)  # CI logs are wider than a terminal's 80 columns: never cut short
    for row in _rows(summary):
        outcome = (row.outcome + (" *" if row.below_gate else "")) if row.failing else "flaky"
        lines.append(f"{row.severity:<3} {outcome:<9} {row.nodeid}")
        if row.failing and row.message:
            lines.append(f"{'':<14}seen: {_short(row.message, text_width - 6)}")
        if row.failing and row.remediation_headline:
            where = f"  [{row.runbook_section}]" if row.runbook_section else ""
            lines.append(
                f"{'':<14}do:   {_short(row.remediation_headline, text_width - 6 - len(where))}{where}"
            )
        elif row.retries:
            lines.append(f"{'':<14}retried: {_short(row.retries[0], text_width - 9)}")
    if summary.below_gate():
        lines.append("* below the gate: reported, does not fail the run")
    lines.append(summary.verdict())
    return [redactor().scrub(line) for line in lines]


def markdown_summary(summary: RunSummary) -> str:
    """The GitHub step summary: counts, verdict, and a row per failed, flaky or below-gate check."""
    counts = summary.counts()
    icon = "❌" if summary.gate_failures() or summary.interrupted or not summary.checks else "✅"
    out = [
        f"## {icon} opscheck · {summary.environment} · gate {summary.gate}",
        "",
        f"**{summary.verdict()}**",
        "",
        " · ".join(f"{n} {k}" for k, n in counts.items() if n),
        "",
    ]
    rows = list(_rows(summary))
    if rows:
        out += ["| severity | outcome | check | seen | runbook |", "|---|---|---|---|---|"]
        for row in rows:
            outcome = ("flaky" if not row.failing else row.outcome) + (
                " (below gate)" if row.below_gate else ""
            )
            section = row.runbook_section or ""
            if row.runbook_link and row.runbook_link.startswith("http"):
                section = f"[{section}]({row.runbook_link})"
            cells = [row.severity, outcome, f"`{row.nodeid}`", _short(row.message, 140), section]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out.append("")
        for row in rows:
            if row.failing and row.remediation:
                out += [
                    f"<details><summary>{row.severity} {row.nodeid}: {_short(row.remediation_headline, 100)}"
                    "</summary>",
                    "",
                    row.remediation,
                    "",
                    "</details>",
                    "",
                ]
    return redactor().scrub("\n".join(out) + "\n")
