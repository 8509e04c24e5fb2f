"""``pg_dump`` of a throwaway cluster's database, the one way tests make a real dump."""

from __future__ import annotations

import subprocess

from opscheck.restore.servers.local import LocalCluster
from tests.support.environment import without_caller_variables

__all__ = ["PG_DUMP_TIMEOUT_S", "pg_dump"]

#: a dump of a test database must end within this (a hung pg_dump fails the test instead of hanging it)
PG_DUMP_TIMEOUT_S = 120.0


def pg_dump(cluster: LocalCluster, dbname: str, *args: str, timeout_s: float = PG_DUMP_TIMEOUT_S) -> bytes:
    """``pg_dump`` of the cluster's own installation over its unix socket, ignoring the caller's PG*
    variables (also in module- and session-scoped fixtures, which run before the autouse isolation);
    asserts success and returns the dump."""
    proc = subprocess.run(
        cluster.client_command("pg_dump", dbname, *args),
        capture_output=True,
        timeout=timeout_s,
        env=without_caller_variables(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout
