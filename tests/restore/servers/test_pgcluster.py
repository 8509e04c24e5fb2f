"""opscheck.restore.servers.local (and binaries, pgctl) against a real PostgreSQL server on this machine."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from opscheck.errors import OpscheckError
from opscheck.restore.servers.base import SqlError
from opscheck.restore.servers.binaries import PostgresNotFound, find_postgres_bindir, server_major
from opscheck.restore.servers.local import LocalCluster
from opscheck.restore.servers.pgctl import PortInUse
from tests.support.processes import is_alive, process_table

ODD_PASSWORD = "p@ss:w/rd %'\"?#&=x"


def _processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text``."""
    return [
        pid
        for pid, process in process_table().items()
        if pid != os.getpid() and text in process.command_line and process.alive
    ]


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


def _dbname(dsn: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]  # type: ignore[return-value]


# -------------------------------------------------------------------------------------- connecting


def test_dsn_connects_as_superuser_with_password(pg_cluster: LocalCluster, pg_database: str) -> None:
    with psycopg.connect(pg_database, connect_timeout=10) as conn:
        user, dbname, addr = conn.execute(
            "SELECT current_user, current_database(), inet_server_addr()::text"
        ).fetchone()  # type: ignore[misc]
    assert (user, dbname) == (pg_cluster.superuser, _dbname(pg_database))
    assert addr.startswith("127.0.0.1")


def test_conninfo_kwargs_connect(pg_cluster: LocalCluster) -> None:
    with psycopg.connect(**pg_cluster.conninfo(), connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_superuser_password_is_stored_as_scram(pg_cluster: LocalCluster) -> None:
    proc = pg_cluster.psql("-tAc", "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = current_user")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "SCRAM-SHA-256$"


def test_wrong_password_is_rejected(pg_cluster: LocalCluster) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_cluster.dsn(password="not-the-password"), connect_timeout=10)


