"""Database Connection Errors: DATABASE_URL parses; production's is remote and verifies TLS."""

import pytest

from opscheck.config import Environment
from opscheck.credentials.database import DATABASE_URL_RULES, postgres_url_finding
from opscheck.credentials.findings import enforce
from opscheck.credentials.sources import CredentialSource
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("database-connection-errors", severity="P1")
@pytest.mark.parametrize("rule", DATABASE_URL_RULES)
def test_database_url_is_safe(
    rule: str, credential_source: CredentialSource, opscheck_env: Environment, check: CheckRecord
) -> None:
    url = credential_source.value("DATABASE_URL")
    enforce(
        postgres_url_finding(rule, url, production=opscheck_env.production), check, credential_source.origin
    )
