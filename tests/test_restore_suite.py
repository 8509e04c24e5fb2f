"""The shipped restore drill (``suites/restore``) against real backups: every verdict, proven.

The backups are real ``pg_dump`` output of a database shaped like the reference app (its schema and seed,
with a role ``app`` owning some tables), written the runbook's way (``backup_YYYYMMDD_HHMMSS.sql.gz`` /
``.dump``) into a directory or a real S3 endpoint (moto_server on 127.0.0.1). Each test runs the real suite
in a subprocess, as the weekly CI job does, and reads ``opscheck-summary.json``: outcome, severity, runbook
section, message and metrics of every check.

Broken inputs are made from the same real dump: emptied, gzip cut short, a valid gzip of a dump cut inside
``COPY`` data, a bogus statement in the middle, a header claiming a newer major, a custom archive cut short.

Docker-dependent cases skip with the reason when no daemon answers, and fail instead when
``OPSCHECK_REQUIRE_DOCKER=1`` (CI).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import itertools
import json
import os
import pickle
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from opscheck.config import load_config
from opscheck.errors import CheckFailed, TargetUnreachable
from opscheck.restore import drill as drill_module
from opscheck.restore import verification
from opscheck.restore.backups import Backup
from opscheck.restore.drill import Drill
from opscheck.restore.dumpgzip import verify_plain_gzip
from opscheck.restore.load import restore_backup
from opscheck.restore.passes import DrillPass, RestoreGuard, RestoreRefused
from opscheck.restore.servers.binaries import find_postgres_bindir, server_major
from opscheck.restore.servers.engine import DEFAULT_IMAGE, docker_available, image_present
from opscheck.restore.servers.local import LocalCluster
from opscheck.restore.stores import FileStore
from tests.support.moto import TEST_ACCESS_KEY, TEST_SECRET_KEY, MotoServer, client_for
from tests.support.pgdump import pg_dump
from tests.support.processes import descendants, kill_session, process_table, signal_and_wait
from tests.support.servers import closed_port
from tests.support.suite_run import (
    ENV,
    REPO,
    RESTORE_SUITE,
    SuiteRun,
    run_suite,
    write_opscheck_toml,
)

pytest_plugins = ["tests.support.s3_server"]

# -- the checks of suites/restore ---------------------------------------------------------------------------
ENCRYPTED = "test_backup_is_encrypted_at_rest"
SIZE = "test_backup_size_is_plausible"
STREAM = "test_backup_stream_is_complete"
RETENTION = "test_backups_cover_retention_window"
RPO = "test_newest_backup_is_within_rpo"
DRILL = "test_restore_drill_succeeds_within_rto"
TABLES = "test_expected_tables_exist"
ROWS = "test_tables_have_minimum_rows"
MIGRATIONS = "test_migrations_are_complete"
AMCHECK = "test_indexes_pass_amcheck"
ROLES = "test_restore_roles_are_declared"
ALL_CHECKS = (ENCRYPTED, SIZE, STREAM, RETENTION, RPO, DRILL, ROLES, TABLES, ROWS, MIGRATIONS, AMCHECK)
#: the checks that need the restored database: they error (never pass) when the drill did not restore
RESTORED = (TABLES, ROWS, MIGRATIONS, AMCHECK)
SEE_DRILL = "see suites/restore/test_restore_drill_succeeds.py::test_restore_drill_succeeds_within_rto"

# -- runbook sections (headings of examples/RUNBOOK.md) ------------------------------------------------------
BACKUP_STRATEGY = "Backup Strategy"
DATA_RECOVERY = "Data Recovery"
SYSTEM_RECOVERY = "Complete System Recovery"

#: the metrics the contract promises on restore checks
CONTRACT_METRICS = (
    "backup_key",
    "backup_age_hours",
    "backup_bytes",
    "restore_seconds",
    "restore_mb_per_s",
    "rpo_hours",
    "rto_minutes",
)

APP_TABLES = ("User", "Account", "Session", "VerificationToken", "_prisma_migrations")
SCHEMA_SQL = REPO / "examples" / "nextjs-app" / "db" / "schema.sql"
SEED_SQL = REPO / "examples" / "nextjs-app" / "db" / "seed.sql"
PREFIX = "backups/database/"
BAD_STATEMENT = b"SELEC 'a statement the dump never had';\n"
LABEL = "org.opscheck.cluster"


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


# ------------------------------------------------------------------------------------------- backups


def backup_name(taken: datetime, ext: str = "sql.gz") -> str:
    return f"backup_{taken:%Y%m%d_%H%M%S}.{ext}"


def daily(
    days: int = 30, newest_age: timedelta = timedelta(hours=1), missing: Sequence[int] = ()
) -> list[datetime]:
    """Backup times, oldest → newest: one a day, the newest ``newest_age`` ago; ``missing`` are the ages
    in days (0 = newest) of the days without a backup."""
    newest = (datetime.now(UTC) - newest_age).replace(microsecond=0)
    return [newest - timedelta(days=age) for age in range(days - 1, -1, -1) if age not in missing]


def write_backup(directory: Path, taken: datetime, body: bytes, ext: str = "sql.gz") -> Path:
    """A backup file named after ``taken``, with its mtime set to match."""
    path = directory / backup_name(taken, ext)
    path.write_bytes(body)
    os.utime(path, (taken.timestamp(), taken.timestamp()))
    return path


def backup_dir(
    tmp_path: Path, times: Sequence[datetime], body: bytes, *, newest: bytes | None = None
) -> Path:
    """A directory of backups at ``times``, all ``body`` except the newest (``newest`` if given)."""
    directory = tmp_path / "backups"
    directory.mkdir()
    for taken in times[:-1]:
        write_backup(directory, taken, body)
    write_backup(directory, times[-1], body if newest is None else newest)
    return directory


def restore_config(
    tmp_path: Path,
    location: str,
    *,
    provider: str = "local",
    endpoint: str | None = None,
    expect_tables: Sequence[str] = APP_TABLES,
    min_rows: Mapping[str, int] | None = None,
    rpo_hours: float = 24,
    rto_minutes: float = 10,
    retention_days: float = 30,
    timeout_s: float = 5,
    roles: Sequence[str] = ("app",),
) -> Path:
    backups: dict[str, Any] = {
        "location": location,
        "rpo_hours": rpo_hours,
        "rto_minutes": rto_minutes,
        "retention_days": retention_days,
    }
    if endpoint is not None:
        backups["s3_endpoint_url"] = endpoint
    restore: dict[str, Any] = {
        "provider": provider,
        "image": DEFAULT_IMAGE,
        "expect_tables": list(expect_tables),
        "min_rows": dict(min_rows or {"User": 1}),
        "roles": list(roles),
    }
    return write_opscheck_toml(tmp_path, top={"timeout_s": timeout_s}, backups=backups, restore=restore)


def restore_run(pytester: pytest.Pytester, tmp_path: Path, config: Path, *args: str) -> SuiteRun:
    return run_suite(pytester, RESTORE_SUITE, config, tmp_path / "reports", *args)


# ---------------------------------------------------------------------------------------------- S3


def s3_bucket(endpoint: str) -> tuple[str, Any]:
    """A new bucket like production's: versioning, default encryption, a 30-day expiry on the prefix."""
    client = client_for(endpoint)
    bucket = f"opscheck-restore-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    client.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "retention",
                    "Status": "Enabled",
                    "Filter": {"Prefix": PREFIX},
                    "Expiration": {"Days": 30},
                }
            ]
        },
    )
    return bucket, client


