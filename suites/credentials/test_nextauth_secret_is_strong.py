"""Authentication Issues: NEXTAUTH_SECRET is long, random and nobody else's."""

import pytest

from opscheck.context import CheckRecord
from opscheck.credentials import NEXTAUTH_SECRET_RULES, CredentialSource, enforce, nextauth_secret_finding


@pytest.mark.runbook("authentication-issues", severity="P1")
@pytest.mark.parametrize("rule", NEXTAUTH_SECRET_RULES)
def test_nextauth_secret_is_strong(
    rule: str, credential_source: CredentialSource, check: CheckRecord
) -> None:
    secret = credential_source.value("NEXTAUTH_SECRET")
    enforce(nextauth_secret_finding(rule, secret), check, credential_source.origin)
