"""Authentication Issues: next-auth signs with one secret you can name: AUTH_SECRET and NEXTAUTH_SECRET do not
disagree, and rotation variables are ones next-auth reads."""

import pytest

from opscheck.auth.variables import FlavorChoice, secret_source_finding
from opscheck.credentials.findings import enforce
from opscheck.credentials.sources import CredentialSource
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("authentication-issues", severity="P1")
def test_auth_secret_is_unambiguous(
    credential_source: CredentialSource, auth_flavor: FlavorChoice, check: CheckRecord
) -> None:
    enforce(secret_source_finding(credential_source.values, auth_flavor), check, credential_source.origin)
