"""Authentication Issues: AUTH_URL / NEXTAUTH_URL (each one that is set) is the site's own public URL."""

import pytest

from opscheck.auth.variables import url_rule_finding
from opscheck.config import Environment
from opscheck.credentials.findings import enforce
from opscheck.credentials.sources import CredentialSource
from opscheck.credentials.values import URL_RULES
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("authentication-issues", severity="P1")
@pytest.mark.parametrize("rule", URL_RULES)
def test_nextauth_url_matches_the_site(
    rule: str, credential_source: CredentialSource, opscheck_env: Environment, check: CheckRecord
) -> None:
    finding = url_rule_finding(
        rule, credential_source.values, base_url=opscheck_env.base_url, production=opscheck_env.production
    )
    enforce(finding, check, credential_source.origin)
