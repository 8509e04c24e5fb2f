"""Real ``pg_dump`` output of the reference app's database (``examples/nextjs-app/db``), made once per session
(the ``dumps`` and ``slow_dump`` fixtures, registered in ``tests/conftest.py``), and the ways the restore
tests break one: cut inside a COPY, a bad statement, a missing extension, a newer server's version header."""

from __future__ import annotations

import gzip
import re
import uuid
from dataclasses import dataclass

import pytest

from opscheck.restore.servers.binaries import find_postgres_bindir, server_major
from opscheck.restore.servers.local import LocalCluster
from tests.support.pgdump import pg_dump
from tests.support.project import REPO

__all__ = [
    "APP_TABLES",
    "BAD_STATEMENT",
    "NEWER_MAJOR",
    "SCHEMA_SQL",
    "SEED_SQL",
    "Dumps",
    "claiming_version",
    "cut_inside_copy",
    "dumps",
    "ensure_role",
    "first_part_cut",
    "gzip_bytes",
    "psql_ok",
    "slow_dump",
    "with_bad_statement",
    "with_missing_extension",
    "without_restrict",
]

APP_TABLES = ("User", "Account", "Session", "VerificationToken", "_prisma_migrations")
SCHEMA_SQL = REPO / "examples" / "nextjs-app" / "db" / "schema.sql"
SEED_SQL = REPO / "examples" / "nextjs-app" / "db" / "seed.sql"
BAD_STATEMENT = b"SELEC 'a statement the dump never had';\n"


# ------------------------------------------------------------------------------------------- real dumps


@dataclass(frozen=True)
class Dumps:
    """Real pg_dump output of the reference app's database, and its row counts."""

    plain: bytes  # plain SQL text
    custom: bytes  # pg_dump -Fc
    counts: dict[str, int]
    schema: bytes = b""  # pg_dump -s
    data: bytes = b""  # pg_dump -a

    @property
    def gz(self) -> bytes:
        return gzip_bytes(self.plain)


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def psql_ok(cluster: LocalCluster, sql: str, dbname: str = "postgres") -> str:
    proc = cluster.psql("-q", "-At", "-c", sql, dbname=dbname, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def ensure_role(cluster: LocalCluster, role: str) -> None:
    psql_ok(
        cluster, f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )


@pytest.fixture(scope="session")
def dumps(pg_cluster: LocalCluster) -> Dumps:
    """The reference app's schema and seed in a database where role ``app`` owns "User" and "Session",
    dumped plain and custom (so the dump carries OWNER TO app lines)."""
    name = f"restore_src_{uuid.uuid4().hex[:10]}"
    ensure_role(pg_cluster, "app")
    pg_cluster.create_database(name)
    try:
        pg_cluster.run_sql_file(SCHEMA_SQL, dbname=name)
        pg_cluster.run_sql_file(SEED_SQL, dbname=name)
        psql_ok(pg_cluster, 'ALTER TABLE "User" OWNER TO app; ALTER TABLE "Session" OWNER TO app', name)
        counts = {
            table: int(psql_ok(pg_cluster, f'SELECT count(*) FROM "{table}"', name))  # noqa: S608 - constants
            for table in APP_TABLES
        }
        plain = pg_dump(pg_cluster, name)
        custom = pg_dump(pg_cluster, name, "-Fc")
        schema = pg_dump(pg_cluster, name, "-s")
        data = pg_dump(pg_cluster, name, "-a")
    finally:
        pg_cluster.drop_database(name)
    assert b"OWNER TO app;" in plain
    assert custom.startswith(b"PGDMP")
    return Dumps(plain, custom, counts, schema, data)


@pytest.fixture(scope="session")
def slow_dump(pg_cluster: LocalCluster) -> bytes:
    """A real, small, gzipped dump whose restore takes about 10 s wherever it runs: an expression index
    whose function sleeps 25 ms per row, but only in a database named ``restored`` (the drill's)."""
    name = f"restore_slow_{uuid.uuid4().hex[:10]}"
    pg_cluster.create_database(name)
    try:
        psql_ok(
            pg_cluster,
            """
            CREATE FUNCTION public.slow_key(value integer) RETURNS integer
                LANGUAGE plpgsql IMMUTABLE AS $$
            BEGIN
                IF current_database() = 'restored' THEN PERFORM pg_catalog.pg_sleep(0.025); END IF;
                RETURN value;
            END $$;
            CREATE TABLE public.ledger (id integer PRIMARY KEY, note text NOT NULL);
            INSERT INTO public.ledger SELECT g, md5(g::text) FROM generate_series(1, 400) AS g;
            CREATE INDEX ledger_slow_key ON public.ledger (public.slow_key(id));
            """,
            name,
        )
        plain = pg_dump(pg_cluster, name)
    finally:
        pg_cluster.drop_database(name)
    return gzip_bytes(plain)


# -------------------------------------------------------------------------------- breaking a real dump


def cut_inside_copy(sql: bytes, table: bytes = b'public."User"', rows: int = 1000) -> bytes:
    """The dump cut after ``rows`` complete data lines of ``table``'s COPY (no ``\\.``, no end marker)."""
    lines = sql.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(b"COPY " + table + b" "))
    cut = lines[: start + 1 + rows]
    assert not any(line == b"\\.\n" for line in cut[start:])
    return b"".join(cut)


def first_part_cut(dumps: Dumps) -> bytes:
    """``(pg_dump -s; pg_dump -a) | gzip`` whose schema part was cut before its constraints and indexes
    (two gzip members, as ``cat schema.sql.gz data.sql.gz`` makes)."""
    cut = dumps.schema[: dumps.schema.index(b"ALTER TABLE ONLY")]
    return gzip_bytes(cut) + gzip_bytes(dumps.data)


def without_restrict(sql: bytes) -> bytes:
    """The dump as pg_dump before 15.14 wrote it: no ``\\restrict``/``\\unrestrict`` lines."""
    lines = sql.splitlines(keepends=True)
    return b"".join(line for line in lines if not line.startswith((b"\\restrict ", b"\\unrestrict ")))


def with_missing_extension(sql: bytes, extension: bytes = b"opscheck_no_such_vector") -> bytes:
    """The dump with a ``CREATE EXTENSION`` no server has, before its first table."""
    lines = sql.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(b"CREATE TABLE "))
    lines.insert(at, b"CREATE EXTENSION IF NOT EXISTS " + extension + b" WITH SCHEMA public;\n")
    return b"".join(lines)


def with_bad_statement(sql: bytes, statement: bytes = BAD_STATEMENT) -> tuple[bytes, int]:
    """The dump with a bogus statement inserted before the COPY of "Session"; (dump, its 1-based line)."""
    lines = sql.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(b'COPY public."Session" '))
    assert len(lines) // 4 < at < len(lines) * 3 // 4  # the middle of the dump
    lines.insert(at, statement)
    return b"".join(lines), at + 1


#: one major above the newest PostgreSQL installed here: a dump "from" it can never be restored locally
NEWER_MAJOR = server_major(find_postgres_bindir()) + 1


def claiming_version(sql: bytes, version: str) -> bytes:
    """The dump with both version header lines edited to say ``version``."""
    out, found = re.subn(
        rb"^-- Dumped from database version .*$",
        b"-- Dumped from database version " + version.encode(),
        sql,
        count=1,
        flags=re.MULTILINE,
    )
    out, found_by = re.subn(
        rb"^-- Dumped by pg_dump version .*$",
        b"-- Dumped by pg_dump version " + version.encode(),
        out,
        count=1,
        flags=re.MULTILINE,
    )
    assert found == found_by == 1
    return out
