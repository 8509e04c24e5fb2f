"""AWS as every opscheck module that calls it sees it (the backup store, the credential checks): one map of
error codes and one wording, so an expired session token reads the same whichever check met it; the S3
client factory; and how an ``s3://bucket/prefix/`` location and a region are read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit

import boto3
import botocore.exceptions
from botocore.config import Config

from opscheck.secrets import register_aws_credentials

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

    from opscheck.config import BackupSettings

__all__ = [
    "CREDENTIAL_ERRORS",
    "DENIED",
    "NO_CREDENTIALS",
    "UNREACHABLE",
    "UNSUPPORTED",
    "arn_partition",
    "client_config",
    "connection_reason",
    "error_code",
    "error_message",
    "make_s3_client",
    "parse_s3_location",
    "region_or_default",
    "rejected",
    "s3_client",
]

#: the credentials themselves were refused (unknown, wrong, expired): no permission would help
CREDENTIAL_ERRORS: Final = frozenset(
    {
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "ExpiredTokenException",
        "TokenRefreshRequired",
        "UnrecognizedClientException",
        "AuthFailure",
    }
)
#: valid credentials, but a policy says no (also the bare status of a bodiless HEAD answer)
DENIED: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AllAccessDisabled",
        "UnauthorizedOperation",
        "403",
        "Forbidden",
    }
)
#: the endpoint does not implement the call (an S3-compatible store, a local emulator)
UNSUPPORTED: Final = frozenset(
    {"NotImplemented", "InvalidAction", "UnknownOperation", "MethodNotAllowed", "501", "405"}
)
#: no usable credentials were found before any request was sent
NO_CREDENTIALS: Final = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
    botocore.exceptions.CredentialRetrievalError,
)
#: the endpoint could not be reached or answered with something that is not HTTP
UNREACHABLE: Final = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)


def error_code(exc: botocore.exceptions.ClientError) -> str:
    """The AWS error code, or the HTTP status for bodiless answers (HEAD requests)."""
    error: Mapping[str, Any] = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
    return str(error.get("Code") or status)


def error_message(exc: botocore.exceptions.ClientError) -> str:
    """The AWS error message as sent (unscrubbed: scrub it before showing it)."""
    error: Mapping[str, Any] = exc.response.get("Error", {})
    return str(error.get("Message") or "").strip()


def rejected(code: str) -> str:
    """The one wording of rejected credentials (the caller adds where, and where they came from)."""
    return f"{code}: the credentials were rejected"


def connection_reason(exc: Exception, timeout_s: float) -> str:
    """A short reason an AWS endpoint could not be used (timeouts, TLS, connection), without its URL."""
    if isinstance(exc, botocore.exceptions.ConnectTimeoutError):
        return f"connect timed out after {timeout_s:g} s"
    if isinstance(exc, botocore.exceptions.ReadTimeoutError):
        return f"no response within {timeout_s:g} s"
    if isinstance(exc, botocore.exceptions.SSLError):
        return f"TLS failed: {exc.kwargs.get('error', exc)}"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        inner = str(exc.kwargs.get("error", "")) or "could not connect"
        return "could not connect: " + inner.rsplit(": ", 1)[-1]
    return type(exc).__name__ + ": " + str(exc).split(" for URL", 1)[0].split(' URL: "', 1)[0]


# --------------------------------------------------------------------------------------------------- S3


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


def arn_partition(region: str) -> str:
    """The ARN partition of ``region`` (``aws``, ``aws-cn``, ``aws-us-gov``)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def region_or_default(configured: str | None, *environs: Mapping[str, str]) -> str:
    """``configured``, else ``AWS_REGION`` then ``AWS_DEFAULT_REGION`` from each of ``environs`` in turn and
    from the process environment last, else us-east-1."""
    if configured:
        return configured
    for environ in (*environs, os.environ):
        found = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        if found:
            return found
    return "us-east-1"


def client_config(timeout_s: float, attempts: int) -> Config:
    """How every boto3 client opscheck makes talks: connect and read timeouts of ``timeout_s`` and at
    most ``attempts`` attempts per request, the first one included."""
    return Config(
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        retries={"total_max_attempts": attempts},
        user_agent_extra="opscheck",
    )


def make_s3_client(
    endpoint_url: str | None, region: str, timeout_s: float, session: boto3.session.Session | None = None
) -> S3Client:
    """A boto3 S3 client from ``session`` (a new one for ``region`` if None): connect/read timeouts of
    ``timeout_s``, at most three attempts per request (botocore's ``max_attempts: 2`` counts the retries
    alone); its session's credentials are registered as secrets."""
    session = session or boto3.session.Session(region_name=region)
    client = session.client("s3", endpoint_url=endpoint_url or None, config=client_config(timeout_s, 3))
    register_aws_credentials(session)
    return client


def s3_client(settings: BackupSettings, timeout_s: float) -> S3Client:
    """A boto3 S3 client for ``[backups]``: its endpoint and region, the standard credential chain,
    connect/read timeouts of ``timeout_s`` and at most three attempts per request."""
    return make_s3_client(
        settings.s3_endpoint_url.strip() or None,
        region_or_default(settings.region.strip() or None),
        timeout_s,
    )