def test_dsn_url_quotes_an_odd_password(pg_cluster: LocalCluster, pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE odd_user LOGIN PASSWORD {}").format(sql.Literal(ODD_PASSWORD)))
    try:
        dsn = pg_cluster.dsn(dbname=_dbname(pg_database), user="odd_user", password=ODD_PASSWORD)
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("odd_user",)
    finally:
        pg_cluster.psql("-c", "DROP ROLE odd_user")


def test_psql_returns_the_completed_process(pg_cluster: LocalCluster) -> None:
    proc = pg_cluster.psql("-tA", input="SELECT 40 + 2;\n")
    assert (proc.returncode, proc.stdout.strip()) == (0, "42")
    failed = pg_cluster.psql("-c", "SELECT * FROM no_such_table")
    assert failed.returncode != 0
    assert "no_such_table" in failed.stderr


def test_create_database_with_owner(pg_cluster: LocalCluster) -> None:
    pg_cluster.psql("-c", "CREATE ROLE db_owner")
    try:
        pg_cluster.create_database("Owned Db", owner="db_owner")
        proc = pg_cluster.psql(
            "-tAc", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'Owned Db'"
        )
        assert proc.stdout.strip() == "db_owner"
        with pytest.raises(SqlError, match="already exists"):
            pg_cluster.create_database("Owned Db")
    finally:
        pg_cluster.drop_database("Owned Db")
        pg_cluster.psql("-c", "DROP ROLE db_owner")


# ------------------------------------------------------------------------------------- SQL files


def test_run_sql_file_applies_the_file(pg_cluster: LocalCluster, pg_database: str, tmp_path: Path) -> None:
    script = tmp_path / "schema.sql"
    script.write_text(
        'CREATE TABLE "User" (id int PRIMARY KEY, name text);\n'
        "INSERT INTO \"User\" VALUES (1, 'ada'), (2, 'grace');\n"
    )
    pg_cluster.run_sql_file(script, dbname=_dbname(pg_database))
    with psycopg.connect(pg_database) as conn:
        assert conn.execute('SELECT count(*) FROM "User"').fetchone() == (2,)


def test_run_sql_file_stops_at_and_names_the_first_error(
    pg_cluster: LocalCluster, pg_database: str, tmp_path: Path
) -> None:
    script = tmp_path / "broken.sql"
    script.write_text(
        "CREATE TABLE before_error (id int);\n"
        "SELEC 1;\n"
        "CREATE TABLE after_error (id int);\n"
        "SELECT * FROM also_missing;\n"
    )
    with pytest.raises(SqlError) as excinfo:
        pg_cluster.run_sql_file(script, dbname=_dbname(pg_database))
    message = str(excinfo.value)
    assert 'syntax error at or near "SELEC"' in excinfo.value.first_error
    assert excinfo.value.first_error in message
    assert str(script) in message
    assert "also_missing" not in message
    assert pg_cluster.password not in message
    with psycopg.connect(pg_database) as conn:
        tables = {
            row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    assert tables == {"before_error"}


def test_run_sql_file_missing_file_is_an_error(pg_cluster: LocalCluster, tmp_path: Path) -> None:
    with pytest.raises(SqlError, match="No such file"):
        pg_cluster.run_sql_file(tmp_path / "absent.sql")


# ----------------------------------------------------------------------------------- the process


def test_server_runs_as_an_unprivileged_os_user(pg_cluster: LocalCluster) -> None:
    assert pg_cluster.pid is not None
    uid = _uid_of(pg_cluster.pid)
    if os.geteuid() == 0:
        assert uid != 0
        assert uid == pwd.getpwnam("postgres").pw_uid
    else:
        assert uid == os.geteuid()
    assert pg_cluster.data_dir.stat().st_uid == uid


def test_cluster_lives_in_its_temp_dir(pg_cluster: LocalCluster) -> None:
    assert pg_cluster.socket_dir.name.startswith("opscheck-pg-")
    assert pg_cluster.data_dir.parent == pg_cluster.socket_dir
    assert (pg_cluster.socket_dir / f".s.PGSQL.{pg_cluster.port}").is_socket()
    assert pg_cluster.host == "127.0.0.1"


def test_stop_removes_everything_and_is_idempotent() -> None:
    cluster = LocalCluster().start()
    tmpdir, pid = cluster.socket_dir, cluster.pid
    assert pid is not None
    assert is_alive(pid)
    cluster.stop()
    assert not tmpdir.exists()
    assert not is_alive(pid)
    assert _processes_mentioning(str(tmpdir)) == []
    cluster.stop()
    assert repr(cluster) == "<LocalCluster stopped>"


def test_context_manager_stops_on_error() -> None:
    with pytest.raises(RuntimeError, match="boom"), LocalCluster() as cluster:  # noqa: PT012
        tmpdir, pid = cluster.socket_dir, cluster.pid
        raise RuntimeError("boom")
    assert not tmpdir.exists()
    assert pid is not None
    assert not is_alive(pid)


def test_failed_start_on_an_occupied_port_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args: str, **kwargs: str) -> str:
        path = real_mkdtemp(*args, **kwargs)
        created.append(Path(path))
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        cluster = LocalCluster(port=port, password=ODD_PASSWORD)
        with pytest.raises(PortInUse) as excinfo:
            cluster.start()
    message = str(excinfo.value)
    assert isinstance(excinfo.value, OpscheckError)
    assert "starting the server" in message
    assert "pg_ctl" in message
    assert "could not bind" in message
    assert ODD_PASSWORD not in message
    assert len(created) == 1
    assert not created[0].exists()
    assert _processes_mentioning(str(created[0])) == []
    cluster.stop()


def test_forgotten_cluster_is_stopped_at_interpreter_exit() -> None:
    script = (
        "from opscheck.restore.servers.local import LocalCluster\n"
        "c = LocalCluster().start()\n"
        "print(c.socket_dir, c.pid)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    tmpdir, pid = proc.stdout.split()
    assert not Path(tmpdir).exists()
    assert not is_alive(int(pid))


# ----------------------------------------------------------------------------------- the binaries


def test_find_postgres_bindir_has_the_server_tools(pg_cluster: LocalCluster) -> None:
    bindir = find_postgres_bindir()
    for tool in ("initdb", "pg_ctl", "postgres", "psql"):
        assert os.access(bindir / tool, os.X_OK), tool
    assert server_major(bindir) >= 10
    assert pg_cluster.major == server_major(pg_cluster.bindir)


def test_find_postgres_bindir_reports_a_too_old_server() -> None:
    with pytest.raises(PostgresNotFound) as excinfo:
        find_postgres_bindir(min_major=999)
    message = str(excinfo.value)
    assert "apt-get install -y postgresql" in message
    assert ">= 999" in message


@pytest.fixture
def bindir_whose_pg_ctl_cannot_stop() -> Iterator[Path]:
    """A bin directory like the real one, except that ``pg_ctl stop`` always fails."""
    real = find_postgres_bindir()
    fake = Path(tempfile.mkdtemp(prefix="opscheck-fakebin-"))
    try:
        fake.chmod(0o755)  # the server's OS user runs pg_ctl from here
        for tool in ("initdb", "postgres", "psql"):
            (fake / tool).symlink_to(real / tool)
        wrapper = fake / "pg_ctl"
        wrapper.write_text(f'#!/bin/sh\n[ "$1" = stop ] && exit 1\nexec {real / "pg_ctl"} "$@"\n')
        wrapper.chmod(0o755)
        yield fake
    finally:
        shutil.rmtree(fake)


def test_stop_kills_the_postmaster_when_pg_ctl_stop_fails(bindir_whose_pg_ctl_cannot_stop: Path) -> None:
    cluster = LocalCluster(bindir=bindir_whose_pg_ctl_cannot_stop).start()
    tmpdir, pid = cluster.socket_dir, cluster.pid
    assert pid is not None
    cluster.stop()
    assert not is_alive(pid)
    assert not tmpdir.exists()
    assert _processes_mentioning(str(tmpdir)) == []


def test_a_table_created_and_filled_in_one_transaction_writes_next_to_no_wal(
    pg_cluster: LocalCluster, pg_database: str
) -> None:
    """The drill restores in one transaction: on the throwaway server its COPYs skip WAL (wal_level minimal)."""
    sql = (
        "SELECT pg_current_wal_insert_lsn() AS before \\gset\n"
        "BEGIN;\n"
        "CREATE TABLE filled (id bigint, note text);\n"
        "INSERT INTO filled SELECT g, md5(g::text) FROM generate_series(1, 200000) g;\n"
        "COMMIT;\n"
        "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :'before')::bigint;\n"
    )
    proc = pg_cluster.psql("-q", "-At", input=sql, dbname=pg_database.rsplit("/", 1)[1])
    assert proc.returncode == 0, proc.stderr
    wal_bytes = int(proc.stdout.split()[-1])
    assert wal_bytes < 1_000_000, f"{wal_bytes} bytes of WAL for a table made and filled in one transaction"
