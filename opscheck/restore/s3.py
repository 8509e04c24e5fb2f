"""Backups under a prefix of an S3 (or S3-compatible) bucket: :class:`S3Store` lists them, opens one as a
stream (large objects in concurrent ranged parts of one version) and reads how the bucket protects them
(versioning, lifecycle expiration, default encryption).

Errors follow opscheck's rule: a bucket that answers wrongly (missing bucket or object, access denied,
rejected credentials) raises :class:`~opscheck.errors.CheckFailed`; an endpoint that cannot be reached
raises :class:`~opscheck.errors.TargetUnreachable`. No message contains a credential.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC
from typing import TYPE_CHECKING, Any, BinaryIO, Final, TypeVar

import boto3
import botocore.exceptions

from opscheck.clients.aws import (
    CREDENTIAL_ERRORS,
    DENIED,
    NO_CREDENTIALS,
    UNREACHABLE,
    UNSUPPORTED,
    arn_partition,
    connection_reason,
    error_code,
    error_message,
    make_s3_client,
    region_or_default,
    rejected,
)
from opscheck.clients.bounded import DeadlinePassed, finish_within
from opscheck.errors import CheckFailed, ConfigError, TargetUnreachable
from opscheck.restore.backups import Backup, BackupList, BackupStore, BucketFacts, Fact, backup_name_time
from opscheck.restore.s3_readers import RangedS3Reader, S3BodyReader
from opscheck.secrets import mask_url, redactor

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = ["PART_BYTES", "PART_WORKERS", "RANGED_FROM_BYTES", "S3Store"]

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

T = TypeVar("T")


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
        self.region = region_or_default(region)
        self.timeout_s = timeout_s
        self.location = f"s3://{bucket}/{self.prefix}"
        self._session: boto3.session.Session | None = None
        if client is None:
            self._session = boto3.session.Session(region_name=self.region)
            try:
                client = make_s3_client(endpoint_url, self.region, timeout_s, self._session)
            except (ValueError, botocore.exceptions.BotoCoreError):
                shown = mask_url(endpoint_url) if endpoint_url else "(default)"
                raise ConfigError(f"S3 endpoint URL {shown} for {self.location} is not a valid URL") from None
        self._client = client
        self._raw_endpoint = client.meta.endpoint_url
        self.endpoint = mask_url(self._raw_endpoint)

    # -- error mapping

    def _arn(self, key: str | None = None) -> str:
        return f"arn:{arn_partition(self.region)}:s3:::{self.bucket}" + (f"/{key}" if key is not None else "")

    def _call(
        self, operation: str, call: Callable[[], T], *, key: str | None = None, permission: str | None = None
    ) -> T:
        """Run one S3 call, bounded as a whole by ``timeout_s`` (its retries included: botocore's own
        timeouts apply to each socket read, which an endpoint sending a byte at a time never trips), turning
        botocore's exceptions into opscheck's. A download's body is read later, bounded by progress
        (see :class:`~opscheck.restore.s3_readers.S3BodyReader`)."""
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
            raw: io.RawIOBase = RangedS3Reader(
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
        raw = S3BodyReader(
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
        reader = S3BodyReader(response["Body"], what, self.endpoint, self.timeout_s)
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
