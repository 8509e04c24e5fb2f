"""Where an environment's database backups are, and what they look like from the outside.

The runbook's backup script writes ``backup_YYYYMMDD_HHMMSS.sql.gz`` once a day and keeps 30 days of them,
either in a local directory or in an S3 bucket. This module lists them (:class:`FileStore`,
:class:`S3Store`, chosen by :func:`open_store` from ``[backups] location``), picks one
(:func:`select_backup`), and answers the questions that need no download: is the retention window covered
without gaps (:func:`retention_gaps`), is a backup suspiciously small (:func:`size_problem`), and how the
bucket protects them (:meth:`BackupStore.bucket_facts`: versioning, lifecycle expiration, encryption).

The time of a backup comes from its name (UTC), cross-checked against the file or object time
(:attr:`Backup.clock_skew_hours`). :meth:`BackupStore.open` returns a *stream*; nothing here reads a
whole backup into memory.

Errors follow opscheck's rule: a store that answers wrongly (missing directory or bucket, access
denied, rejected credentials) raises :class:`~opscheck.errors.CheckFailed`; an endpoint that cannot be
reached raises :class:`~opscheck.errors.TargetUnreachable`. No message contains a credential.
"""

from __future__ import annotations

import abc
import collections
import difflib
import io
import itertools
import os
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Literal, TypeVar
from urllib.parse import unquote, urlsplit

import boto3
import botocore.exceptions
from botocore.config import Config

from opscheck.clients.aws import (
    CREDENTIAL_ERRORS,
    DENIED,
    NO_CREDENTIALS,
    UNREACHABLE,
    UNSUPPORTED,
    connection_reason,
    error_code,
    error_message,
    rejected,
)
from opscheck.clients.bounded import DeadlinePassed, finish_within
from opscheck.config import BackupSettings
from opscheck.errors import CheckFailed, ConfigError, TargetUnreachable
from opscheck.secrets import mask_url, redactor, register_aws_credentials

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = [
    "Backup",
    "BackupFormat",
    "BackupList",
    "BackupStore",
    "BucketFacts",
    "Fact",
    "FileStore",
    "Gap",
    "S3Store",
    "backup_name_time",
    "oldest_within_window",
    "open_store",
    "parse_s3_location",
    "retention_gaps",
    "s3_client",
    "select_backup",
    "size_problem",
    "within_window",
]

#: ``backup_YYYYMMDD_HHMMSS`` + one of the formats the runbook's scripts write
BACKUP_NAME: Final = re.compile(r"^backup_(?P<stamp>\d{8}_\d{6})\.(?P<ext>sql\.gz|dump|sql)$")
BackupFormat = Literal["plain-gzip", "custom", "plain"]
_FORMATS: Final[dict[str, BackupFormat]] = {"sql.gz": "plain-gzip", "dump": "custom", "sql": "plain"}
_STAMP: Final = re.compile(r"^\d{8}_\d{6}$")
_DATE: Final = re.compile(r"^\d{8}$")
_STAMP_FORMAT: Final = "%Y%m%d_%H%M%S"

#: the backup script runs daily
BACKUP_INTERVAL_HOURS: Final = 24.0
#: how many earlier backups a size is compared with
SIZE_HISTORY: Final = 7
SIZE_MIN_HISTORY: Final = 3
NEAREST_SHOWN: Final = 5

T = TypeVar("T")


# --------------------------------------------------------------------------------------------- backups


def backup_name_time(name: str) -> tuple[datetime, BackupFormat] | None:
    """(UTC time, format) encoded in a backup file name, or None if the name is not a backup's."""
    match = BACKUP_NAME.match(name)
    if match is None:
        return None
    try:
        taken = datetime.strptime(match.group("stamp"), _STAMP_FORMAT).replace(tzinfo=UTC)
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
        return self.taken_at.strftime(_STAMP_FORMAT)

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


_NOT_APPLICABLE = Fact("not applicable", note="local directory")


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
        return BucketFacts(_NOT_APPLICABLE, _NOT_APPLICABLE, _NOT_APPLICABLE, _NOT_APPLICABLE)

    def describe(self) -> str:
        return f"{self.location} (local directory)"


# --------------------------------------------------------------------------------------------------- S3

