"""Where ``[backups] location`` points: a local directory (:class:`FileStore`) or an S3 prefix
(:class:`~opscheck.restore.s3.S3Store`), chosen by :func:`open_store`.

A directory that answers wrongly (missing, not a directory, not readable) raises
:class:`~opscheck.errors.CheckFailed`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final
from urllib.parse import unquote, urlsplit

from opscheck.clients.aws import parse_s3_location
from opscheck.errors import CheckFailed, ConfigError
from opscheck.restore.backups import Backup, BackupList, BackupStore, BucketFacts, Fact, backup_name_time
from opscheck.restore.s3 import S3Store

if TYPE_CHECKING:
    from opscheck.config import BackupSettings

__all__ = ["FileStore", "open_store"]

#: what a bucket setting is for a local directory
NOT_APPLICABLE: Final = Fact("not applicable", note="local directory")


class FileStore(BackupStore):
    """Backups in a local directory (not recursive)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory).absolute()
        self.location = self.directory.as_uri().rstrip("/") + "/"

    def _problem(self, expected: str, seen: str) -> CheckFailed:
        return CheckFailed(f"backup location {self.location}", expected, seen)

    def list(self) -> BackupList:
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            raise self._problem("an existing directory with backups", "no such directory") from None
        except NotADirectoryError:
            raise self._problem("an existing directory with backups", "not a directory") from None
        except PermissionError:
            raise self._problem(
                "a directory this process may list", f"permission denied (running as uid {os.getuid()})"
            ) from None
        backups: list[Backup] = []
        ignored: list[str] = []
        for entry in entries:
            try:
                is_file = entry.is_file()
            except OSError:
                is_file = False
            parsed = backup_name_time(entry.name) if is_file else None
            if parsed is None:
                if is_file:
                    ignored.append(entry.name)
                continue
            try:
                stat = entry.stat()
            except OSError:  # removed by retention while we were listing
                continue
            taken, fmt = parsed
            backups.append(
                Backup(
                    name=entry.name,
                    key=str(self.directory / entry.name),
                    location=self.location,
                    taken_at=taken,
                    modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
                    size=stat.st_size,
                    format=fmt,
                )
            )
        return BackupList(backups, self.location, sorted(ignored))

    def open(self, backup: Backup) -> BinaryIO:
        try:
            return open(backup.key, "rb")
        except FileNotFoundError:
            raise CheckFailed(f"backup {backup}", "the file listed a moment ago", "no such file") from None
        except PermissionError:
            raise CheckFailed(f"backup {backup}", "a readable file", "permission denied") from None

    def details(self, backup: Backup) -> Backup:
        try:
            stat = os.stat(backup.key)
        except FileNotFoundError:
            raise CheckFailed(f"backup {backup}", "the file listed a moment ago", "no such file") from None
        return replace(backup, size=stat.st_size, modified_at=datetime.fromtimestamp(stat.st_mtime, UTC))

    def bucket_facts(self) -> BucketFacts:
        return BucketFacts(NOT_APPLICABLE, NOT_APPLICABLE, NOT_APPLICABLE, NOT_APPLICABLE)

    def describe(self) -> str:
        return f"{self.location} (local directory)"


def open_store(settings: BackupSettings, timeout_s: float) -> BackupStore:
    """The store ``[backups] location`` names: ``s3://bucket/prefix/``, ``file:///dir`` or a path.

    A relative path is resolved against the config file's directory. S3 uses ``s3_endpoint_url`` when
    set, the region from settings, ``AWS_REGION``/``AWS_DEFAULT_REGION`` or us-east-1, and the standard
    AWS credential chain.
    """
    location = settings.location.strip()
    key = f"{settings.key}.location"
    if location.startswith("s3://"):
        try:
            bucket, prefix = parse_s3_location(location)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
        return S3Store(
            bucket,
            prefix,
            endpoint_url=settings.s3_endpoint_url.strip() or None,
            region=settings.region.strip() or None,
            timeout_s=timeout_s,
        )
    if location.startswith("file:"):
        parts = urlsplit(location)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigError(f"{key} must be file:///absolute/dir, got {location!r}")
        return FileStore(Path(unquote(parts.path)))
    if "://" in location or not location:
        raise ConfigError(
            f"{key} must be s3://bucket/prefix/, file:///abs/dir or a directory, got {location!r}"
        )
    path = Path(location).expanduser()
    return FileStore(path if path.is_absolute() else settings.base_dir / path)
