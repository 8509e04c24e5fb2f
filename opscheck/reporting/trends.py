"""Trends drawn from ``reports/history.jsonl``: the restore drill against RTO and RPO over time, and a
table of recent runs.

The chart needs matplotlib (``pip install 'opscheck[report]'``); without it, or without a restore drill
in the history, :func:`restore_chart` raises :class:`ChartUnavailable` saying why, and the report goes
on without the chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opscheck.reporting.history import Run

__all__ = ["ChartUnavailable", "history_markdown", "restore_chart", "restore_points"]


class ChartUnavailable(Exception):
    """No chart was drawn; the message says why (no matplotlib, no restore drill in the history)."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def restore_points(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """The runs with restore metrics, per environment, oldest first."""
    points: dict[str, list[Run]] = {}
    for run in runs:
        restore = run.restore
        if (
            _number(restore.get("restore_seconds")) is not None
            or _number(restore.get("backup_age_hours")) is not None
        ):
            points.setdefault(run.environment, []).append(run)
    return points


def restore_chart(runs: Sequence[Run], path: Path) -> Path:
    """Draw restore duration against the RTO and backup age against the RPO over time into ``path`` (PNG)."""
    points = restore_points(runs)
    if not points:
        raise ChartUnavailable("no restore drill in the run history yet (run pytest suites/restore)")
    try:  # the `report` extra: optional, and imported only when a chart is drawn
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError:
        raise ChartUnavailable("matplotlib is not installed: pip install 'opscheck[report]'") from None

    figure = Figure(figsize=(10, 6.5), dpi=100, layout="constrained")
    restore_ax, age_ax = figure.subplots(2, 1, sharex=True)
    figure.suptitle("Restore drill: restore time against the RTO, backup age against the RPO")
    panels = (
        (restore_ax, "restore_seconds", 1 / 60, "rto_minutes", 1.0, "restore time (min)", "RTO"),
        (age_ax, "backup_age_hours", 1.0, "rpo_hours", 1.0, "newest backup's age (h)", "RPO"),
    )
    for ax, key, scale, limit_key, limit_scale, label, limit_name in panels:
        for environment, env_runs in sorted(points.items()):
            series = []
            for run in env_runs:
                value = _number(run.restore.get(key))
                if value is not None:
                    limit = _number(run.restore.get(limit_key))
                    series.append((run.time, value * scale, None if limit is None else limit * limit_scale))
            if not series:
                continue
            times = [t for t, _, _ in series]
            values = [v for _, v, _ in series]
            (line,) = ax.plot(times, values, marker="o", label=environment)
            limits = [(t, lim) for t, _, lim in series if lim is not None]
            if limits:
                ax.step(
                    [t for t, _ in limits],
                    [lim for _, lim in limits],
                    where="post",
                    linestyle="--",
                    color=line.get_color(),
                    alpha=0.7,
                    label=f"{limit_name} ({environment})",
                )
            over = [(t, v) for t, v, lim in series if lim is not None and v > lim]
            if over:
                ax.scatter([t for t, _ in over], [v for _, v in over], color="red", zorder=3, s=60)
            ax.annotate(
                _latest(key, values[-1]),
                (times[-1], values[-1]),
                textcoords="offset points",
                xytext=(6, 6),
                fontsize=8,
            )
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    age_ax.xaxis.set_major_locator(locator)
    age_ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def _latest(key: str, value: float) -> str:
    """The newest point's label: a restore under a minute in seconds, else minutes; ages in hours."""
    if key == "restore_seconds":
        return f"{value * 60:.1f} s" if value < 1 else f"{value:.1f} min"
    return f"{value:.1f} h"


def _fmt(value: Any, unit: str = "") -> str:
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    return f"{number:.1f}{unit}" if number != int(number) else f"{int(number)}{unit}"


def history_markdown(runs: Sequence[Run], limit: int = 30) -> str:
    """The newest runs as a markdown table: when, where, verdict, pass rate, and the restore drill's numbers."""
    out = [
        "### Run history",
        "",
        f"The newest {min(limit, len(runs))} of {len(runs)} run(s) in the history (reports/history.jsonl).",
        "",
        "| time (UTC) | environment | exit | gate | passed | failed | error | skipped | backup | backup age | restore | RTO |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in list(reversed(runs))[:limit]:
        counts = run.data.get("counts") or {}
        restore = run.restore
        seconds = _number(restore.get("restore_seconds"))
        cells = [
            run.time.strftime("%Y-%m-%d %H:%M"),
            run.environment,
            _fmt(run.data.get("exit_status")),
            str(run.data.get("gate") or ""),
            *(_fmt(counts.get(k, 0)) for k in ("passed", "failed", "error", "skipped")),
            f"`{restore['backup_key']}`" if restore.get("backup_key") else "",
            _fmt(restore.get("backup_age_hours"), " h"),
            _fmt(seconds / 60, " min") if seconds is not None else "",
            _fmt(restore.get("rto_minutes"), " min"),
        ]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out) + "\n"
