"""Authentication Issues: every auth secret (AUTH_SECRET, AUTH_SECRET_1…_3, NEXTAUTH_SECRET) is long, random
and nobody else's."""

import pytest

from opscheck.auth.variables import FlavorChoice, secret_rule_finding
from opscheck.credentials.findings import enforce
from opscheck.credentials.sources import CredentialSource
from opscheck.credentials.values import SECRET_RULES
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("authentication-issues", severity="P1")
@pytest.mark.parametrize("rule", SECRET_RULES)
def test_nextauth_secret_is_strong(
    rule: str, credential_source: CredentialSource, auth_flavor: FlavorChoice, check: CheckRecord
) -> None:
    enforce(secret_rule_finding(rule, credential_source.values, auth_flavor), check, credential_source.origin)