def put_backups(client: Any, bucket: str, times: Sequence[datetime], body: bytes) -> list[str]:
    names = []
    for taken in times:
        name = backup_name(taken)
        client.put_object(Bucket=bucket, Key=PREFIX + name, Body=body, ServerSideEncryption="AES256")
        names.append(name)
    return names


# ---------------------------------------------------------------------------------------------- Docker


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """Skip (with the reason) unless a Docker daemon answers and the local PostgreSQL image is present;
    with OPSCHECK_REQUIRE_DOCKER=1 (CI) fail instead, so a broken engine cannot pass as green."""
    up, why = docker_available()
    problem = None if up else f"{why} (run scripts/docker-postgres.sh as root)"
    if problem is None:
        present, image_why = image_present(DEFAULT_IMAGE)
        problem = None if present else image_why
    if problem is None:
        return
    if os.environ.get("OPSCHECK_REQUIRE_DOCKER", "") not in {"", "0"}:
        pytest.fail(f"OPSCHECK_REQUIRE_DOCKER is set but {problem}", pytrace=False)
    pytest.skip(problem)


def provider_param(provider: str) -> Any:
    """A ``provider`` parameter; testcontainers runs share an xdist group (they start containers)."""
    if provider == "testcontainers":
        return pytest.param(provider, marks=pytest.mark.xdist_group("restore"), id=provider)
    return pytest.param(provider, id=provider)


PROVIDERS = [provider_param("local"), provider_param("testcontainers")]


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> str:
    chosen: str = request.param
    if chosen == "testcontainers":
        request.getfixturevalue("docker_ready")
    return chosen


# ----------------------------------------------------------------------------------------- assertions


def assert_check(
    run: SuiteRun,
    name: str,
    outcome: str,
    *,
    severity: str | None = None,
    section: str | None = None,
    says: Sequence[str] = (),
) -> dict[str, Any]:
    check = run.check(name)
    assert check["outcome"] == outcome, f"{name}: {check['outcome']} ({check['message']})\n{run.output}"
    if severity is not None:
        assert check["severity"] == severity, name
    if section is not None:
        assert check["runbook_section"] == section, name
    for text in says:
        assert text in (check["message"] or ""), f"{name}: {text!r} not in {check['message']!r}"
    return check


def assert_restored_checks_error(run: SuiteRun) -> None:
    """The checks that need the restored database error, pointing at the drill."""
    for name in RESTORED:
        assert_check(run, name, "error", says=(SEE_DRILL,))


def passed(run: SuiteRun) -> set[str]:
    return {name for name, outcome in run.outcomes().items() if outcome == "passed"}


def assert_contract_metrics(metrics: Mapping[str, Any], backup_key: str, backup_bytes: int) -> None:
    missing = [name for name in CONTRACT_METRICS if name not in metrics]
    assert not missing, f"missing metrics {missing} in {metrics}"
    assert metrics["backup_key"] == backup_key
    assert metrics["backup_bytes"] == backup_bytes
    assert metrics["restore_seconds"] > 0
    assert metrics["restore_mb_per_s"] > 0


# ------------------------------------------------------------------------------ every run cleans up


