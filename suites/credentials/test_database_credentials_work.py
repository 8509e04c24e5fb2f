"""Database Connection Errors (P0): DATABASE_URL's credentials open a read-only session."""

import pytest

from opscheck.config import Environment
from opscheck.credentials.database import postgres_url_finding, probe_credentials
from opscheck.credentials.sources import CredentialSource
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("database-connection-errors", severity="P0")
def test_database_credentials_work(
    credential_source: CredentialSource, opscheck_env: Environment, check: CheckRecord
) -> None:
    url = credential_source.value("DATABASE_URL")
    if not postgres_url_finding("parses", url, production=False).ok:
        pytest.skip("DATABASE_URL does not parse (see test_database_url_is_safe[parses])")
    probe, ignored = probe_credentials(url, timeout_s=opscheck_env.timeout_s)
    check.metric("server_version", probe.server_version)
    check.metric("connect_ms", probe.connect_ms)
    for name in ignored:
        check.note(f"DATABASE_URL: query parameter {name!r} is not libpq's and was left out to connect")
