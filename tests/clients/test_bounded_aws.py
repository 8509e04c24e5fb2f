"""Bounded time for every AWS call (issue 12): a real moto S3/STS whose answers crawl a byte at a time
through a proxy, or a local server that dribbles its body, must not hang the backup listing, the object and
bucket checks or the credentials checks: each call ends by ``timeout_s`` (plus a little) with an error
naming what was checked. botocore's own timeouts apply to each socket read, which a dribble never trips.

A backup *download* is the exception: it is bounded by progress, not total time (a 100 GB backup takes
longer than any ``timeout_s``): it goes on as long as bytes keep coming and ends when none came for
``timeout_s``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

import boto3
import pytest

from opscheck.credentials.aws import AwsAccess
from opscheck.errors import TargetUnreachable
from opscheck.restore.backups import Backup
from opscheck.restore.s3 import S3Store
from tests.support.hostile_http import DribblingProxy, DribblingServer
from tests.support.moto import client_for
from tests.support.time_limits import SLACK_S, finishes_within

pytest_plugins = ["tests.support.s3_server"]

KEY = "db/backup_20240110_020000.sql.gz"


@pytest.fixture
def bucket(s3_server: str, aws_env: Mapping[str, str]) -> str:
    name = f"bounded-{uuid.uuid4().hex[:12]}"
    client = client_for(s3_server)
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key=KEY, Body=b"x" * 5000)
    return name


@pytest.fixture
def crawling_s3(s3_server: str) -> Iterator[str]:
    """The endpoint URL of the real moto behind a proxy that passes its answers on a byte every 0.05 s."""
    port = int(s3_server.rsplit(":", 1)[1])
    with DribblingProxy(port, interval_s=0.05) as proxy:
        yield f"http://127.0.0.1:{proxy.port}"


def listed_backup(bucket: str, size: int = 5000) -> Backup:
    taken = datetime(2024, 1, 10, 2, tzinfo=UTC)
    return Backup(
        name=KEY.removeprefix("db/"),
        key=KEY,
        location=f"s3://{bucket}/db/",
        taken_at=taken,
        modified_at=taken,
        size=size,
        format="sql.gz",
    )


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("ListObjectsV2", lambda store, bucket: store.list()),
        ("HeadObject", lambda store, bucket: store.details(listed_backup(bucket))),
        ("GetObject", lambda store, bucket: store.open(listed_backup(bucket))),
        ("GetBucketVersioning", lambda store, bucket: store.bucket_facts()),
    ],
)
def test_an_s3_call_whose_answer_crawls_ends_by_the_timeout(
    crawling_s3: str, bucket: str, operation: str, call: object
) -> None:
    store = S3Store(bucket, "db/", endpoint_url=crawling_s3, timeout_s=1.5)
    took, result = finishes_within(1.5 + SLACK_S, lambda: call(store, bucket))  # type: ignore[operator]

    assert isinstance(result, TargetUnreachable), result
    assert result.checked == f"S3 endpoint {crawling_s3} ({operation} on s3://{bucket}/db/)"
    assert result.reason == "the call as a whole took longer than timeout_s = 1.5 s"
    assert took >= 1.4, took


def test_a_dribbled_listing_ends_by_the_timeout(aws_env: Mapping[str, str]) -> None:
    with DribblingServer(stage="body", interval_s=0.1) as server:
        store = S3Store("some-bucket", "db/", endpoint_url=server.url, timeout_s=1)
        _took, result = finishes_within(1 + SLACK_S, store.list)
    assert isinstance(result, TargetUnreachable), result
    assert "could not be reached (the call as a whole took longer than timeout_s = 1 s)" in str(result)


def test_a_download_that_keeps_coming_is_not_cut_at_the_timeout(aws_env: Mapping[str, str]) -> None:
    """30 bytes a tenth of a second apart take 3 s, twice timeout_s: progress, so the download goes on."""
    with DribblingServer(stage="body", interval_s=0.1, body_size=30) as server:
        store = S3Store("some-bucket", "db/", endpoint_url=server.url, timeout_s=1.5)
        took, result = finishes_within(10, lambda: store.open(listed_backup("some-bucket", 30)).read())
    assert result == b"x" * 30
    assert took > 2.5, took


def test_a_download_that_stalls_ends_after_timeout_s_without_a_byte(aws_env: Mapping[str, str]) -> None:
    with DribblingServer(stage="body", interval_s=30, body_size=30) as server:
        endpoint = server.url
        store = S3Store("some-bucket", "db/", endpoint_url=endpoint, timeout_s=1)
        stream = store.open(listed_backup("some-bucket", 30))
        _took, result = finishes_within(1 + SLACK_S, stream.read)
    assert isinstance(result, TargetUnreachable), result
    assert result.checked == f"download of s3://some-bucket/{KEY} from {endpoint}"
    assert result.reason == "no byte for timeout_s = 1 s after 0 bytes"


def test_a_credentials_check_whose_answer_crawls_ends_by_the_timeout(
    crawling_s3: str, aws_env: Mapping[str, str]
) -> None:
    access = AwsAccess(
        session=boto3.session.Session(region_name="us-east-1"),
        variables="AWS credentials",
        origin="the standard AWS credential chain",
        bucket="some-bucket",
        prefix="db/",
        endpoint_url=crawling_s3,
        region="us-east-1",
        timeout_s=1.5,
    )
    took, result = finishes_within(1.5 + SLACK_S, access.caller_identity)
    assert isinstance(result, TargetUnreachable), result
    assert result.checked == f"STS GetCallerIdentity at {crawling_s3}"
    assert result.reason == "the call as a whole took longer than timeout_s = 1.5 s"
    assert took >= 1.4, took
