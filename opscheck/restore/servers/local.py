"""A throwaway PostgreSQL cluster on this machine.

``LocalCluster`` runs ``initdb`` into a fresh temporary directory, starts ``postgres`` on a free loopback
port (plus a unix socket inside that directory) with durability switched off for speed, and ``stop()`` shuts
it down and removes the directory. It backs the demo stack, the project's own tests and the "local" provider
of the restore drill::

    with LocalCluster() as cluster:
        cluster.create_database("app")
        cluster.run_sql_file(Path("schema.sql"), dbname="app")
        with psycopg.connect(cluster.dsn("app")) as conn:
            ...

PostgreSQL refuses to run as root: when this process is root, ``initdb`` and the server run as the
``postgres`` OS user. Local (socket) connections are trusted; TCP connections need the password
(scram-sha-256). No message raised here contains the cluster's password. Which installation runs is
chosen by :mod:`opscheck.restore.servers.binaries`; its programs run through
:mod:`opscheck.restore.servers.pgctl`.

Errors::

    OpscheckError
    ├── PostgresNotFound      no usable server binaries on this machine
    ├── ClusterError          a step of start/stop failed: names the step, the command, the server log tail
    │   └── PortInUse         the requested port is taken by another listener
    └── SqlError              psql rejected SQL, with its first error line

PostgresNotFound is :mod:`~opscheck.restore.servers.binaries`' error, ClusterError and PortInUse are
:mod:`~opscheck.restore.servers.pgctl`'s, SqlError is :mod:`~opscheck.restore.servers.base`'s.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from opscheck.restore.servers import registry
from opscheck.restore.servers.base import PSQL_TIMEOUT, ThrowawayPostgres
from opscheck.restore.servers.binaries import find_postgres_bindir, server_major
from opscheck.restore.servers.owner import run_owner
from opscheck.restore.servers.pgctl import (
    HOST,
    ClusterError,
    LocalRuntime,
    initdb,
    run_command,
    server_os_user,
    start_server,
)

__all__ = ["LocalCluster", "stop_detached"]


class LocalCluster(ThrowawayPostgres):
    """An ephemeral PostgreSQL cluster: a context manager, or call ``start()`` and ``stop()`` yourself.

    ``password`` defaults to a random one, ``port`` to a free loopback port, ``bindir`` to
    :func:`~opscheck.restore.servers.binaries.find_postgres_bindir`. A cluster that is never stopped is
    stopped at interpreter exit.
    """

    _runtime: LocalRuntime | None

    def __init__(
        self,
        *,
        superuser: str = "postgres",
        password: str | None = None,
        port: int | None = None,
        bindir: Path | None = None,
    ) -> None:
        super().__init__(superuser=superuser, password=password)
        self._requested_port = port
        self._port = port
        self._bindir = bindir if bindir is not None else find_postgres_bindir()

    # -- lifecycle

    def start(self) -> Self:
        """initdb into a new temporary directory and start the server; on failure clean up and raise."""
        if self._runtime is not None:
            raise ClusterError(f"{self!r} is already started")
        os_user = server_os_user()
        rt = LocalRuntime(
            Path(tempfile.mkdtemp(prefix="opscheck-pg-")), self._bindir, os_user, self._password
        )
        self._track(rt)
        try:
            rt.record = registry.ServerRecord(registry.new_record_id(), "local", run_owner())
            rt.save_record()
            if os_user is not None:
                os.chown(rt.tmpdir, os_user.uid, os_user.gid)
            initdb(rt, self._superuser, self._password)
            self._port = start_server(rt, self._requested_port)
            rt.save_record()
        except BaseException as exc:
            self._cleanup_after_failed_start(exc)
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown, else kill it) and remove its directory. Safe to call again."""
        self._port = self._requested_port
        super().stop()

    def __repr__(self) -> str:
        state = f"running on {HOST}:{self._port}" if self._runtime is not None else "stopped"
        return f"<LocalCluster {state}>"

    # -- facts about the running cluster

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise ClusterError("the cluster has no port yet: start() it first")
        return self._port

    @property
    def socket_dir(self) -> Path:
        return self._started().tmpdir

    @property
    def data_dir(self) -> Path:
        return self._started().data_dir

    @property
    def log_file(self) -> Path:
        return self._started().log_file

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while running."""
        return None if self._runtime is None else self._runtime.pid

    @property
    def bindir(self) -> Path:
        return self._bindir

    @property
    def major(self) -> int:
        return server_major(self._bindir)

    def _started(self) -> LocalRuntime:
        if self._runtime is None:
            raise ClusterError("the cluster is not running: start() it first")
        return self._runtime

    # -- running SQL

    def psql(
        self, *args: str, input: str | None = None, dbname: str = "postgres", timeout: float = PSQL_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run the bundled psql as the superuser over the unix socket (``-X -v ON_ERROR_STOP=1``).

        Returns the completed process whatever its exit status; raises ClusterError only if psql could not
        run or timed out. Runs as the calling OS user, so ``-f FILE`` reads files with our permissions.
        """
        rt = self._started()
        cmd = [
            rt.tool("psql"), "-X", "-w", "-v", "ON_ERROR_STOP=1",
            "-h", str(rt.tmpdir), "-p", str(self.port), "-U", self._superuser, "-d", dbname, *args,
        ]  # fmt: skip
        return run_command(rt, "psql", cmd, timeout=timeout, as_server=False, input=input, check=False)

    def client_command(self, tool: str, dbname: str, *args: str) -> list[str]:
        """A command running this installation's ``tool`` (psql, pg_restore, ...) as the superuser against
        ``dbname`` over the unix socket, reading stdin."""
        rt = self._started()
        return [
            rt.tool(tool),
            "-h",
            str(rt.tmpdir),
            "-p",
            str(self.port),
            "-U",
            self._superuser,
            "-d",
            dbname,
            *args,
        ]

    def copy_in(self, path: Path) -> str:
        """Local clusters read local files directly."""
        return str(path)

    def run_sql_file(self, path: Path, dbname: str = "postgres", timeout: float = PSQL_TIMEOUT) -> None:
        """Apply an SQL file with psql, stopping at the first error; SqlError names that error."""
        proc = self.psql("-q", "-f", str(path), dbname=dbname, timeout=timeout)
        self._check_sql(proc, f"applying {path} to database {dbname!r}")


def stop_detached(state: Mapping[str, str]) -> None:
    """Stop a cluster left running by :meth:`LocalCluster.detach` (or by a process that died), remove
    its directory and its record."""
    pid = state.get("pid")
    rt = LocalRuntime(
        Path(state["tmpdir"]), Path(state["bindir"]), server_os_user(), "", int(pid) if pid else None
    )
    if state.get("record"):
        rt.record = registry.ServerRecord(state["record"], "local", None)
    rt.teardown()
