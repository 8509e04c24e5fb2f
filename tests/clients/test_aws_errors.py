"""One AWS error map for the backup store and the credential checks: an error code means the same to both.

The two used to keep their own lists, and had drifted: only the credential checks knew
``ExpiredTokenException``, only the backup store ``TokenRefreshRequired``. Each check here meets the code
the other one knew, from a local server answering as AWS does (botocore parses the real HTTP answer).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import boto3
import pytest

from opscheck.clients import aws
from opscheck.credentials.aws import AwsAccess
from opscheck.errors import CheckFailed
from opscheck.restore.s3 import S3Store
from tests.support.servers import LocalHTTPServer, Route

pytest_plugins = ["tests.support.s3_server"]


def _s3_error(code: str) -> Route:
    body = f"<Error><Code>{code}</Code><Message>The provided token has expired.</Message></Error>"
    return Route(status=400, body=body, headers={"Content-Type": "application/xml"})


def _query_api_error(code: str) -> Route:
    """The way STS and IAM answer an error (the query protocol's ErrorResponse)."""
    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>The provided token has expired.</Message>"
        "</Error><RequestId>1</RequestId></ErrorResponse>"
    )
    return Route(status=403, body=body, headers={"Content-Type": "text/xml"})


@pytest.mark.parametrize("code", ["ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"])
def test_every_expired_token_code_is_rejected_credentials_for_the_backup_store(
    aws_env: Mapping[str, str], code: str
) -> None:
    with LocalHTTPServer({"/backups": _s3_error(code), "/backups/": _s3_error(code)}) as server:
        url = server.url
        store = S3Store("backups", "db/", endpoint_url=url, timeout_s=5)
        with pytest.raises(CheckFailed) as caught:
            store.list()
    assert caught.value.seen == f"{code}: the credentials were rejected (credentials from env)"
    assert caught.value.checked == f"AWS credentials for s3://backups/db/ at {url}"


@pytest.mark.parametrize("code", ["ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"])
def test_every_expired_token_code_is_rejected_credentials_for_the_credential_checks(code: str) -> None:
    session = boto3.session.Session(
        aws_access_key_id="AKIA" + secrets.token_hex(8).upper(),
        aws_secret_access_key=secrets.token_urlsafe(30),
        region_name="us-east-1",
    )
    with LocalHTTPServer({"/": _query_api_error(code)}) as server:
        url = server.url
        access = AwsAccess(session, "AWS credentials", "test", "bucket", "", url, "us-east-1", 5)
        with pytest.raises(CheckFailed) as caught:
            access.caller_identity()
    assert caught.value.checked == "AWS credentials [accepted]"
    assert caught.value.seen == (
        f"{code}: the credentials were rejected by STS GetCallerIdentity at {url}, in test"
    )


def test_the_map_gives_each_code_one_meaning() -> None:
    groups = (aws.CREDENTIAL_ERRORS, aws.DENIED, aws.UNSUPPORTED)
    assert all(not (a & b) for i, a in enumerate(groups) for b in groups[i + 1 :])


@pytest.mark.parametrize(
    ("configured", "env_file", "process", "expected"),
    [
        ("eu-west-3", {"AWS_REGION": "ap-south-1"}, {"AWS_REGION": "us-west-2"}, "eu-west-3"),
        (None, {"AWS_DEFAULT_REGION": "ap-south-1"}, {"AWS_REGION": "us-west-2"}, "ap-south-1"),
        (None, {"AWS_REGION": ""}, {"AWS_DEFAULT_REGION": "us-west-2"}, "us-west-2"),
        (None, {}, {}, "us-east-1"),
    ],
)
def test_one_region_rule_for_the_store_and_the_credential_checks(
    monkeypatch: pytest.MonkeyPatch,
    configured: str | None,
    env_file: dict[str, str],
    process: dict[str, str],
    expected: str,
) -> None:
    """``[backups] region``, else the env file's region variables, else the process's, else us-east-1."""
    for name, value in process.items():
        monkeypatch.setenv(name, value)
    assert aws.region_or_default(configured, env_file) == expected


def test_every_client_has_a_timeout_and_a_bounded_number_of_attempts() -> None:
    config = aws.client_config(7.5, 1)
    assert (config.connect_timeout, config.read_timeout) == (7.5, 7.5)
    assert config.retries == {"total_max_attempts": 1}