def _remove_leftovers(directory: Path) -> list[str]:
    """Stop any PostgreSQL still running from ``directory`` (a run's TMPDIR), empty it; return what was there."""
    left = sorted(entry.name for entry in directory.iterdir())
    for pidfile in directory.glob("opscheck-pg-*/data/postmaster.pid"):
        first = pidfile.read_text(errors="replace").split("\n", 1)[0].strip()
        if first.isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(first), signal.SIGKILL)
    for entry in directory.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return left


@pytest.fixture(autouse=True)
def run_tmpdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A TMPDIR of its own for the suite runs a test starts (subprocesses read it; this process has
    cached its own): afterwards it must be empty, so a run that leaves a server directory or a restore
    temp dir behind fails here, and whatever it left is stopped and removed."""
    # mkdtemp before setenv: this process's tempfile has cached the usual temp dir (and keeps it)
    path = Path(tempfile.mkdtemp(prefix="opscheck-test-tmp-"))
    path.chmod(0o755)  # the postgres OS user must reach the clusters a run creates in it
    monkeypatch.setenv("TMPDIR", str(path))
    try:
        yield path
        left = _remove_leftovers(path)
        assert not left, f"the suite run left {left} in its TMPDIR"
    finally:
        _remove_leftovers(path)
        shutil.rmtree(path, ignore_errors=True)


# ============================================================================================= GOOD


def test_local_directory_of_plain_backups_restores_and_every_check_passes(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    times = daily()
    directory = backup_dir(tmp_path, times, dumps.gz)
    newest = directory / backup_name(times[-1])
    config = restore_config(tmp_path, directory.as_uri(), min_rows=dumps.counts)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 0, run.output
    assert run.outcomes() == {name: "skipped" if name == ENCRYPTED else "passed" for name in ALL_CHECKS}
    assert "is not S3" in run.check(ENCRYPTED)["message"]
    assert run.summary["interrupted"] is False
    assert "opscheck: restore provider local (configured); backup latest" in run.result.stdout.str()

    drill = run.check(DRILL)["metrics"]
    assert_contract_metrics(drill, str(newest), len(dumps.gz))
    assert drill["rpo_hours"] == 24
    assert drill["rto_minutes"] == 10
    assert 0.9 < drill["backup_age_hours"] < 1.2
    assert drill["restore_provider"] == "local"
    assert drill["server_start_seconds"] > 0  # reported apart from the pass (the server boots meanwhile)
    assert run.check(ROWS)["metrics"]["verification_seconds"] > 0  # reported apart from the restore
    for name in RESTORED:  # everything that ran after the restore carries the restore metrics too
        assert_contract_metrics(run.check(name)["metrics"], str(newest), len(dumps.gz))

    stream = run.check(STREAM)["metrics"]
    assert stream["dump_format"] == "plain-gzip"
    assert stream["uncompressed_bytes"] == len(dumps.plain)
    assert stream["roles_referenced"] == ["app"]
    assert stream["source_server_version"].startswith("15.")
    assert run.check(ROWS)["metrics"]["row_counts"] == dumps.counts
    assert run.check(RETENTION)["metrics"]["backups_in_store"] == 30
    assert run.check(RPO)["metrics"]["newest_backup"] == newest.name
    assert run.check(MIGRATIONS)["metrics"]["latest_migration"]
    assert run.check(AMCHECK)["metrics"]["indexes_checked"] >= 7


def test_backup_chosen_by_timestamp_restores_a_custom_format_dump(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    times = daily()
    directory = backup_dir(tmp_path, times, dumps.gz)
    chosen = times[-5] + timedelta(hours=2)  # between two daily plain dumps
    custom = write_backup(directory, chosen, dumps.custom, ext="dump")
    config = restore_config(tmp_path, directory.as_uri(), min_rows=dumps.counts)

    run = restore_run(pytester, tmp_path, config, "--backup", f"{chosen:%Y%m%d_%H%M%S}")

    assert run.ret == 0, run.output
    assert passed(run) == set(ALL_CHECKS) - {ENCRYPTED}, run.output
    drill = run.check(DRILL)["metrics"]
    assert_contract_metrics(drill, str(custom), len(dumps.custom))
    assert 4 * 24 - 2 < drill["backup_age_hours"] < 4 * 24
    assert run.check(STREAM)["metrics"]["dump_format"] == "custom"
    assert run.check(ROWS)["metrics"]["row_counts"] == dumps.counts
    assert f"backup {chosen:%Y%m%d_%H%M%S}" in run.result.stdout.str()


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize("provider", PROVIDERS, indirect=True)
def test_s3_backups_restore_by_name_and_every_check_passes(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps, s3_server: str, provider: str
) -> None:
    bucket, client = s3_bucket(s3_server)
    times = daily()
    names = put_backups(client, bucket, times, dumps.gz)
    chosen = names[-3]  # not the newest: --backup NAME picks it
    config = restore_config(
        tmp_path, f"s3://{bucket}/{PREFIX}", endpoint=s3_server, provider=provider, min_rows=dumps.counts
    )

    run = restore_run(pytester, tmp_path, config, "--backup", chosen)

    assert run.ret == 0, run.output
    assert passed(run) == set(ALL_CHECKS), run.output
    assert run.check(ENCRYPTED)["metrics"]["encryption"] == "AES256"
    drill = run.check(DRILL)["metrics"]
    assert_contract_metrics(drill, PREFIX + chosen, len(dumps.gz))
    assert 2 * 24 + 0.9 < drill["backup_age_hours"] < 2 * 24 + 1.2
    assert drill["restore_provider"] == provider
    assert run.check(RPO)["metrics"]["newest_backup"] == names[-1]
    retention = run.check(RETENTION)["metrics"]
    assert retention["bucket_versioning"] == "Enabled"
    assert retention["bucket_default_encryption"] == "AES256"
    assert retention["lifecycle_expiration_days"] == 30
    assert run.check(ROWS)["metrics"]["row_counts"] == dumps.counts
    text = run.all_text()
    assert TEST_SECRET_KEY not in text
    assert TEST_ACCESS_KEY not in text


# ========================================================================================= BAD INPUTS


def test_no_backups_at_the_location(pytester: pytest.Pytester, tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    directory.mkdir()
    (directory / "README.txt").write_text("backups go here\n")
    config = restore_config(tmp_path, directory.as_uri())

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    location = directory.as_uri() + "/"
    assert_check(
        run, RPO, "failed", severity="P1", section=BACKUP_STRATEGY, says=(location, "at least one backup")
    )
    for name in (SIZE, STREAM, ENCRYPTED):
        assert_check(run, name, "failed", says=(f"no backups at {location}", "'README.txt'"))
    assert_check(
        run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=(f"no backups at {location}",)
    )
    assert_check(run, RETENTION, "failed", section=BACKUP_STRATEGY, says=("1 gap(s)",))
    assert_restored_checks_error(run)
    assert passed(run) == set()


@pytest.mark.usefixtures("aws_env")
def test_unreachable_s3_endpoint_errors_naming_it(pytester: pytest.Pytester, tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    config = restore_config(tmp_path, f"s3://opscheck-nowhere/{PREFIX}", endpoint=endpoint, timeout_s=2)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    says = (f"S3 endpoint {endpoint}", "could not be reached")
    assert_check(run, RPO, "error", severity="P1", section=BACKUP_STRATEGY, says=(*says, "ListObjectsV2"))
    assert_check(run, DRILL, "error", severity="P0", section=SYSTEM_RECOVERY, says=says)
    for name in (SIZE, STREAM, RETENTION, ENCRYPTED):
        assert_check(run, name, "error", says=says)
    assert_restored_checks_error(run)
    assert passed(run) == set()
    assert run.wall_s < 60


@pytest.fixture
def get_only_user(s3_iam_server: MotoServer, dumps: Dumps) -> dict[str, str]:
    """A bucket holding one real backup and a user allowed nothing but s3:GetObject on its objects."""
    bucket = f"opscheck-locked-{uuid.uuid4().hex[:8]}"
    user = f"backup-reader-{uuid.uuid4().hex[:8]}"
    with s3_iam_server.auth_disabled():
        s3 = client_for(s3_iam_server.endpoint)
        iam = client_for(s3_iam_server.endpoint, service="iam")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=PREFIX + backup_name(daily(1)[0]), Body=dumps.gz)
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
            ],
        }
        iam.put_user_policy(UserName=user, PolicyName="get-only", PolicyDocument=json.dumps(policy))
    return {"bucket": bucket, "key_id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


@pytest.mark.usefixtures("aws_env")
def test_access_denied_names_bucket_and_permission_never_the_secret(
    pytester: pytest.Pytester,
    tmp_path: Path,
    s3_iam_server: MotoServer,
    get_only_user: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", get_only_user["key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", get_only_user["secret"])
    bucket = get_only_user["bucket"]
    config = restore_config(tmp_path, f"s3://{bucket}/{PREFIX}", endpoint=s3_iam_server.endpoint)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    says = (
        f"access to bucket {bucket} (ListObjectsV2)",
        f"s3:ListBucket on arn:aws:s3:::{bucket}",
        "AccessDenied",
    )
    assert_check(run, RPO, "failed", severity="P1", section=BACKUP_STRATEGY, says=says)
    assert_check(run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=says)
    assert_restored_checks_error(run)
    assert passed(run) == set()
    text = run.all_text()
    assert get_only_user["secret"] not in text
    assert get_only_user["key_id"] not in text


def test_stale_newest_backup_and_a_missing_week(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    times = daily(newest_age=timedelta(days=3), missing=range(10, 17))
    directory = backup_dir(tmp_path, times, dumps.gz)
    before_gap = next(t for t in reversed(times) if t < times[-1] - timedelta(days=16))
    after_gap = next(t for t in times if t > before_gap)
    config = restore_config(tmp_path, directory.as_uri())

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    assert_check(
        run,
        RPO,
        "failed",
        severity="P1",
        section=BACKUP_STRATEGY,
        says=(f"newest backup {backup_name(times[-1])}", "at most 24 h (RPO)", "saw 72."),
    )
    gap = f"{before_gap:%Y-%m-%d %H:%M} to {after_gap:%Y-%m-%d %H:%M} (192 h)"
    assert_check(
        run,
        RETENTION,
        "failed",
        severity="P2",
        section=BACKUP_STRATEGY,
        says=("2 gap(s)", gap, f"{times[-1]:%Y-%m-%d %H:%M} to "),
    )
    assert run.check(RETENTION)["metrics"]["backups_in_store"] == len(times) == 23
    # the stale backup itself is sound: the drill restores it
    assert passed(run) == {SIZE, STREAM, DRILL, ROLES, *RESTORED}, run.output
    assert 71.9 < run.check(DRILL)["metrics"]["backup_age_hours"] < 72.2


def test_empty_newest_backup_fails_size_and_stream(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    times = daily()
    directory = backup_dir(tmp_path, times, dumps.gz, newest=b"")
    config = restore_config(tmp_path, directory.as_uri())

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    assert_check(run, SIZE, "failed", severity="P1", section=BACKUP_STRATEGY, says=("empty (0 bytes)",))
    assert_check(
        run, STREAM, "failed", severity="P1", section=DATA_RECOVERY, says=("an empty file (0 bytes)",)
    )
    assert_check(
        run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=("an empty file (0 bytes)",)
    )
    assert run.check(DRILL)["metrics"]["backup_bytes"] == 0
    assert_restored_checks_error(run)
    assert passed(run) == {RPO, RETENTION}


def test_truncated_gzip_fails_the_stream_and_the_drill(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    times = daily()
    whole = dumps.gz
    directory = backup_dir(tmp_path, times, whole, newest=whole[: len(whole) * 6 // 10])
    config = restore_config(tmp_path, directory.as_uri())

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    says = ("truncated after", "compressed bytes")
    assert_check(run, STREAM, "failed", severity="P1", section=DATA_RECOVERY, says=says)
    assert_check(run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=says)
    assert_restored_checks_error(run)
    assert passed(run) == {SIZE, RPO, RETENTION}


def test_valid_gzip_of_a_dump_cut_inside_copy_is_caught(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    times = daily()
    cut = gzip_bytes(cut_inside_copy(dumps.plain))
    directory = backup_dir(tmp_path, times, dumps.gz, newest=cut)
    config = restore_config(tmp_path, directory.as_uri())

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    says = ("no 'PostgreSQL database dump complete' marker", 'cut inside the COPY data of public."User"')
    assert_check(run, STREAM, "failed", severity="P1", section=DATA_RECOVERY, says=says)
    assert_check(run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=says)
    assert_restored_checks_error(run)
    assert not {DRILL, STREAM, *RESTORED} & passed(run)


@pytest.mark.parametrize("provider", PROVIDERS, indirect=True)
def test_sql_error_in_the_middle_of_the_dump_fails_the_drill_at_its_line(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps, provider: str
) -> None:
    broken, line = with_bad_statement(dumps.plain)
    directory = backup_dir(tmp_path, daily(), dumps.gz, newest=gzip_bytes(broken))
    config = restore_config(tmp_path, directory.as_uri(), provider=provider)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    assert_check(run, STREAM, "passed")  # a complete dump: only the restore can find the bad statement
    assert_check(
        run,
        DRILL,
        "failed",
        severity="P0",
        section=SYSTEM_RECOVERY,
        says=(f"psql stopped at line {line} of the dump", 'ERROR: syntax error at or near "SELEC"'),
    )
    assert_restored_checks_error(run)
    assert passed(run) == {SIZE, STREAM, ROLES, RPO, RETENTION}


def test_a_backslash_command_inside_the_dumps_restrict_guard_fails_the_drill_at_its_line(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    """psql's own errors name their line too: inside pg_dump's ``\\restrict`` guard psql refuses every other
    backslash command (``error: backslash commands are restricted``), as an old psql refuses ``\\restrict``
    itself (``error: invalid command``)."""
    broken, line = with_bad_statement(dumps.plain, b"\\frobnicate now\n")
    directory = backup_dir(tmp_path, daily(), dumps.gz, newest=gzip_bytes(broken))
    config = restore_config(tmp_path, directory.as_uri(), provider="local")

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    says = (f"psql stopped at line {line} of the dump", "error: backslash commands are restricted")
    assert_check(run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=says)
    assert_restored_checks_error(run)


@pytest.mark.parametrize("provider", PROVIDERS, indirect=True)
def test_dump_from_a_newer_major_fails_with_advice(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps, provider: str
) -> None:
    major = NEWER_MAJOR  # newer than anything installed here, whatever this machine has
    newer = gzip_bytes(claiming_version(dumps.plain, f"{major}.4"))
    directory = backup_dir(tmp_path, daily(), dumps.gz, newest=newer)
    config = restore_config(tmp_path, directory.as_uri(), provider=provider)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    stream = assert_check(run, STREAM, "passed")["metrics"]
    assert stream["source_server_version"] == stream["pg_dump_version"] == f"{major}.4"
    if provider == "local":
        says: tuple[str, ...] = (f"major {major} or newer", f"PostgreSQL {major - 1}", f"postgresql-{major}")
    else:
        says = (f"restore image {DEFAULT_IMAGE}", f"PostgreSQL {major} or newer", f"postgres:{major}")
    assert_check(run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=says)
    assert_restored_checks_error(run)
    assert passed(run) == {SIZE, STREAM, ROLES, RPO, RETENTION}


def test_truncated_custom_dump_fails_the_drill_in_pg_restore(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    times = daily(7)
    directory = tmp_path / "backups"
    directory.mkdir()
    for taken in times[:-1]:
        write_backup(directory, taken, dumps.custom, ext="dump")
    write_backup(directory, times[-1], dumps.custom[: len(dumps.custom) * 6 // 10], ext="dump")
    config = restore_config(tmp_path, directory.as_uri(), retention_days=6)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    # pg_restore -l reads the table of contents at the start of the archive: the stream check cannot
    # see the cut (tests/test_dumps.py pins that); the restore with --exit-on-error does
    assert_check(run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=("pg_restore",))
    assert_restored_checks_error(run)
    assert not {DRILL, *RESTORED} & passed(run)


def test_missing_table_and_too_few_rows_fail_data_recovery(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    directory = backup_dir(tmp_path, daily(), dumps.gz)
    config = restore_config(
        tmp_path,
        directory.as_uri(),
        expect_tables=[*APP_TABLES, "Orders"],
        min_rows={"User": 10_000_000, "Account": 1},
    )

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    assert_check(run, TABLES, "failed", severity="P0", section=DATA_RECOVERY, says=("missing Orders",))
    rows = assert_check(
        run, ROWS, "failed", severity="P0", section=DATA_RECOVERY, says=("User >= 10000000", "User: 3000")
    )
    assert "Account" not in rows["message"]  # enough accounts: only the short table is named
    assert rows["metrics"]["row_counts"]["User"] == 3000
    assert passed(run) == set(ALL_CHECKS) - {ENCRYPTED, TABLES, ROWS}


def test_configured_testcontainers_without_docker_errors_and_never_falls_back(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock_dir = Path(tempfile.mkdtemp(prefix="opscheck-nodocker-"))
    try:
        socket_path = sock_dir / "docker.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:  # bound, never listening
            bound.bind(str(socket_path))
            monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
            directory = backup_dir(tmp_path, daily(), dumps.gz)
            config = restore_config(tmp_path, directory.as_uri(), provider="testcontainers")
            run = restore_run(pytester, tmp_path, config)
    finally:
        shutil.rmtree(sock_dir, ignore_errors=True)

    assert run.ret == 1, run.output
    drill = assert_check(
        run, DRILL, "error", severity="P0", section=SYSTEM_RECOVERY, says=("start dockerd", str(socket_path))
    )
    assert "restore_provider" not in drill["metrics"]  # no local server was started instead
    assert_restored_checks_error(run)
    assert passed(run) == {SIZE, STREAM, ROLES, RPO, RETENTION}
    assert "restore provider testcontainers: cannot run" in run.result.stdout.str()


# ================================================================ the trap, shown directly, and the guard


def test_runbook_pipe_commits_a_cut_dump_that_restore_backup_refuses(
    pg_cluster: LocalCluster, pg_database: str, dumps: Dumps, tmp_path: Path
) -> None:
    path = tmp_path / "backup_20240110_020000.sql.gz"
    path.write_bytes(gzip_bytes(cut_inside_copy(dumps.plain, rows=1000)))

    # the runbook's own restore (Database Operations) into a scratch database: exit 0, partial data committed
    scratch = pg_database.rsplit("/", 1)[1]
    psql = pg_cluster.client_command(
        "psql", scratch, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"
    )
    pipe = f"gunzip -c {shlex.quote(str(path))} | {shlex.join(psql)}"
    proc = subprocess.run(["bash", "-c", pipe], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    with psycopg.connect(pg_database, connect_timeout=10) as conn:
        assert conn.execute('SELECT count(*) FROM "User"').fetchone() == (1000,)
        assert conn.execute('SELECT count(*) FROM "Session"').fetchone() == (dumps.counts["Session"],)

    # opscheck's restore of the same bytes: CheckFailed, and nothing committed in the target database
    (backup,) = FileStore(tmp_path).list()
    try:
        with open(path, "rb") as stream, pytest.raises(CheckFailed) as caught:
            restore_backup(pg_cluster, RestoreGuard([]), backup, stream, deadline_s=60)
        assert 'cut inside the COPY data of public."User"' in caught.value.seen
        with psycopg.connect(pg_cluster.dsn("restored"), connect_timeout=10) as conn:
            assert conn.execute("""SELECT to_regclass('public."User"')""").fetchone() == (None,)
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
            assert tables == (0,)
    finally:
        pg_cluster.drop_database("restored")


def test_restore_guard_refuses_anything_but_a_throwaway_server(pg_cluster: LocalCluster) -> None:
    guard = RestoreGuard([pg_cluster.dsn()])

    with pytest.raises(RestoreRefused, match="only a throwaway server"):
        guard.check(object())
    with psycopg.connect(pg_cluster.dsn(), connect_timeout=10) as conn, pytest.raises(RestoreRefused):
        guard.check(conn)  # a connection to a real database is not a target either
    with pytest.raises(RestoreRefused) as caught:
        guard.check(pg_cluster)  # a LocalCluster, but it is a configured environment's database
    assert f"127.0.0.1:{pg_cluster.port}" in str(caught.value)
    assert "configured environment's database" in str(caught.value)
    assert pg_cluster.password not in str(caught.value)

    with pytest.raises(RestoreRefused):  # the same server under the name localhost
        RestoreGuard([f"postgresql://app:secret@localhost:{pg_cluster.port}/app"]).check(pg_cluster)
    RestoreGuard([f"postgresql://app:secret@127.0.0.1:{closed_port()}/app"]).check(pg_cluster)  # another port


# ========================================================================================== SIGTERM


def _descendants(root: int) -> dict[int, list[str]]:
    return {pid: process.argv for pid, process in descendants(root).items()}


def _restore_client(processes: Mapping[int, list[str]]) -> list[str] | None:
    """The argv of the drill's psql restoring into database ``restored`` (direct or via docker exec)."""
    for argv in processes.values():
        if any(Path(arg).name == "psql" for arg in argv) and any(
            a == "-d" and b == "restored" for a, b in itertools.pairwise(argv)
        ):
            return argv
    return None


