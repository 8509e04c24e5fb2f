"""Authentication Issues: NEXTAUTH_URL is the site's own public URL."""

import pytest

from opscheck.config import Environment
from opscheck.context import CheckRecord
from opscheck.credentials import NEXTAUTH_URL_RULES, CredentialSource, enforce, nextauth_url_finding


@pytest.mark.runbook("authentication-issues", severity="P1")
@pytest.mark.parametrize("rule", NEXTAUTH_URL_RULES)
def test_nextauth_url_matches_the_site(
    rule: str, credential_source: CredentialSource, opscheck_env: Environment, check: CheckRecord
) -> None:
    url = credential_source.value("NEXTAUTH_URL")
    finding = nextauth_url_finding(
        rule, url, base_url=opscheck_env.base_url, production=opscheck_env.production
    )
    enforce(finding, check, credential_source.origin)
