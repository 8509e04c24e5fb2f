"""The fault matrix's shared pieces: a read-only database role with a planted password, and the
end-of-session table of every row's verdict.

Each row appends one JSON line to ``fault-matrix.jsonl`` in the controller's pytest basetemp (an xdist
worker's basetemp is a child of it), so the controller can print the table even though the rows ran in
other processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opscheck.restore.servers.local import LocalCluster
from tests.support.verdict_table import append_row, log_path, logged_rows, write_table

LOG_NAME = "fault-matrix.jsonl"

#: a read-only role the smoke rows log in as; its password is one of the values no output may show
DB_ROLE = "faults_reader"
PLANTED_DB_PASSWORD = "planted-db-pw-Xq7Lm2Rv9Tz"


class MatrixLog:
    """Where a row records its verdict (one JSON line each)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, **row: Any) -> None:
        append_row(self.path, row)


@pytest.fixture
def matrix_log(pytestconfig: pytest.Config) -> MatrixLog:
    return MatrixLog(log_path(pytestconfig, LOG_NAME))


@pytest.fixture(scope="session")
def db_reader(pg_cluster: LocalCluster) -> str:
    """The DSN of a login role with the planted password in the session's PostgreSQL cluster."""
    sql = (
        f"DO $$ BEGIN CREATE ROLE {DB_ROLE} LOGIN PASSWORD '{PLANTED_DB_PASSWORD}'; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    proc = pg_cluster.psql("-q", "-c", sql, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return pg_cluster.dsn(user=DB_ROLE, password=PLANTED_DB_PASSWORD)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    rows = logged_rows(config, LOG_NAME)
    if not rows:
        return
    rows.sort(key=lambda row: row["id"])
    head = ("row", "caught by", "outcome", "runbook section", "suite s", "wall s", "verdict")
    table = [head] + [
        (
            row["id"],
            row["caught_by"],
            row["outcome"],
            row["section"],
            f"{row['suite_s']:.1f}/{row['max_suite_s']:g}",
            f"{row['wall_s']:.1f}/{row['max_wall_s']:g}",
            row["verdict"],
        )
        for row in rows
    ]
    write_table(terminalreporter, "opscheck fault matrix", table)
