"""What the runbook asks of the backups as a set, answered from a listing alone: which backup a spec names
(:func:`select_backup`), whether the retention window is covered without gaps (:func:`retention_gaps`),
and whether a backup is suspiciously small next to the ones before it (:func:`size_problem`)."""

from __future__ import annotations

import difflib
import itertools
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from opscheck.errors import CheckFailed
from opscheck.restore.backups import STAMP_FORMAT, Backup

__all__ = [
    "BACKUP_INTERVAL_HOURS",
    "Gap",
    "oldest_within_window",
    "retention_gaps",
    "select_backup",
    "size_problem",
    "within_window",
]

_STAMP: Final = re.compile(r"^\d{8}_\d{6}$")
_DATE: Final = re.compile(r"^\d{8}$")
#: the backup script runs daily
BACKUP_INTERVAL_HOURS: Final = 24.0
#: how many earlier backups a size is compared with
SIZE_HISTORY: Final = 7
SIZE_MIN_HISTORY: Final = 3
NEAREST_SHOWN: Final = 5


def select_backup(backups: Sequence[Backup], spec: str, *, location: str | None = None) -> Backup:
    """The backup ``spec`` names: "latest", a ``YYYYMMDD_HHMMSS`` stamp, a ``YYYYMMDD`` day (its newest
    backup) or an exact file name. Not found → CheckFailed listing the nearest candidates."""
    where = (
        location
        or getattr(backups, "location", None)
        or (backups[0].location if backups else "the backup location")
    )
    if not backups:
        ignored = getattr(backups, "ignored", ())
        extra = f" ({len(ignored)} other file(s) ignored, e.g. {ignored[0]!r})" if ignored else ""
        raise CheckFailed(
            f"backups at {where}",
            "at least one backup_YYYYMMDD_HHMMSS.sql.gz",
            f"no backups at {where}{extra}",
        )
    ordered = sorted(backups, key=lambda b: (b.taken_at, b.name))
    spec = spec.strip()
    if spec.lower() == "latest":
        return ordered[-1]
    if _STAMP.match(spec):
        found = [b for b in ordered if b.stamp == spec]
        if found:
            return found[-1]
        nearest = _nearest_by_time(ordered, spec)
    elif _DATE.match(spec):
        found = [b for b in ordered if b.taken_at.strftime("%Y%m%d") == spec]
        if found:
            return found[-1]
        nearest = _nearest_by_time(ordered, spec + "_120000")
    else:
        found = [b for b in ordered if b.name == spec]
        if found:
            return found[-1]
        names = [b.name for b in ordered]
        nearest = (
            difflib.get_close_matches(spec, names, n=NEAREST_SHOWN, cutoff=0.5)
            or names[-NEAREST_SHOWN:][::-1]
        )
    raise CheckFailed(
        f"backup {spec!r} at {where}",
        "a backup with that name or timestamp",
        f"none of {len(ordered)} backups matches; nearest: {', '.join(nearest)}",
    )


def _nearest_by_time(ordered: Sequence[Backup], stamp: str) -> list[str]:
    try:
        wanted = datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return [b.name for b in ordered[-NEAREST_SHOWN:]][::-1]
    closest = sorted(ordered, key=lambda b: abs((b.taken_at - wanted).total_seconds()))[:NEAREST_SHOWN]
    return [b.name for b in closest]


# --------------------------------------------------------------------------------------------- retention


@dataclass(frozen=True)
class Gap:
    """A stretch of the retention window with no backup for longer than the allowed interval."""

    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} → {self.end:%Y-%m-%d %H:%M} UTC ({self.hours:.1f} h without a backup)"


def within_window(backups: Iterable[Backup], now: datetime, retention_days: float) -> list[Backup]:
    """Backups taken in [now - retention_days, now], oldest → newest."""
    start = now - timedelta(days=retention_days)
    return sorted((b for b in backups if start <= b.taken_at <= now), key=lambda b: b.taken_at)


def retention_gaps(
    backups: Iterable[Backup], now: datetime, retention_days: float, slack_hours: float = 6.0
) -> list[Gap]:
    """Gaps longer than 24 h + ``slack_hours`` in [now - retention_days, now].

    The window's start counts as covered by the newest backup taken at or before it, if any; the last
    backup must be followed by ``now`` within the interval too (the newest gap is the RPO's concern as
    well).
    """
    start = now - timedelta(days=retention_days)
    allowed = timedelta(hours=BACKUP_INTERVAL_HOURS + slack_hours)
    times = sorted(b.taken_at for b in backups if b.taken_at <= now)
    before = [t for t in times if t <= start]
    points = [before[-1] if before else start] + [t for t in times if t > start] + [now]
    gaps: list[Gap] = []
    for earlier, later in itertools.pairwise(points):
        if later - earlier > allowed:
            gaps.append(Gap(max(earlier, start), later))
    return gaps


def oldest_within_window(backups: Iterable[Backup], now: datetime, retention_days: float) -> Backup | None:
    """The oldest backup of the retention window, or None when the window holds none."""
    inside = within_window(backups, now, retention_days)
    return inside[0] if inside else None


# -------------------------------------------------------------------------------------------------- size


def size_problem(backups: Sequence[Backup], backup: Backup) -> str | None:
    """Why ``backup``'s size is suspicious compared with up to seven backups before it, or None."""
    if backup.size == 0:
        return "empty (0 bytes)"
    earlier = [b for b in sorted(backups, key=lambda b: (b.taken_at, b.name)) if b.taken_at < backup.taken_at]
    history = earlier[-SIZE_HISTORY:]
    if len(history) < SIZE_MIN_HISTORY:
        return None
    median = statistics.median(b.size for b in history)
    if backup.size < median / 2:
        return (
            f"{backup.size} bytes, below half the median ({median:.0f} bytes) of the previous "
            f"{len(history)} backups"
        )
    return None
