"""What every throwaway PostgreSQL opscheck starts has in common, however it runs.

:class:`~opscheck.restore.servers.local.LocalCluster` (an ``initdb`` cluster on this machine) and
:class:`~opscheck.restore.servers.container.ContainerCluster` (a testcontainers container) differ in how they start, stop
and run client tools; the lifecycle around that (the record written before anything exists, the finalizer
that removes a server nobody stopped, ``stop()``, ``detach()`` and ``state()``), connection strings and
database DDL are the same and live here.
"""

from __future__ import annotations

import abc
import secrets
import subprocess
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self, TypedDict
from urllib.parse import quote

from opscheck.errors import OpscheckError
from opscheck.restore.servers import registry
from opscheck.run.shield import shielded

__all__ = [
    "PSQL_TIMEOUT",
    "ConnInfo",
    "ServerRuntime",
    "SqlError",
    "ThrowawayPostgres",
    "first_error_line",
    "ident",
    "scrub_password",
    "tail",
]

PSQL_TIMEOUT = 300.0


class SqlError(OpscheckError):
    """psql rejected SQL; ``first_error`` is the first error line it printed."""

    def __init__(self, message: str, first_error: str) -> None:
        self.first_error = first_error
        super().__init__(message)


class ConnInfo(TypedDict):
    """Keyword arguments for ``psycopg.connect(**conninfo)``."""

    host: str
    port: int
    dbname: str
    user: str
    password: str


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def first_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if any(mark in line for mark in ("ERROR:", "FATAL:", "PANIC:", "error:")):
            return line
    return lines[0] if lines else "(psql printed nothing)"


def tail(text: str, lines: int = 5) -> str:
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(no output)"


def scrub_password(text: str, secret: str) -> str:
    """``text`` without ``secret``, also URL-quoted: server messages must never carry the password."""
    for form in {secret, quote(secret, safe="")}:
        if form:
            text = text.replace(form, "***")
    return text


@dataclass
class ServerRuntime(abc.ABC):
    """Everything needed to stop and remove one started server; deliberately holds no reference to the server
    object (its finalizer holds this, and must not keep the object alive)."""

    record: registry.ServerRecord | None = field(default=None, kw_only=True)

    @abc.abstractmethod
    def state(self) -> dict[str, str]:
        """What a later process needs to stop the server: the state its record keeps."""

    @abc.abstractmethod
    def remove(self) -> None:
        """Stop the server and remove everything it used; safe after a half-done start, and again."""

    @abc.abstractmethod
    def release(self) -> None:
        """Let go of what this process holds of a server that keeps running (see ``detach``)."""

    def save_record(self) -> None:
        """Write the record with the current :meth:`state`."""
        if self.record is not None:
            self.record.state = self.state()
            registry.write(self.record)

    def teardown(self) -> None:
        """:meth:`remove` the server, then forget its record. A SIGINT/SIGTERM arriving meanwhile waits until
        it is done (see :mod:`opscheck.run.shield`)."""
        with shielded():
            self.remove()
            if self.record is not None:
                registry.forget(self.record.id)


