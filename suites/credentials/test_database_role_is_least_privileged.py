"""Database Role Privileges: the app's role is not a superuser and cannot create roles or databases."""

import pytest

from opscheck.config import Environment
from opscheck.credentials.database import postgres_url_finding, role_privileges
from opscheck.credentials.findings import enforce
from opscheck.credentials.sources import CredentialSource


@pytest.mark.runbook("database-role-privileges", severity="P2")
def test_database_role_is_least_privileged(
    credential_source: CredentialSource, opscheck_env: Environment
) -> None:
    url = credential_source.value("DATABASE_URL")
    if not postgres_url_finding("parses", url, production=False).ok:
        pytest.skip("DATABASE_URL does not parse (see test_database_url_is_safe[parses])")
    privileges = role_privileges(url, timeout_s=opscheck_env.timeout_s)
    enforce(privileges.finding(), origin=credential_source.origin)
