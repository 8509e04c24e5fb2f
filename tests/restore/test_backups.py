"""opscheck.restore's backups, stores and policy against a real directory and a real S3 endpoint (moto_server
on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import os
import time
import tracemalloc
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opscheck.config import BackupSettings
from opscheck.errors import CheckFailed, ConfigError, TargetUnreachable
from opscheck.restore.backups import Backup, backup_name_time
from opscheck.restore.policy import (
    oldest_within_window,
    retention_gaps,
    select_backup,
    size_problem,
    within_window,
)
from opscheck.restore.s3 import S3Store
from opscheck.restore.stores import FileStore, open_store
from tests.support.moto import TEST_ACCESS_KEY, TEST_SECRET_KEY, MotoServer, client_for, cutting_proxy
from tests.support.servers import closed_port, silent_tcp_server

pytest_plugins = ["tests.support.s3_server"]

NOW = datetime(2024, 2, 1, 3, 0, tzinfo=UTC)
KiB = 1024
MiB = 1024 * KiB


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%d_%H%M%S")


def name_at(moment: datetime, ext: str = "sql.gz") -> str:
    return f"backup_{stamp(moment)}.{ext}"


def backup_at(moment: datetime, size: int = 1000, location: str = "file:///b/") -> Backup:
    """A Backup value for the pure-logic functions (retention, size)."""
    name = name_at(moment)
    return Backup(name, f"/b/{name}", location, moment, moment, size, "plain-gzip")


def daily(days: int, end: datetime = NOW - timedelta(hours=1), size: int = 1000) -> list[Backup]:
    return [backup_at(end - timedelta(days=n), size) for n in range(days)][::-1]


def settings(location: str, base_dir: Path, **extra: str) -> BackupSettings:
    raw: dict[str, Any] = {"location": location, **extra}
    return BackupSettings(raw, "environments.prod.backups", "prod", base_dir, environ={})


def write_backup(directory: Path, name: str, data: bytes = b"x" * 100, mtime: datetime | None = None) -> Path:
    path = directory / name
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


def assert_no_credentials(text: str) -> None:
    assert TEST_SECRET_KEY not in text
    assert TEST_ACCESS_KEY not in text


# ------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("backup_20240112_120000.sql.gz", (datetime(2024, 1, 12, 12, tzinfo=UTC), "plain-gzip")),
        ("backup_20240112_120000.dump", (datetime(2024, 1, 12, 12, tzinfo=UTC), "custom")),
        ("backup_20240112_120000.sql", (datetime(2024, 1, 12, 12, tzinfo=UTC), "plain")),
        ("backup_20241345_250000.sql.gz", None),  # the right shape, not a time
        ("backup_20240112.sql.gz", None),
        ("backup_20240112_120000.sql.gz.tmp", None),
        ("mybackup_20240112_120000.sql.gz", None),
    ],
)
def test_backup_name_time(name: str, expected: tuple[datetime, str] | None) -> None:
    assert backup_name_time(name) == expected


# -------------------------------------------------------------------------------------- file store


def test_file_store_lists_backups_oldest_first_and_counts_other_names(tmp_path: Path) -> None:
    write_backup(tmp_path, "backup_20240111_020000.dump", b"PGDMP" + b"x" * 10)
    write_backup(tmp_path, "backup_20240110_020000.sql.gz", b"y" * 7)
    write_backup(tmp_path, "backup_20240109_020000.sql", b"")
    for other in ("README.txt", "backup_2024.sql.gz", "backup_20241345_250000.sql.gz"):
        write_backup(tmp_path, other)
    (tmp_path / "backup_20240112_020000.sql.gz").mkdir()  # a directory is not a backup

    listing = FileStore(tmp_path).list()

    assert [b.name for b in listing] == [
        "backup_20240109_020000.sql",
        "backup_20240110_020000.sql.gz",
        "backup_20240111_020000.dump",
    ]
    assert [b.format for b in listing] == ["plain", "plain-gzip", "custom"]
    assert [b.size for b in listing] == [0, 7, 15]
    assert listing.ignored == ("README.txt", "backup_2024.sql.gz", "backup_20241345_250000.sql.gz")
    assert listing.location == tmp_path.as_uri() + "/"
    newest = listing[-1]
    assert newest.key == str(tmp_path / "backup_20240111_020000.dump")
    assert newest.location == listing.location
    assert newest.taken_at == datetime(2024, 1, 11, 2, tzinfo=UTC)
    assert newest.encryption is None
    assert newest.version_id is None


def test_time_comes_from_the_name_and_is_cross_checked_with_the_file_time(tmp_path: Path) -> None:
    taken = datetime(2024, 1, 31, 2, 0, tzinfo=UTC)
    write_backup(tmp_path, name_at(taken), mtime=taken + timedelta(minutes=3))
    write_backup(tmp_path, name_at(taken - timedelta(days=1)), mtime=taken + timedelta(hours=30))

    older, newer = FileStore(tmp_path).list()

    assert newer.taken_at == taken
    assert newer.modified_at == taken + timedelta(minutes=3)
    assert newer.clock_skew_hours == pytest.approx(0.05)
    assert newer.age_hours(NOW) == pytest.approx(25.0)
    assert older.clock_skew_hours == pytest.approx(54.0)  # copied or renamed: a check can flag it


def test_missing_directory_is_a_failed_check_naming_it(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "nowhere")
    with pytest.raises(CheckFailed) as caught:
        store.list()
    assert caught.value.checked == f"backup location {(tmp_path / 'nowhere').as_uri()}/"
    assert caught.value.seen == "no such directory"


def test_file_store_opens_a_stream_and_has_no_bucket_facts(tmp_path: Path) -> None:
    write_backup(tmp_path, "backup_20240110_020000.sql.gz", b"abc" * 1000)
    store = FileStore(tmp_path)
    (backup,) = store.list()
    with store.open(backup) as stream:
        assert stream.read(3) == b"abc"
    assert store.details(backup).size == 3000
    facts = store.bucket_facts()
    assert str(facts.versioning) == "not applicable (local directory)"
    assert {f.state for f in (facts.versioning, facts.expiration_days, facts.encryption)} == {
        "not applicable"
    }
    assert store.describe().endswith("(local directory)")


def test_open_store_resolves_locations(tmp_path: Path) -> None:
    (tmp_path / "backups" / "database").mkdir(parents=True)
    relative = open_store(settings("backups/database", tmp_path), timeout_s=5)
    assert isinstance(relative, FileStore)
    assert relative.directory == tmp_path / "backups" / "database"
    absolute = open_store(settings((tmp_path / "x").as_uri(), Path("/elsewhere")), timeout_s=5)
    assert isinstance(absolute, FileStore)
    assert absolute.directory == tmp_path / "x"
    s3 = open_store(
        settings(
            "s3://my-bucket/db/daily", tmp_path, s3_endpoint_url="http://127.0.0.1:9", region="eu-west-1"
        ),
        timeout_s=5,
    )
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix, s3.location, s3.region) == (
        "my-bucket",
        "db/daily/",
        "s3://my-bucket/db/daily/",
        "eu-west-1",
    )
    for bad in ("s3:///nobucket", "ftp://host/dir", "file://host/dir"):
        with pytest.raises(ConfigError, match=r"environments\.prod\.backups\.location"):
            open_store(settings(bad, tmp_path), timeout_s=5)


# --------------------------------------------------------------------------------------- selection


@pytest.fixture
def listing(tmp_path: Path) -> list[Backup]:
    for day in range(1, 11):
        write_backup(tmp_path, name_at(datetime(2024, 1, day, 2, 0, tzinfo=UTC)))
    return FileStore(tmp_path).list()


def test_select_latest_timestamp_day_and_name(listing: list[Backup]) -> None:
    assert select_backup(listing, "latest").name == "backup_20240110_020000.sql.gz"
    assert select_backup(listing, "20240105_020000").name == "backup_20240105_020000.sql.gz"
    assert select_backup(listing, "20240103").name == "backup_20240103_020000.sql.gz"
    assert select_backup(listing, "backup_20240107_020000.sql.gz").taken_at.day == 7


def test_select_unknown_timestamp_lists_the_nearest_backups(listing: list[Backup]) -> None:
    with pytest.raises(CheckFailed) as caught:
        select_backup(listing, "20240105_140000")
    seen = caught.value.seen
    assert seen.startswith("none of 10 backups matches; nearest: ")
    nearest = seen.split("nearest: ")[1].split(", ")
    assert nearest[:2] == ["backup_20240105_020000.sql.gz", "backup_20240106_020000.sql.gz"]
    assert len(nearest) == 5
    assert "backup_20240110_020000.sql.gz" not in nearest


def test_select_unknown_name_lists_similar_names(listing: list[Backup]) -> None:
    with pytest.raises(CheckFailed) as caught:
        select_backup(listing, "backup_20240105_020000.sql")
    assert "backup_20240105_020000.sql.gz" in caught.value.seen
    assert caught.value.checked.startswith("backup 'backup_20240105_020000.sql' at file://")


def test_select_from_an_empty_location_says_where(tmp_path: Path) -> None:
    write_backup(tmp_path, "notes.txt")
    empty = FileStore(tmp_path).list()
    with pytest.raises(CheckFailed) as caught:
        select_backup(empty, "latest")
    assert (
        caught.value.seen == f"no backups at {tmp_path.as_uri()}/ (1 other file(s) ignored, e.g. 'notes.txt')"
    )


# --------------------------------------------------------------------------------------- retention


def test_thirty_daily_backups_cover_the_window() -> None:
    backups = daily(30)
    assert retention_gaps(backups, NOW, retention_days=30) == []
    assert oldest_within_window(backups, NOW, 30) == backups[0]
    assert len(within_window(backups, NOW, 7)) == 7


def test_a_missing_week_is_one_gap_with_its_dates() -> None:
    backups = [
        b
        for b in daily(30)
        if not datetime(2024, 1, 10, tzinfo=UTC) <= b.taken_at < datetime(2024, 1, 17, tzinfo=UTC)
    ]
    (gap,) = retention_gaps(backups, NOW, retention_days=30)
    assert gap.start == datetime(2024, 1, 9, 2, tzinfo=UTC)
    assert gap.end == datetime(2024, 1, 17, 2, tzinfo=UTC)
    assert gap.hours == 192
    assert str(gap) == "2024-01-09 02:00 → 2024-01-17 02:00 UTC (192.0 h without a backup)"


def test_window_start_and_now_must_be_covered_too() -> None:
    ten_days = daily(10, end=NOW - timedelta(hours=40))
    gaps = retention_gaps(ten_days, NOW, retention_days=30)
    assert [(g.start, g.end) for g in gaps] == [
        (NOW - timedelta(days=30), ten_days[0].taken_at),
        (ten_days[-1].taken_at, NOW),
    ]
    # a backup older than the window covers its start
    older = [backup_at(NOW - timedelta(days=30, hours=2)), *daily(30)]
    assert retention_gaps(older, NOW, retention_days=30) == []


def test_gaps_within_the_slack_are_tolerated() -> None:
    base = NOW - timedelta(days=2)
    late = [backup_at(base), backup_at(base + timedelta(hours=29)), backup_at(NOW - timedelta(hours=1))]
    assert retention_gaps(late, NOW, retention_days=2.1) == []
    too_late = [backup_at(base), backup_at(base + timedelta(hours=31)), backup_at(NOW - timedelta(hours=1))]
    assert [g.hours for g in retention_gaps(too_late, NOW, retention_days=2.1)] == [31]


# -------------------------------------------------------------------------------------------- size


def test_size_problems() -> None:
    history = daily(9, size=1000)
    last = history[-1]
    assert size_problem(history, last) is None
    empty = backup_at(NOW, size=0)
    assert size_problem([*history, empty], empty) == "empty (0 bytes)"
    small = backup_at(NOW, size=400)
    assert size_problem([*history, small], small) == (
        "400 bytes, below half the median (1000 bytes) of the previous seven backups".replace("seven", "7")
    )
    # only the seven before it count: a huge old backup does not move the median
    huge_then_normal = [backup_at(NOW - timedelta(days=20), size=10**9), *daily(7, size=500)]
    normal = backup_at(NOW, size=300)
    assert size_problem([*huge_then_normal, normal], normal) is None
    # fewer than three earlier backups: nothing to compare with
    two = daily(2, size=1000)
    tiny = backup_at(NOW, size=1)
    assert size_problem([*two, tiny], tiny) is None


# ----------------------------------------------------------------------------------------------- S3


@pytest.fixture
def bucket(s3_server: str, aws_env: Mapping[str, str]) -> str:
    name = f"backups-{uuid.uuid4().hex[:12]}"
    client_for(s3_server).create_bucket(Bucket=name)
    return name


def put(endpoint: str, bucket: str, key: str, body: bytes = b"x" * 100, **extra: Any) -> None:
    client_for(endpoint).put_object(Bucket=bucket, Key=key, Body=body, **extra)


def test_s3_store_lists_backups_under_the_prefix(s3_server: str, bucket: str) -> None:
    put(s3_server, bucket, "db/backup_20240110_020000.sql.gz", b"a" * 10)
    put(s3_server, bucket, "db/backup_20240109_020000.sql.gz", b"b" * 20)
    put(s3_server, bucket, "db/backup_20240111_020000.dump", b"c" * 30)
    put(s3_server, bucket, "db/latest.txt")
    put(s3_server, bucket, "db/old/backup_20230101_020000.sql.gz")  # a deeper prefix is not listed
    put(s3_server, bucket, "other/backup_20240112_020000.sql.gz")

    store = S3Store(bucket, "db", endpoint_url=s3_server, timeout_s=5)
    before = datetime.now(UTC)
    listing = store.list()

    assert store.location == f"s3://{bucket}/db/"
    assert [b.name for b in listing] == [
        "backup_20240109_020000.sql.gz",
        "backup_20240110_020000.sql.gz",
        "backup_20240111_020000.dump",
    ]
    assert listing[0].key == "db/backup_20240109_020000.sql.gz"
    assert [b.size for b in listing] == [20, 10, 30]
    assert listing.ignored == ("latest.txt",)
    newest = listing[-1]
    assert newest.format == "custom"
    assert newest.location == f"s3://{bucket}/db/"
    # the object time is the upload time: far from the time in the name
    assert newest.modified_at.tzinfo == UTC
    assert abs((newest.modified_at - before).total_seconds()) < 120
    assert newest.clock_skew_hours > 24
    assert select_backup(listing, "latest") == newest
    assert "127.0.0.1" in store.describe()


def test_s3_object_time_matches_a_fresh_backup(s3_server: str, bucket: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    put(s3_server, bucket, name_at(now))
    (backup,) = S3Store(bucket, "", endpoint_url=s3_server, timeout_s=5).list()
    assert backup.clock_skew_hours < 0.1


def test_s3_open_streams_a_large_object(s3_server: str, bucket: str) -> None:
    body = os.urandom(MiB) * 20
    put(s3_server, bucket, "backup_20240110_020000.sql.gz", body)
    store = S3Store(bucket, "", endpoint_url=s3_server, timeout_s=10)
    (backup,) = store.list()

    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        with store.open(backup) as stream:
            assert not isinstance(stream, bytes | bytearray)
            while chunk := stream.read(MiB):
                digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.digest() == hashlib.sha256(body).digest()
    assert peak < 8 * MiB, f"reading 20 MiB in 1 MiB chunks peaked at {peak / MiB:.1f} MiB"


def test_s3_details_give_object_encryption_and_version(s3_server: str, bucket: str) -> None:
    client_for(s3_server).put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put(s3_server, bucket, "backup_20240110_020000.sql.gz", b"v1")
    put(s3_server, bucket, "backup_20240110_020000.sql.gz", b"v2!", ServerSideEncryption="AES256")
    put(s3_server, bucket, "backup_20240111_020000.sql.gz", b"plain")
    store = S3Store(bucket, "", endpoint_url=s3_server, timeout_s=5)
    first, second = store.list()
    assert first.encryption is None
    assert first.version_id is None  # a listing does not carry them

    detailed = store.details(first)
    assert detailed.encryption == "AES256"
    assert detailed.version_id
    assert detailed.size == 3
    assert store.details(second).encryption is None
    with store.open(detailed) as stream:  # opens exactly that version
        assert stream.read() == b"v2!"


def test_bucket_facts_read_versioning_lifecycle_and_encryption(s3_server: str, bucket: str) -> None:
    client = client_for(s3_server)
    store = S3Store(bucket, "db/", endpoint_url=s3_server, timeout_s=5)

    bare = store.bucket_facts()  # a new moto bucket has none of them (AWS applies SSE-S3 since 2023)
    assert (bare.versioning.value, bare.versioning.note) == ("Disabled", "never enabled")
    assert bare.expiration_days.state == "absent"
    assert bare.expiration_days.note == "NoSuchLifecycleConfiguration"
    assert bare.encryption.state == "absent"
    assert str(bare.encryption) == "none (ServerSideEncryptionConfigurationNotFoundError)"

    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 3}},
                {
                    "ID": "tagged",
                    "Status": "Enabled",
                    "Filter": {"Tag": {"Key": "k", "Value": "v"}},
                    "Expiration": {"Days": 1},
                },
                {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": "db/"}, "Expiration": {"Days": 2}},
                {
                    "ID": "backups",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "db/"},
                    "Expiration": {"Days": 30},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
                },
            ]
        },
    )
    client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    facts = store.bucket_facts()
    assert facts.versioning.value == "Enabled"
    assert (facts.expiration_days.value, facts.expiration_days.note) == (30, "rule backups")
    assert facts.noncurrent_expiration_days.value == 7
    assert facts.encryption.value == "AES256"
    assert "lifecycle expiration (days): 30 (rule backups)" in facts.lines()

    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert store.bucket_facts().versioning.value == "Suspended"
    other_prefix = S3Store(bucket, "archive/", endpoint_url=s3_server, timeout_s=5).bucket_facts()
    assert other_prefix.expiration_days.state == "absent"
    assert "covers prefix 'archive/'" in other_prefix.expiration_days.note


def test_missing_bucket_is_a_failed_check(s3_server: str, aws_env: Mapping[str, str]) -> None:
    store = S3Store("no-such-bucket-here", "db/", endpoint_url=s3_server, timeout_s=5)
    with pytest.raises(CheckFailed) as caught:
        store.list()
    assert caught.value.checked == "backup location s3://no-such-bucket-here/db/"
    assert caught.value.expected == "an existing bucket with backups"
    assert caught.value.seen.startswith("NoSuchBucket")


def test_open_store_reaches_s3_through_the_settings(s3_server: str, bucket: str, tmp_path: Path) -> None:
    put(s3_server, bucket, "nightly/backup_20240110_020000.sql.gz")
    store = open_store(settings(f"s3://{bucket}/nightly/", tmp_path, s3_endpoint_url=s3_server), timeout_s=5)
    assert [b.name for b in store.list()] == ["backup_20240110_020000.sql.gz"]


def test_closed_port_is_unreachable_within_the_timeout(aws_env: Mapping[str, str]) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    store = S3Store("some-bucket", "db/", endpoint_url=endpoint, timeout_s=1)
    started = time.monotonic()
    with pytest.raises(TargetUnreachable) as caught:
        store.list()
    assert time.monotonic() - started < 5
    assert caught.value.checked == f"S3 endpoint {endpoint} (ListObjectsV2 on s3://some-bucket/db/)"
    assert "Connection refused" in caught.value.reason


def test_endpoint_password_and_token_are_masked(aws_env: Mapping[str, str]) -> None:
    endpoint = f"http://ops:hunter2-endpoint-pw@127.0.0.1:{closed_port()}/?X-Token=endpoint-token-42"
    with pytest.raises(TargetUnreachable) as caught:
        S3Store("some-bucket", "", endpoint_url=endpoint, timeout_s=1).list()
    message = str(caught.value)
    assert "hunter2-endpoint-pw" not in message
    assert "endpoint-token-42" not in message
    assert "http://ops:***@127.0.0.1:" in message


def test_silent_endpoint_times_out(aws_env: Mapping[str, str]) -> None:
    with silent_tcp_server() as port:
        store = S3Store("some-bucket", "", endpoint_url=f"http://127.0.0.1:{port}", timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(TargetUnreachable) as caught:
            store.list()
        elapsed = time.monotonic() - started
    assert caught.value.reason == "the call as a whole took longer than timeout_s = 0.5 s"
    assert elapsed < 2  # one deadline for both attempts


def test_no_credentials_at_all(
    s3_server: str, aws_env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CheckFailed) as caught:
        S3Store("any-bucket", "", endpoint_url=s3_server, timeout_s=2).list()
    assert caught.value.seen == "NoCredentialsError"
    assert "standard AWS chain" in caught.value.expected


# ----------------------------------------------------------------------- IAM: a moto that enforces it


@pytest.fixture(scope="module")
def locked_bucket(s3_iam_server: MotoServer) -> dict[str, str]:
    """A bucket and a user whose only permission is s3:GetObject on its objects."""
    name = f"locked-{uuid.uuid4().hex[:8]}"
    with s3_iam_server.auth_disabled():
        s3 = client_for(s3_iam_server.endpoint)
        iam = client_for(s3_iam_server.endpoint, service="iam")
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="db/backup_20240110_020000.sql.gz", Body=b"only-get")
        iam.create_user(UserName="backup-reader")
        key = iam.create_access_key(UserName="backup-reader")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*"}
            ],
        }
        iam.put_user_policy(
            UserName="backup-reader", PolicyName="get-only", PolicyDocument=json.dumps(policy)
        )
    return {"bucket": name, "key_id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def as_user(monkeypatch: pytest.MonkeyPatch, key_id: str, secret: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)


def test_list_denied_names_bucket_and_permission(
    s3_iam_server: MotoServer,
    locked_bucket: dict[str, str],
    aws_env: Mapping[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    as_user(monkeypatch, locked_bucket["key_id"], locked_bucket["secret"])
    bucket = locked_bucket["bucket"]
    store = S3Store(bucket, "db/", endpoint_url=s3_iam_server.endpoint, timeout_s=5)

    with pytest.raises(CheckFailed) as caught:
        store.list()
    message = str(caught.value)
    assert caught.value.checked == f"access to bucket {bucket} (ListObjectsV2)"
    assert f"s3:ListBucket on arn:aws:s3:::{bucket}" in caught.value.expected
    assert caught.value.seen.startswith("AccessDenied")
    assert locked_bucket["secret"] not in message
    assert locked_bucket["key_id"] not in message

    # what the policy does allow still works: the denial is about the permission, not the credentials
    backup = Backup(
        "backup_20240110_020000.sql.gz", "db/backup_20240110_020000.sql.gz", store.location,
        datetime(2024, 1, 10, 2, tzinfo=UTC), datetime(2024, 1, 10, 2, tzinfo=UTC), 8, "plain-gzip",
    )  # fmt: skip
    with store.open(backup) as stream:
        assert stream.read() == b"only-get"

    facts = store.bucket_facts()
    assert (
        str(facts.versioning)
        == f"unavailable: AccessDenied (s3:GetBucketVersioning on arn:aws:s3:::{bucket})"
    )
    assert (
        facts.expiration_days.note == f"AccessDenied (s3:GetLifecycleConfiguration on arn:aws:s3:::{bucket})"
    )
    assert facts.encryption.note == f"AccessDenied (s3:GetEncryptionConfiguration on arn:aws:s3:::{bucket})"


@pytest.mark.parametrize(
    ("key_id", "secret", "code"),
    [
        ("AKIAUNKNOWNKEY000000", "unknown-secret-value-123", "InvalidAccessKeyId"),
        (None, "wrong-secret-value-456", "SignatureDoesNotMatch"),
    ],
)
@pytest.mark.usefixtures("aws_env")
def test_rejected_credentials_are_named_but_never_printed(  # noqa: PLR0917 - fixtures and parameters
    s3_iam_server: MotoServer,
    locked_bucket: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    key_id: str | None,
    secret: str,
    code: str,
) -> None:
    key_id = key_id or locked_bucket["key_id"]
    as_user(monkeypatch, key_id, secret)
    with pytest.raises(CheckFailed) as caught:
        S3Store(locked_bucket["bucket"], "db/", endpoint_url=s3_iam_server.endpoint, timeout_s=5).list()
    message = str(caught.value)
    assert caught.value.seen == f"{code}: the credentials were rejected (credentials from env)"
    assert caught.value.checked.startswith(
        f"AWS credentials for s3://{locked_bucket['bucket']}/db/ at http://127.0.0.1:"
    )
    assert secret not in message
    assert key_id not in message
    assert_no_credentials(message)


def test_download_cut_midway_is_unreachable_not_a_short_backup(s3_server: str, bucket: str) -> None:
    put(s3_server, bucket, "backup_20240110_020000.sql.gz", os.urandom(2 * MiB))
    (listed,) = S3Store(bucket, "", endpoint_url=s3_server, timeout_s=5).list()
    with cutting_proxy(int(s3_server.rsplit(":", 1)[1]), limit=300 * KiB) as port:
        store = S3Store(bucket, "", endpoint_url=f"http://127.0.0.1:{port}", timeout_s=5)
        with store.open(listed) as stream:
            assert len(stream.read(64 * KiB)) == 64 * KiB
            with pytest.raises(TargetUnreachable) as caught:
                stream.read()  # the rest never arrives
    assert caught.value.checked.startswith(
        f"download of s3://{bucket}/backup_20240110_020000.sql.gz from http://127.0.0.1:"
    )
    assert "bytes" in caught.value.reason


@pytest.mark.parametrize("versioned", [False, True], ids=["etag", "version"])
def test_s3_large_object_downloads_in_concurrent_ranged_parts_of_one_version(
    s3_server: str, bucket: str, monkeypatch: pytest.MonkeyPatch, *, versioned: bool
) -> None:
    monkeypatch.setattr("opscheck.restore.s3.RANGED_FROM_BYTES", 2 * MiB)
    monkeypatch.setattr("opscheck.restore.s3.PART_BYTES", 512 * KiB)
    if versioned:
        client_for(s3_server).put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
        )
    body = os.urandom(16 * MiB + 123)
    put(s3_server, bucket, "backup_20240110_020000.sql.gz", body)
    store = S3Store(bucket, "", endpoint_url=s3_server, timeout_s=10)
    (listed,) = store.list()
    backup = store.details(listed)
    assert (backup.version_id is not None) is versioned
    parts: list[tuple[int, int]] = []
    fetch = store._part
    monkeypatch.setattr(
        store,
        "_part",
        lambda b, first, last, into: parts.append((first, last)) or fetch(b, first, last, into),
    )

    tracemalloc.start()
    try:
        with store.open(backup) as stream:
            digest = hashlib.sha256()
            while chunk := stream.read(300 * KiB):
                digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert digest.digest() == hashlib.sha256(body).digest()
    assert peak < 8 * MiB, f"reading 16 MiB in 512 KiB parts peaked at {peak / MiB:.1f} MiB"
    assert sorted(parts) == [
        (at, min(at + 512 * KiB, len(body)) - 1) for at in range(0, len(body), 512 * KiB)
    ]

    # the object replaced after details(): the parts pin the version seen, never mix two versions
    put(s3_server, bucket, "backup_20240110_020000.sql.gz", os.urandom(len(body)))
    with store.open(backup) as stream:
        if versioned:
            assert hashlib.sha256(stream.read()).digest() == hashlib.sha256(body).digest()
        else:
            with pytest.raises(CheckFailed, match="PreconditionFailed"):
                stream.read()