#: the IAM permission each S3 operation we call needs
_PERMISSIONS: Final = {
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "GetBucketVersioning": "s3:GetBucketVersioning",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
}
_NO_SUCH_BUCKET: Final = frozenset({"NoSuchBucket"})
_NO_SUCH_KEY: Final = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchVersion"})
_ABSENT_CONFIG: Final = {
    "GetBucketLifecycleConfiguration": frozenset({"NoSuchLifecycleConfiguration"}),
    "GetBucketEncryption": frozenset({"ServerSideEncryptionConfigurationNotFoundError"}),
}
_STREAM_BUFFER: Final = 1024 * 1024
#: objects this large are downloaded in concurrent ranged parts (one download, several connections)
RANGED_FROM_BYTES: Final = 64 * 1024 * 1024
PART_BYTES: Final = 8 * 1024 * 1024
PART_WORKERS: Final = 4


def parse_s3_location(location: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ("bucket", "some/prefix/"); the prefix is treated as a directory."""
    parts = urlsplit(location)
    bucket = parts.netloc
    if parts.scheme != "s3" or not bucket or parts.query or parts.fragment:
        raise ValueError(f"not an s3://bucket/prefix/ location: {location!r}")
    prefix = unquote(parts.path).lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _region(configured: str | None) -> str:
    return configured or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _make_client(
    endpoint_url: str | None, region: str, timeout_s: float, session: boto3.session.Session | None = None
) -> S3Client:
    config = Config(
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        retries={"max_attempts": 2},
        user_agent_extra="opscheck",
    )
    session = session or boto3.session.Session(region_name=region)
    client = session.client("s3", endpoint_url=endpoint_url or None, config=config)
    register_aws_credentials(session)
    return client


def s3_client(settings: BackupSettings, timeout_s: float) -> S3Client:
    """A boto3 S3 client for ``[backups]``: its endpoint and region, the standard credential chain,
    connect/read timeouts of ``timeout_s`` and at most two attempts per request."""
    return _make_client(
        settings.s3_endpoint_url.strip() or None, _region(settings.region.strip() or None), timeout_s
    )


class _S3BodyReader(io.RawIOBase):
    """A raw stream over an S3 ``get_object`` Body; read errors become TargetUnreachable/CheckFailed.

    The download is bounded by progress, not by total time: a 100 GB backup legitimately takes longer than
    any ``timeout_s``, so it goes on as long as bytes keep coming and ends with TargetUnreachable when none
    came for ``timeout_s`` (botocore's read timeout, which applies to each socket read). The request
    itself, up to the answer's headers, is bounded as a whole like every other call (``S3Store._call``).
    """

    def __init__(self, body: Any, what: str, endpoint: str, timeout_s: float) -> None:
        super().__init__()
        self._body = body
        self._what = what
        self._endpoint = endpoint
        self._timeout_s = timeout_s
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data: bytes = self._body.read(len(view))
        except botocore.exceptions.IncompleteReadError as exc:
            raise TargetUnreachable(
                f"download of {self._what} from {self._endpoint}",
                f"connection ended early, after {self._read} bytes ({exc.kwargs.get('actual_bytes')} of "
                f"{exc.kwargs.get('expected_bytes')} in the last read)",
            ) from None
        except (*UNREACHABLE, OSError) as exc:
            if isinstance(exc, botocore.exceptions.ReadTimeoutError):
                reason = f"no byte for timeout_s = {self._timeout_s:g} s"
            else:
                reason = connection_reason(exc, self._timeout_s)
            raise TargetUnreachable(
                f"download of {self._what} from {self._endpoint}",
                f"{redactor().scrub(reason)} after {self._read} bytes",
            ) from None
        view[: len(data)] = data
        self._read += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class _RangedS3Reader(io.RawIOBase):
    """A large object read as ranged GETs of ``part_bytes``, ``workers`` of them under way at once, handed
    out in order: one download, streamed, at the speed of several connections. Parts are read into
    ``workers + 1`` buffers allocated once and reused, so memory stays flat whatever the object's size.
    ``fetch(first, last, into)`` fills ``into`` with the bytes ``first..last`` (inclusive)."""

    def __init__(
        self, fetch: Callable[[int, int, memoryview], None], size: int, part_bytes: int, workers: int
    ) -> None:
        super().__init__()
        self._fetch = fetch
        self._size = size
        self._part = part_bytes
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="opscheck-s3-part")
        self._pending: collections.deque[tuple[Future[None], memoryview, int]] = collections.deque()
        self._free = [memoryview(bytearray(min(part_bytes, size))) for _ in range(workers + 1)]
        self._next = 0
        self._held: memoryview | None = None  # the buffer of the part being handed out
        self._current = memoryview(b"")
        for _ in range(workers):
            self._submit()

    def _submit(self) -> None:
        if self._next < self._size:
            last = min(self._next + self._part, self._size) - 1
            buffer, length = self._free.pop(), last - self._next + 1
            future = self._pool.submit(self._fetch, self._next, last, buffer[:length])
            self._pending.append((future, buffer, length))
            self._next = last + 1

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not self._current:
            if self._held is not None:
                self._free.append(self._held)
                self._held = None
            if not self._pending:
                return 0
            future, part, length = self._pending.popleft()
            future.result()
            self._held, self._current = part, part[:length]
            self._submit()
        count = min(len(view), len(self._current))
        view[:count] = self._current[:count]
        self._current = self._current[count:]
        return count

    def close(self) -> None:
        if not self.closed:
            for future, _buffer, _length in self._pending:
                future.cancel()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pending.clear()
        super().close()


class S3Store(BackupStore):
    """Backups under a prefix of an S3 (or S3-compatible) bucket; not recursive."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        timeout_s: float = 10.0,
        *,
        client: S3Client | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.region = _region(region)
        self.timeout_s = timeout_s
        self.location = f"s3://{bucket}/{self.prefix}"
        self._session: boto3.session.Session | None = None
        if client is None:
            self._session = boto3.session.Session(region_name=self.region)
            try:
                client = _make_client(endpoint_url, self.region, timeout_s, self._session)
            except (ValueError, botocore.exceptions.BotoCoreError):
                shown = mask_url(endpoint_url) if endpoint_url else "(default)"
                raise ConfigError(f"S3 endpoint URL {shown} for {self.location} is not a valid URL") from None
        self._client = client
        self._raw_endpoint = client.meta.endpoint_url
        self.endpoint = mask_url(self._raw_endpoint)

    # -- error mapping

    def _arn(self, key: str | None = None) -> str:
        return f"arn:{_partition(self.region)}:s3:::{self.bucket}" + (f"/{key}" if key is not None else "")

    def _call(
        self, operation: str, call: Callable[[], T], *, key: str | None = None, permission: str | None = None
    ) -> T:
        """Run one S3 call, bounded as a whole by ``timeout_s`` (its retries included: botocore's own
        timeouts apply to each socket read, which an endpoint sending a byte at a time never trips), turning
        botocore's exceptions into opscheck's. A download's body is read later, bounded by progress
        (see :class:`_S3BodyReader`)."""
        try:
            return finish_within(call, self.timeout_s)
        except DeadlinePassed as exc:
            raise TargetUnreachable(
                f"S3 endpoint {self.endpoint} ({operation} on {self.location})", str(exc)
            ) from None
        except botocore.exceptions.ClientError as exc:
            raise self._client_error(exc, operation, key, permission) from None
        except NO_CREDENTIALS as exc:
            raise CheckFailed(
                f"AWS credentials for {self.location}",
                "credentials from the standard AWS chain (environment, shared files, role)",
                type(exc).__name__
                + (
                    ""
                    if isinstance(exc, botocore.exceptions.NoCredentialsError)
                    else f": {redactor().scrub(str(exc))}"
                ),
            ) from None
        except UNREACHABLE as exc:
            raise TargetUnreachable(
                f"S3 endpoint {self.endpoint} ({operation} on {self.location})",
                self._safe(connection_reason(exc, self.timeout_s)),
            ) from None
        except botocore.exceptions.BotoCoreError as exc:  # endpoint resolution, parameter validation, …
            raise TargetUnreachable(
                f"S3 endpoint {self.endpoint} ({operation} on {self.location})",
                self._safe(f"{type(exc).__name__}: {exc}"),
            ) from None

    def _safe(self, text: str) -> str:
        """``text`` without the raw endpoint URL (it may carry a password or token) or other secrets."""
        if self._raw_endpoint:
            text = text.replace(self._raw_endpoint, self.endpoint)
        return redactor().scrub(text)

    def _client_error(
        self, exc: botocore.exceptions.ClientError, operation: str, key: str | None, permission: str | None
    ) -> CheckFailed:
        code = error_code(exc)
        message = self._safe(error_message(exc))
        if code in _NO_SUCH_BUCKET:
            return CheckFailed(
                f"backup location {self.location}",
                "an existing bucket with backups",
                f"NoSuchBucket: bucket {self.bucket!r} does not exist",
            )
        if code in CREDENTIAL_ERRORS:
            return CheckFailed(
                f"AWS credentials for {self.location} at {self.endpoint}",
                "credentials the endpoint accepts",
                f"{rejected(code)} ({self._credential_source()})",
            )
        if code in DENIED:
            needed = permission or _PERMISSIONS.get(operation, f"the permission for {operation}")
            detail = f": {message}" if message and message != "Access Denied" else ""
            return CheckFailed(
                f"access to bucket {self.bucket} ({operation})",
                f"{needed} on {self._arn(key)} to be allowed",
                f"{code}{detail}",
            )
        if code in _NO_SUCH_KEY and key is not None:
            return CheckFailed(
                f"backup s3://{self.bucket}/{key}",
                "the object listed a moment ago",
                f"{code}: no such object",
            )
        detail = f": {message}" if message else ""
        return CheckFailed(f"S3 {operation} on {self.location}", "a successful answer", f"{code}{detail}")

    def _credential_source(self) -> str:
        """Where boto3 found the credentials (e.g. "env"), never the credentials themselves."""
        if self._session is None:
            return "credential source unknown"
        try:
            credentials = self._session.get_credentials()  # resolved once already, by the failed call
        except Exception:
            return "credential source unknown"
        method = getattr(credentials, "method", None) if credentials is not None else None
        return f"credentials from {method}" if method else "credential source unknown"

    # -- listing and reading

    def list(self) -> BackupList:
        backups: list[Backup] = []
        ignored: list[str] = []

        paginator = self._client.get_paginator("list_objects_v2")
        pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"))
        # each page is one request, bounded as a whole by _call
        while (page := self._call("ListObjectsV2", lambda: next(pages, None))) is not None:
            for item in page.get("Contents", []):
                key = item.get("Key", "")
                name = key[len(self.prefix) :]
                parsed = backup_name_time(name)
                if parsed is None:
                    if name:
                        ignored.append(name)
                    continue
                taken, fmt = parsed
                modified = item.get("LastModified")
                backups.append(
                    Backup(
                        name=name,
                        key=key,
                        location=self.location,
                        taken_at=taken,
                        modified_at=modified.astimezone(UTC) if modified is not None else taken,
                        size=int(item.get("Size", 0)),
                        format=fmt,
                    )
                )
        return BackupList(backups, self.location, sorted(ignored))

    def details(self, backup: Backup) -> Backup:
        head = self._call(
            "HeadObject", lambda: self._client.head_object(Bucket=self.bucket, Key=backup.key), key=backup.key
        )
        modified = head.get("LastModified")
        return replace(
            backup,
            size=int(head.get("ContentLength", backup.size)),
            modified_at=modified.astimezone(UTC) if modified is not None else backup.modified_at,
            encryption=head.get("ServerSideEncryption"),
            version_id=head.get("VersionId"),
            etag=head.get("ETag"),
        )

    def open(self, backup: Backup) -> BinaryIO:
        """The object's bytes as a stream: objects of ``RANGED_FROM_BYTES`` or more (size known from
        :meth:`details`) in concurrent ranged parts of exactly that version (or ETag), smaller ones in one GET."""
        if backup.size >= RANGED_FROM_BYTES and (backup.version_id or backup.etag):
            raw: io.RawIOBase = _RangedS3Reader(
                lambda first, last, into: self._part(backup, first, last, into),
                backup.size,
                PART_BYTES,
                PART_WORKERS,
            )
            return io.BufferedReader(raw, buffer_size=_STREAM_BUFFER)
        if backup.version_id:
            response = self._call(
                "GetObject",
                lambda: self._client.get_object(
                    Bucket=self.bucket, Key=backup.key, VersionId=backup.version_id or ""
                ),
                key=backup.key,
                permission="s3:GetObjectVersion",
            )
        else:
            response = self._call(
                "GetObject",
                lambda: self._client.get_object(Bucket=self.bucket, Key=backup.key),
                key=backup.key,
            )
        raw = _S3BodyReader(
            response["Body"], f"s3://{self.bucket}/{backup.key}", self.endpoint, self.timeout_s
        )
        return io.BufferedReader(raw, buffer_size=_STREAM_BUFFER)

    def _part(self, backup: Backup, first: int, last: int, into: memoryview) -> None:
        """Bytes ``first..last`` of exactly the version :meth:`details` saw (VersionId, else If-Match ETag)
        into ``into``, read a MiB at a time."""
        span = f"bytes={first}-{last}"
        response = self._call(
            "GetObject",
            lambda: (
                self._client.get_object(
                    Bucket=self.bucket, Key=backup.key, Range=span, VersionId=backup.version_id
                )
                if backup.version_id
                else self._client.get_object(
                    Bucket=self.bucket, Key=backup.key, Range=span, IfMatch=backup.etag or ""
                )
            ),
            key=backup.key,
            permission="s3:GetObjectVersion" if backup.version_id else None,
        )
        what = f"s3://{self.bucket}/{backup.key} (bytes {first}-{last})"
        reader = _S3BodyReader(response["Body"], what, self.endpoint, self.timeout_s)
        try:
            got = 0
            while got < len(into) and (count := reader.readinto(into[got : got + _STREAM_BUFFER])):
                got += count
        finally:
            reader.close()
        if got != len(into):
            raise TargetUnreachable(
                f"download of {what} from {self.endpoint}", f"connection ended early, after {got} bytes"
            )

    # -- bucket settings

    def _setting(self, operation: str, call: Callable[[], T]) -> T | Fact:
        """A bucket setting's raw answer, or the Fact saying it is absent or could not be read."""

        def guarded() -> T | Fact:
            try:
                return call()
            except botocore.exceptions.ClientError as exc:
                code = error_code(exc)
                if code in _ABSENT_CONFIG.get(operation, frozenset()):
                    return Fact("absent", note=code)
                if code in DENIED:
                    return Fact(
                        "unavailable", note=f"AccessDenied ({_PERMISSIONS[operation]} on {self._arn()})"
                    )
                if code in UNSUPPORTED:
                    return Fact("unavailable", note=f"{code} (the endpoint does not support {operation})")
                raise

        return self._call(operation, guarded)

    def bucket_facts(self) -> BucketFacts:
        client = self._client
        answer = self._setting(
            "GetBucketVersioning", lambda: client.get_bucket_versioning(Bucket=self.bucket)
        )
        if isinstance(answer, Fact):
            versioning = answer
        else:
            status = answer.get("Status")
            versioning = Fact("set", status, "") if status else Fact("set", "Disabled", "never enabled")

        rules = self._setting(
            "GetBucketLifecycleConfiguration",
            lambda: list(client.get_bucket_lifecycle_configuration(Bucket=self.bucket).get("Rules", [])),
        )
        if isinstance(rules, Fact):
            expiration = noncurrent = rules
        else:
            expiration = _expiration(rules, self.prefix, "Expiration")
            noncurrent = _expiration(rules, self.prefix, "NoncurrentVersionExpiration")

        answer_enc = self._setting(
            "GetBucketEncryption", lambda: client.get_bucket_encryption(Bucket=self.bucket)
        )
        if isinstance(answer_enc, Fact):
            encryption = answer_enc
        else:
            encryption = _encryption(answer_enc.get("ServerSideEncryptionConfiguration", {}).get("Rules", []))
        return BucketFacts(versioning, expiration, noncurrent, encryption)

    def describe(self) -> str:
        return f"{self.location} at {self.endpoint} (region {self.region})"


def _rule_prefix(rule: Mapping[str, Any]) -> str | None:
    """The key prefix a lifecycle rule applies to, or None if it also filters on tags or sizes."""
    if "Filter" not in rule:
        return str(rule.get("Prefix", ""))
    flt: Mapping[str, Any] = rule["Filter"] or {}
    if "And" in flt:
        both: Mapping[str, Any] = flt["And"]
        if set(both) - {"Prefix"}:
            return None
        return str(both.get("Prefix", ""))
    if set(flt) - {"Prefix"}:
        return None
    return str(flt.get("Prefix", ""))


def _expiration(rules: Sequence[Mapping[str, Any]], prefix: str, field: str) -> Fact:
    """The shortest ``field`` days of an enabled rule that covers every key under ``prefix``."""
    days_key = "Days" if field == "Expiration" else "NoncurrentDays"
    best: tuple[int, str] | None = None
    for rule in rules:
        rule_prefix = _rule_prefix(rule)
        if rule.get("Status") != "Enabled" or rule_prefix is None or not prefix.startswith(rule_prefix):
            continue
        days = (rule.get(field) or {}).get(days_key)
        if isinstance(days, int) and (best is None or days < best[0]):
            best = (days, str(rule.get("ID") or "(unnamed rule)"))
    if best is None:
        return Fact("absent", note=f"no enabled lifecycle rule with {field} covers prefix {prefix!r}")
    return Fact("set", best[0], f"rule {best[1]}")


def _encryption(rules: Sequence[Mapping[str, Any]]) -> Fact:
    for rule in rules:
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        algorithm = default.get("SSEAlgorithm")
        if algorithm:
            return Fact("set", str(algorithm), "bucket key" if rule.get("BucketKeyEnabled") else "")
    return Fact("absent", note="no default encryption rule")


# ------------------------------------------------------------------------------------------ open_store


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


# --------------------------------------------------------------------------------------------- selection


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
        wanted = datetime.strptime(stamp, _STAMP_FORMAT).replace(tzinfo=UTC)
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