def _still_running(pid: int, argv: list[str]) -> bool:
    process = process_table().get(pid)
    return process is not None and process.argv == argv and process.alive


def _labelled_containers() -> set[str]:
    docker = shutil.which("docker")
    if docker is None:
        return set()
    proc = subprocess.run(
        [docker, "ps", "-aq", "--no-trunc", "--filter", f"label={LABEL}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return set(proc.stdout.split()) if proc.returncode == 0 else set()


def _remove_container(container: str) -> None:
    docker = shutil.which("docker")
    if docker is not None:
        subprocess.run([docker, "rm", "-f", "-v", container], capture_output=True, timeout=60, check=False)


@pytest.mark.xdist_group("restore")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("provider", PROVIDERS, indirect=True)
def test_signal_during_the_restore_ends_promptly_and_leaves_nothing(
    tmp_path: Path, slow_dump: bytes, run_tmpdir: Path, provider: str, sig: signal.Signals
) -> None:
    directory = backup_dir(tmp_path, daily(3), slow_dump)
    config = restore_config(
        tmp_path, directory.as_uri(), provider=provider, expect_tables=["ledger"], retention_days=2
    )
    reports = tmp_path / "reports"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # TMPDIR: run_tmpdir
    argv = [
        sys.executable, "-m", "pytest", str(RESTORE_SUITE), "--env", ENV, "--opscheck-config", str(config),
        "--opscheck-reports", str(reports), "-p", "no:cacheprovider", "-p", "no:xdist",
    ]  # fmt: skip
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    container: str | None = None
    try:
        deadline = time.monotonic() + 90
        client: list[str] | None = None
        while client is None:
            assert proc.poll() is None, (
                f"the run ended before the restore started:\n{log.read_text()[-3000:]}"
            )
            assert time.monotonic() < deadline, f"the restore never started:\n{log.read_text()[-3000:]}"
            time.sleep(0.05)
            client = _restore_client(_descendants(proc.pid))
        time.sleep(1.0)  # well inside the ~10 s restore
        children = _descendants(proc.pid)
        assert _restore_client(children) is not None, "the restore ended before the signal"
        container = client[client.index("psql") - 1] if provider == "testcontainers" else None
        if container is None:  # the local server lives in the run's TMPDIR: its removal is checked below
            assert [p.name for p in run_tmpdir.iterdir() if p.name.startswith("opscheck-pg-")]
        else:
            assert container in _labelled_containers()

        took = signal_and_wait(proc, sig, within_s=15, log=log)
    finally:
        kill_session(proc)
        if container is not None and container in _labelled_containers():
            _remove_container(container)

    output = log.read_text(errors="replace")
    print(f"the run ended {took:.1f} s after {sig.name}")
    assert took < 15, took

    # nothing of that run is left: no process it started, no server or temp directory, no container
    time.sleep(0.2)
    left = {pid: argv for pid, argv in children.items() if _still_running(pid, argv)}
    assert not left, f"processes left behind: {left}"
    running = [process.argv for process in process_table().values() if process.alive]
    assert not [argv for argv in running if any(str(run_tmpdir) in arg for arg in argv)]
    assert list(run_tmpdir.iterdir()) == [], "the run left files in its TMPDIR"
    if container is not None:
        assert container not in _labelled_containers(), f"container {container[:12]} was left running"

    summary = json.loads((reports / "opscheck-summary.json").read_text())
    assert summary["interrupted"] is True, output[-3000:]
    assert summary["exit_status"] == pytest.ExitCode.INTERRUPTED
    assert ("KeyboardInterrupt: signal 15" if sig == signal.SIGTERM else "KeyboardInterrupt") in output
    assert "INTERRUPTED" in output
    # the backup is read once, checked and restored in the same pass: the first check that needs it (the
    # stream check) is the one the signal interrupts; neither it nor the drill is ever reported as passed
    checks = {c["nodeid"].split("::")[-1]: c for c in summary["checks"]}
    assert checks[STREAM]["outcome"] == "error", checks[STREAM]
    assert checks[STREAM]["message"] == "did not finish: the run was interrupted"
    assert checks.get(DRILL, {"outcome": "not run"})["outcome"] != "passed"


# ===================================================================================== ROLES, EXTENSIONS


@pytest.mark.parametrize("fmt", ["sql.gz", "dump"])
def test_roles_the_recovery_does_not_create_fail_their_own_check_naming_each_and_both_ways_out(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps, fmt: str
) -> None:
    """The drill still restores (it creates role app itself, owners and grants included, for custom dumps
    too); the P1 check says the recovery procedure would fail on a fresh server."""
    directory = tmp_path / "backups"
    directory.mkdir()
    write_backup(directory, daily(1)[0], dumps.gz if fmt == "sql.gz" else dumps.custom, ext=fmt)
    config = restore_config(tmp_path, directory.as_uri(), roles=(), retention_days=1)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    skip = "pg_restore --no-owner --no-acl" if fmt == "dump" else "a pg_dump --no-owner --no-acl dump"
    check = assert_check(
        run,
        ROLES,
        "failed",
        severity="P1",
        section=SYSTEM_RECOVERY,
        says=(
            "1 role(s) not in [restore] roles: 'app'",
            'CREATE ROLE "app" NOLOGIN;',
            skip,
            "GRANTs are lost",
        ),
    )
    assert check["metrics"]["roles_needed"] == ["app"]
    assert check["metrics"]["roles_undeclared"] == ["app"]
    assert passed(run) == set(ALL_CHECKS) - {ENCRYPTED, ROLES}, run.output


def test_an_extension_the_throwaway_server_lacks_fails_the_drill_with_the_image_advice(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    directory = tmp_path / "backups"
    directory.mkdir()
    write_backup(directory, daily(1)[0], gzip_bytes(with_missing_extension(dumps.plain)))
    config = restore_config(tmp_path, directory.as_uri(), retention_days=1)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    assert_check(
        run,
        DRILL,
        "failed",
        severity="P0",
        section=SYSTEM_RECOVERY,
        says=(
            'extension "opscheck_no_such_vector" is not available',
            "set [restore] image to a PostgreSQL image that ships it",
        ),
    )
    assert_restored_checks_error(run)


def test_a_create_dump_of_a_database_every_server_has_fails_before_restoring_with_advice(
    pg_cluster: LocalCluster, tmp_path: Path
) -> None:
    body = gzip_bytes(pg_dump(pg_cluster, "postgres", "-C"))
    path = write_backup(tmp_path, daily(1)[0], body)
    (backup,) = FileStore(tmp_path).list()
    facts = verify_plain_gzip(io.BytesIO(body), backup.name)
    assert facts.create_database == "postgres"
    with LocalCluster() as server, open(path, "rb") as stream, pytest.raises(CheckFailed) as caught:
        restore_backup(server, RestoreGuard([]), backup, stream, deadline_s=60, verified=facts)
    assert "it creates database 'postgres', which every fresh server already has" in caught.value.seen
    assert "take the backup without -C" in caught.value.seen


# ================================================================================= one pass over the backup


class _Watched(io.RawIOBase):
    """A backup file handed out 16 KiB per read; the read at half of it waits (up to 5 s) for ``go`` and
    records whether it came."""

    def __init__(self, path: str, go: Any) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._half = os.path.getsize(path) // 2
        self._go = go
        self.waited_for_the_server: bool | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._file.tell() >= self._half and self.waited_for_the_server is None:
            self.waited_for_the_server = self._go.wait(timeout=5)
        return self._file.readinto(memoryview(buffer)[: 16 * 1024])

    def close(self) -> None:
        self._file.close()
        super().close()


def test_the_drill_reads_the_backup_once_booting_the_server_meanwhile_and_verifies_in_parallel(
    tmp_path: Path, dumps: Dumps, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = backup_dir(tmp_path, daily(3), dumps.gz)
    config = restore_config(tmp_path, directory.as_uri(), retention_days=2, min_rows=dumps.counts)
    drill = Drill(load_config(config).environment(ENV), "latest", [])
    starting = threading.Event()
    real_start = drill_module.start_server

    def start_server(*args: Any) -> Any:
        starting.set()
        return real_start(*args)

    opened: list[_Watched] = []

    def open_backup(backup: Backup) -> Any:
        opened.append(_Watched(backup.key, starting))
        return opened[-1]

    monkeypatch.setattr(drill_module, "start_server", start_server)
    monkeypatch.setattr(drill.store, "open", open_backup)
    try:
        facts, roles = drill.facts()
        restored = drill.restored()
        verified = drill.verification()
    finally:
        drill.close()

    assert len(opened) == 1, "the backup was read more than once"
    assert opened[0].waited_for_the_server is True, "the server started only after the backup was read"
    # the stream check's verdict comes from the pass that restored it
    assert facts.uncompressed_bytes == restored.uncompressed_bytes == len(dumps.plain)
    assert roles == {"app"}
    assert restored.roles_created == ["app"]
    assert verified.counts == dumps.counts
    assert verified.indexes_checked >= 7
    assert verified.seconds > 0


def test_verification_queries_run_side_by_side(
    pg_cluster: LocalCluster, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    psql_ok(pg_cluster, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100)",
            dbname=pg_database.rsplit("/", 1)[1])  # fmt: skip

    def slowed(query: Any) -> Any:
        def run(*args: Any) -> Any:
            time.sleep(1.0)
            return query(*args)

        return run

    for name in ("estimated_counts", "exact_counts", "amcheck_indexes"):
        monkeypatch.setattr(verification, name, slowed(getattr(verification, name)))
    began = time.monotonic()
    verified = verification.verify_restored(pg_database, {"t"})
    took = time.monotonic() - began

    assert verified.counts == {"t": 100}
    assert verified.amcheck() == 1
    assert took < 2.5, f"three 1 s queries took {took:.1f} s: not side by side"


def test_a_drill_pass_with_its_errors_survives_pickling() -> None:
    """xdist workers share the drill's pass as a pickle: the errors in it must come back as they were."""
    stream = CheckFailed("gzip stream of b.sql.gz", "complete", "truncated after 10 compressed bytes")
    unreachable = TargetUnreachable("download of s3://b/k", "connection ended early")
    outcome = DrillPass(None, stream, None, unreachable)

    back = pickle.loads(pickle.dumps(outcome))  # noqa: S301 - our own bytes

    assert isinstance(back.stream_error, CheckFailed)
    assert (back.stream_error.checked, back.stream_error.expected, back.stream_error.seen) == (
        stream.checked, stream.expected, stream.seen,
    )  # fmt: skip
    assert str(back.stream_error) == str(stream)
    assert isinstance(back.restore_error, TargetUnreachable)
    assert back.restore_error.reason == "connection ended early"
