"""Data Recovery: the backup is a complete, readable pg_dump before anything is restored."""

import pytest

from opscheck.restore.drill import Drill
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("data-recovery", severity="P1")
def test_backup_stream_is_complete(restore_drill: Drill, check: CheckRecord) -> None:
    restore_drill.record_metrics(check)
    facts, roles = restore_drill.facts()
    check.metric("dump_format", facts.format)
    check.metric("source_server_version", facts.source_server_version)
    check.metric("pg_dump_version", facts.pg_dump_version)
    check.metric("uncompressed_bytes", facts.uncompressed_bytes)
    check.metric("dump_parts", facts.parts)
    if facts.create_database:
        check.metric("creates_database", facts.create_database)
    if roles:
        check.metric("roles_referenced", sorted(roles))