class ThrowawayPostgres(abc.ABC):
    """A PostgreSQL server opscheck started for itself, reachable on a loopback port with a password.

    ``password`` defaults to a random one. A server that is never stopped is removed at garbage collection
    or interpreter exit.
    """

    def __init__(self, *, superuser: str, password: str | None) -> None:
        if password is not None and ("\n" in password or "\r" in password or not password):
            raise ValueError("the superuser password must be non-empty and a single line")
        self._superuser = superuser
        self._password = password if password is not None else secrets.token_urlsafe(24)
        self._runtime: ServerRuntime | None = None
        self._finalizer: weakref.finalize[[], ThrowawayPostgres] | None = None

    @property
    @abc.abstractmethod
    def host(self) -> str: ...

    @property
    @abc.abstractmethod
    def port(self) -> int: ...

    @property
    @abc.abstractmethod
    def major(self) -> int: ...

    @abc.abstractmethod
    def psql(
        self, *args: str, input: str | None = None, dbname: str = "postgres", timeout: float = PSQL_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run psql as the superuser with ``-X -v ON_ERROR_STOP=1``; never raises on SQL errors."""

    @abc.abstractmethod
    def client_command(self, tool: str, dbname: str, *args: str) -> list[str]:
        """A command running the server's own ``tool`` (psql, pg_dump, pg_restore) against ``dbname``."""

    @abc.abstractmethod
    def copy_in(self, path: Path) -> str:
        """Make a local file readable by :meth:`client_command` tools; returns the path they see."""

    @abc.abstractmethod
    def start(self) -> Self:
        """Start the server; on failure clean up everything and raise."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @abc.abstractmethod
    def run_sql_file(self, path: Path, dbname: str = "postgres", timeout: float = PSQL_TIMEOUT) -> None:
        """Apply an SQL file with psql, stopping at the first error; SqlError names that error."""

    @abc.abstractmethod
    def _started(self) -> ServerRuntime:
        """The runtime of the running server; the provider's error when it is not running."""

    def _track(self, rt: ServerRuntime) -> None:
        """Make ``rt`` the running server's: from here on ``stop()``, or else garbage collection or
        interpreter exit, tears it down."""
        self._runtime = rt
        self._finalizer = weakref.finalize(self, rt.teardown)

    def stop(self) -> None:
        """Stop the server and remove everything it used. Safe to call again, and after a failed start."""
        finalizer, self._finalizer = self._finalizer, None
        self._runtime = None
        if finalizer is not None:
            finalizer()

    def detach(self, *, kept: bool = True) -> dict[str, str]:
        """Leave the server running after this process exits.

        ``kept`` (``opscheck demo --keep``): it has no owner any more, so no run reaps it; only ``opscheck
        demo --stop`` or ``opscheck cleanup`` remove it. Otherwise it stays its owner's (the run's
        controller under xdist), which stops it, or a later run reaps it once that owner is gone.
        Returns what the provider's ``stop_detached`` needs to stop and remove it later.
        """
        rt = self._started()
        state = rt.state()
        if kept and rt.record is not None:
            rt.record.owner = None
            registry.write(rt.record)
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = None
        self._runtime = None
        rt.release()
        return state

    def state(self) -> dict[str, str]:
        """Where the running server lives: enough for the provider's ``stop_detached`` to stop it."""
        return self._started().state()

    def _cleanup_after_failed_start(self, exc: BaseException) -> None:
        try:
            self.stop()
        except OpscheckError as cleanup:
            exc.add_note(f"cleaning up after the failed start also failed: {cleanup}")

    @property
    def superuser(self) -> str:
        return self._superuser

    @property
    def password(self) -> str:
        return self._password

    def dsn(self, dbname: str = "postgres", user: str | None = None, password: str | None = None) -> str:
        """A ``postgresql://`` URL over TCP (password authentication); defaults to the superuser."""
        user = self._superuser if user is None else user
        password = self._password if password is None else password
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    def conninfo(
        self, dbname: str = "postgres", user: str | None = None, password: str | None = None
    ) -> ConnInfo:
        """Keyword arguments for ``psycopg.connect(**...)``, over TCP like :meth:`dsn`."""
        return {
            "host": self.host,
            "port": self.port,
            "dbname": dbname,
            "user": self._superuser if user is None else user,
            "password": self._password if password is None else password,
        }

    def create_database(self, name: str, owner: str | None = None) -> None:
        """CREATE DATABASE ``name`` (optionally OWNER ``owner``); SqlError if the server refuses."""
        sql = f"CREATE DATABASE {ident(name)}" + ("" if owner is None else f" OWNER {ident(owner)}")
        self._check_sql(self.psql("-q", "-c", sql), f"creating database {name!r}")

    def drop_database(self, name: str) -> None:
        """DROP DATABASE IF EXISTS ``name``, disconnecting its sessions first."""
        force = " WITH (FORCE)" if self.major >= 13 else ""
        sql = f"DROP DATABASE IF EXISTS {ident(name)}{force}"
        self._check_sql(self.psql("-q", "-c", sql), f"dropping database {name!r}")

    def _where(self) -> str:
        """Words naming this server in error messages (e.g. which image a container runs)."""
        return ""

    def _check_sql(self, proc: subprocess.CompletedProcess[str], what: str) -> None:
        if proc.returncode == 0:
            return
        first = scrub_password(first_error_line(proc.stderr), self._password)
        raise SqlError(f"{what}{self._where()} failed (psql exit {proc.returncode}): {first}", first)
