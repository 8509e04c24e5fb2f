"""Authentication Issues: next-auth takes its public URL from AUTH_URL / NEXTAUTH_URL, or trusts the Host
header only where the platform sets it (Vercel, Cloudflare Pages); the source it will use is reported."""

import pytest

from opscheck.auth.variables import FlavorChoice, origin_finding
from opscheck.config import Environment
from opscheck.credentials.findings import enforce
from opscheck.credentials.sources import CredentialSource
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("authentication-issues", severity="P1")
def test_auth_url_source_is_pinned(
    credential_source: CredentialSource,
    auth_flavor: FlavorChoice,
    opscheck_env: Environment,
    check: CheckRecord,
) -> None:
    finding = origin_finding(credential_source.values, auth_flavor, opscheck_env.base_url)
    enforce(finding, check, credential_source.origin)
