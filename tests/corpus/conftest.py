"""The conformance corpus: one realistic database (``corpus.sql``), built once per session on the shared
PostgreSQL 15 cluster and dumped by the real ``pg_dump`` in every format the drill accepts.

Each case appends one JSON line to ``restore-corpus.jsonl`` in the controller's pytest basetemp (the fault
matrix's pattern), and the table of verdicts -- the drill's beside the runbook's own ``gunzip | psql`` --
is printed at the end of the session.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from opscheck.restore.servers.local import LocalCluster
from tests.support.pgdump import pg_dump
from tests.support.verdict_table import append_row, log_path, logged_rows, write_table

HERE = Path(__file__).resolve().parent
ROLES_SQL = HERE / "roles.sql"
CORPUS_SQL = HERE / "corpus.sql"
#: the roles roles.sql creates (what a recovery procedure would create first)
CORPUS_ROLES = (
    "corpus_owner", "corpus_reader", "corpus_writer", "Corpus Auditor", "corpus_grantor", "rôle_données",
)  # fmt: skip
LOG_NAME = "restore-corpus.jsonl"

#: every table, with its exact row count, as schema.table (public unqualified), and the partitioned parents
FINGERPRINT_SQL = """
SELECT 'rows ' || n.nspname || '.' || c.relname || ' ' ||
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname),
                                             false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'
UNION ALL SELECT 'indexes ' || count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('app', 'Sales', 'données')
UNION ALL SELECT 'constraints ' || count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
  WHERE n.nspname IN ('app', 'Sales', 'données')
UNION ALL SELECT 'triggers ' || count(*) FROM pg_trigger WHERE NOT tgisinternal
UNION ALL SELECT 'policies ' || count(*) FROM pg_policy
UNION ALL SELECT 'large objects ' || count(*) FROM pg_largeobject_metadata
UNION ALL SELECT 'extensions ' || string_agg(extname, ',' ORDER BY extname) FROM pg_extension
UNION ALL SELECT 'owners ' || string_agg(c.relname || '=' || pg_get_userbyid(c.relowner), ',' ORDER BY c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('app', 'Sales', 'données')
UNION ALL SELECT 'grants ' || count(*) FROM information_schema.role_table_grants
  WHERE table_schema IN ('app', 'Sales', 'données')
UNION ALL SELECT 'sequence ' || last_value FROM app.invoice_numbers
ORDER BY 1
"""


@dataclass(frozen=True)
class Corpus:
    """The corpus database's dumps (file name → bytes), its fingerprint and its tables' row counts."""

    dumps: dict[str, bytes]
    schema: bytes  # pg_dump -s
    data: bytes  # pg_dump -a
    fingerprint: str
    counts: dict[str, int]  # "schema.table" (public: "table") → rows
    dbname: str


def fingerprint(cluster: LocalCluster, dbname: str) -> str:
    proc = cluster.psql("-q", "-At", "-c", FINGERPRINT_SQL, dbname=dbname, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _counts(fingerprint_text: str) -> dict[str, int]:
    counts = {}
    for line in fingerprint_text.splitlines():
        if line.startswith("rows "):
            name, count = line[len("rows ") :].rsplit(" ", 1)
            schema, table = name.split(".", 1)
            counts[table if schema == "public" else name] = int(count)
    return counts


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


@pytest.fixture(scope="session")
def corpus(pg_cluster: LocalCluster) -> Corpus:
    """Build the corpus database, dump it in each format, drop it (so ``pg_dump -C`` dumps can be
    restored under its name on the same cluster)."""
    dbname = f"corpus_{uuid.uuid4().hex[:10]}"
    pg_cluster.run_sql_file(ROLES_SQL)
    pg_cluster.create_database(dbname)
    try:
        pg_cluster.run_sql_file(CORPUS_SQL, dbname=dbname)
        print_ = fingerprint(pg_cluster, dbname)
        plain = pg_dump(pg_cluster, dbname)
        schema = pg_dump(pg_cluster, dbname, "-s")
        data = pg_dump(pg_cluster, dbname, "-a")
        dumps = {
            "plain.sql.gz": gz(plain),
            "custom.dump": pg_dump(pg_cluster, dbname, "-Fc"),
            "schema+data.sql.gz": gz(schema + data),
            "schema+data-2-members.sql.gz": gz(schema) + gz(data),
            "create-C.sql.gz": gz(pg_dump(pg_cluster, dbname, "-C")),
            "plain.sql": plain,
        }
    finally:
        pg_cluster.drop_database(dbname)
    assert b"\n\\restrict " in plain, "pg_dump 15.14+ wraps dumps in \\restrict"
    return Corpus(dumps, schema, data, print_, _counts(print_), dbname)


# -- the verdict table --------------------------------------------------------------------------------


@pytest.fixture
def corpus_log(pytestconfig: pytest.Config) -> Callable[..., None]:
    path = log_path(pytestconfig, LOG_NAME)
    return lambda **row: append_row(path, row)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    rows = logged_rows(config, LOG_NAME)
    if not rows:
        return
    rows.sort(key=lambda row: (row["dump"], row["order"]))
    head = ("dump", "damage", "drill", "drill says", "gunzip | psql (runbook)", "verdict")
    table = [head] + [
        (r["dump"], r["damage"], r["drill"], r["says"][:90], r["runbook"], r["verdict"]) for r in rows
    ]
    write_table(terminalreporter, "opscheck restore corpus (real pg_dump 15 dumps)", table)
