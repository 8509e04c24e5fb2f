"""Database Connection Errors (P0): the database accepts a read-only session and answers SELECT 1."""

import pytest

from opscheck.clients.postgres import probe_database
from opscheck.config import Environment
from opscheck.errors import CheckFailed
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("database-connection-errors", severity="P0")
def test_database_answers_read_only(opscheck_env: Environment, check: CheckRecord) -> None:
    database = opscheck_env.database
    result = probe_database(database.url.reveal(), timeout_s=opscheck_env.timeout_s)
    check.metric("server_version", result.server_version)
    check.metric("connect_ms", result.connect_ms)
    check.metric("latency_ms", result.total_ms)
    if result.total_ms > database.max_latency_ms:
        raise CheckFailed(
            "PostgreSQL connect + SELECT 1",
            f"at most {database.max_latency_ms:g} ms",
            f"{result.total_ms:g} ms",
        )
