"""What an AWS error means, for every opscheck module that calls AWS (the backup store, the credential
checks): one map of error codes and one wording, so an expired session token reads the same whichever
check met it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import botocore.exceptions

__all__ = [
    "CREDENTIAL_ERRORS",
    "DENIED",
    "NO_CREDENTIALS",
    "UNREACHABLE",
    "UNSUPPORTED",
    "connection_reason",
    "error_code",
    "error_message",
    "rejected",
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
