"""What a backup is, seen from the outside, and what every place that keeps backups answers.

The runbook's backup script writes ``backup_YYYYMMDD_HHMMSS.sql.gz`` once a day. The time of a backup
comes from its name (UTC), cross-checked against the file or object time (:attr:`Backup.clock_skew_hours`).
A :class:`BackupStore` lists backups, opens one as a *stream* (nothing reads a whole backup into memory)
and says how it protects them (:class:`BucketFacts`); the stores themselves are in
:mod:`opscheck.restore.stores` and :mod:`opscheck.restore.s3`.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, Final, Literal

__all__ = [
    "BACKUP_NAME",
    "STAMP_FORMAT",
    "Backup",
    "BackupFormat",
    "BackupList",
    "BackupStore",
    "BucketFacts",
    "Fact",
    "FactState",
    "backup_name_time",
]

#: ``backup_YYYYMMDD_HHMMSS`` + one of the formats the runbook's scripts write
BACKUP_NAME: Final = re.compile(r"^backup_(?P<stamp>\d{8}_\d{6})\.(?P<ext>sql\.gz|dump|sql)$")
BackupFormat = Literal["plain-gzip", "custom", "plain"]
_FORMATS: Final[dict[str, BackupFormat]] = {"sql.gz": "plain-gzip", "dump": "custom", "sql": "plain"}
#: the time in a backup's name
STAMP_FORMAT: Final = "%Y%m%d_%H%M%S"


def backup_name_time(name: str) -> tuple[datetime, BackupFormat] | None:
    """(UTC time, format) encoded in a backup file name, or None if the name is not a backup's."""
    match = BACKUP_NAME.match(name)
    if match is None:
        return None
    try:
        taken = datetime.strptime(match.group("stamp"), STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:  # 20241345_250000: the right shape, not a time
        return None
    return taken, _FORMATS[match.group("ext")]


@dataclass(frozen=True)
class Backup:
    """One backup file or object.

    ``taken_at`` comes from the name (UTC), ``modified_at`` from the file's mtime or the object's
    LastModified. ``encryption`` and ``version_id`` are only known for S3 objects, and only after
    :meth:`BackupStore.details` (a listing does not carry them).
    """

    name: str
    key: str
    location: str
    taken_at: datetime
    modified_at: datetime
    size: int
    format: BackupFormat
    encryption: str | None = None
    version_id: str | None = None
    etag: str | None = None

    def age_hours(self, now: datetime) -> float:
        """Hours between the time in the name and ``now`` (an aware datetime)."""
        return (now - self.taken_at).total_seconds() / 3600

    @property
    def clock_skew_hours(self) -> float:
        """|time in the name - file/object time| in hours: large values mean a wrong name or a copy."""
        return abs((self.taken_at - self.modified_at).total_seconds()) / 3600

    @property
    def stamp(self) -> str:
        """The ``YYYYMMDD_HHMMSS`` part of the name."""
        return self.taken_at.strftime(STAMP_FORMAT)

    def __str__(self) -> str:
        return f"{self.location}{self.name}"


class BackupList(list[Backup]):
    """Backups oldest → newest, plus where they were listed and the names that were not backups."""

    def __init__(self, backups: Iterable[Backup], location: str, ignored: Iterable[str] = ()) -> None:
        super().__init__(sorted(backups, key=lambda b: (b.taken_at, b.name)))
        self.location = location
        self.ignored: tuple[str, ...] = tuple(ignored)


# ------------------------------------------------------------------------------------------ bucket facts

FactState = Literal["set", "absent", "unavailable", "not applicable"]


@dataclass(frozen=True)
class Fact:
    """One bucket setting as seen: ``set`` (see ``value``), ``absent``, ``unavailable`` or not applicable.

    ``note`` says how it was determined: the rule that applies, or why the setting could not be read.
    """

    state: FactState
    value: str | int | None = None
    note: str = ""

    @property
    def is_set(self) -> bool:
        return self.state == "set"

    def __str__(self) -> str:
        if self.state == "set":
            return f"{self.value}" + (f" ({self.note})" if self.note else "")
        if self.state == "absent":
            return f"none ({self.note})" if self.note else "none"
        if self.state == "unavailable":
            return f"unavailable: {self.note}"
        return "not applicable" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class BucketFacts:
    """How the store protects backups.

    ``versioning``: "Enabled", "Suspended" or "Disabled" (never enabled). ``expiration_days``: the
    shortest Expiration.Days of an enabled lifecycle rule covering the prefix;
    ``noncurrent_expiration_days`` likewise for NoncurrentVersionExpiration. ``encryption``: the
    default bucket encryption algorithm (``AES256``, ``aws:kms``, ``aws:kms:dsse``).
    """

    versioning: Fact
    expiration_days: Fact
    noncurrent_expiration_days: Fact
    encryption: Fact

    def as_dict(self) -> dict[str, str | int | None]:
        """Metric name → the value when set, else the fact's text ("none (…)", "unavailable: …")."""
        facts = {
            "bucket_versioning": self.versioning,
            "lifecycle_expiration_days": self.expiration_days,
            "noncurrent_expiration_days": self.noncurrent_expiration_days,
            "bucket_default_encryption": self.encryption,
        }
        return {name: fact.value if fact.is_set else str(fact) for name, fact in facts.items()}

    def lines(self) -> list[str]:
        return [
            f"versioning: {self.versioning}",
            f"lifecycle expiration (days): {self.expiration_days}",
            f"noncurrent version expiration (days): {self.noncurrent_expiration_days}",
            f"default encryption: {self.encryption}",
        ]


# ------------------------------------------------------------------------------------------------ stores


class BackupStore(abc.ABC):
    """Where backups are kept: list them, open one as a stream, describe the place."""

    #: display form of the location, e.g. ``s3://bucket/prefix/`` or ``file:///srv/backups/``
    location: str

    @abc.abstractmethod
    def list(self) -> BackupList:
        """Backups oldest → newest; other names are left out and listed in ``.ignored``."""

    @abc.abstractmethod
    def open(self, backup: Backup) -> BinaryIO:
        """A binary stream of the backup's bytes (never read into memory); close it when done."""

    @abc.abstractmethod
    def details(self, backup: Backup) -> Backup:
        """``backup`` with what a listing does not carry (object encryption, version id) filled in."""

    @abc.abstractmethod
    def bucket_facts(self) -> BucketFacts:
        """Versioning, lifecycle expiration and default encryption (or why they are not known)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line naming the store for reports (no credentials)."""
