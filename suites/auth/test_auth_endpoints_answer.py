"""Authentication Issues (P1): NextAuth's endpoints answer without server errors. A deployment without
NEXTAUTH_SECRET answers 500 on every /api/auth endpoint, and nobody can sign in."""

import pytest

from opscheck.auth import UNCONFIGURED_AUTH_ADVICE, expect_endpoints_healthy
from opscheck.config import AuthSettings
from opscheck.context import CheckRecord
from opscheck.errors import CheckFailed
from opscheck.fixtures import Remediation
from opscheck.nextauth import NextAuth


@pytest.mark.runbook("authentication-issues", severity="P1")
def test_auth_endpoints_answer_without_server_errors(
    nextauth: NextAuth, auth: AuthSettings, remediation: Remediation, check: CheckRecord
) -> None:
    statuses = nextauth.endpoint_statuses(["csrf", "providers", "session"])
    try:
        expect_endpoints_healthy(statuses, check)
    except CheckFailed:
        remediation.add(UNCONFIGURED_AUTH_ADVICE)
        raise
