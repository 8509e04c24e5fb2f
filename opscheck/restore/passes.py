"""What both restore passes (:mod:`~opscheck.restore.plain_pass`, :mod:`~opscheck.restore.custom_pass`)
share: the guard that refuses every target but a throwaway server this process started, starting that
server in the background while the backup's first bytes arrive, the roles created on it, and what a pass
hands back (:class:`DrillPass`, :class:`Restored`).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Final
from urllib.parse import urlsplit

from opscheck.errors import CheckFailed, OpscheckError
from opscheck.restore.backups import Backup
from opscheck.restore.dumproles import create_role_sql
from opscheck.restore.dumps import RESTRICT_SINCE, DumpFacts
from opscheck.restore.servers.base import ThrowawayPostgres, first_error_line
from opscheck.restore.servers.binaries import PostgresNotFound, find_postgres_bindir, server_major
from opscheck.restore.servers.local import LocalCluster
from opscheck.restore.servers.provider import select_provider

__all__ = [
    "CHUNK",
    "FRESH_SERVER_DATABASES",
    "DrillPass",
    "PassRequest",
    "RestoreGuard",
    "RestoreRefused",
    "Restored",
    "ServerStart",
    "create_roles",
    "creates_fresh_database",
    "start_server",
    "with_advice",
]

#: bytes read from a backup at a time
CHUNK: Final = 1 << 20
_MISSING_EXTENSION: Final = re.compile(
    r'extension "([^"]+)" is not available|could not open extension control file "[^"]*/([^"/]+)\.control"'
)
#: psql before 13.22, 14.19, 15.14, 16.10 and 17.6 on a dump from pg_dump at or after them
_UNKNOWN_RESTRICT: Final = re.compile(r"invalid command \\restrict\b")
#: databases every freshly initialised server has
FRESH_SERVER_DATABASES = frozenset({"postgres", "template0", "template1"})


class RestoreRefused(OpscheckError):
    """The restore target is not a throwaway server: opscheck never restores into a real database."""


class RestoreGuard:
    """Refuses any target that is not a throwaway server started here, or that is a configured database."""

    def __init__(self, protected_urls: Iterable[str]) -> None:
        self.protected: set[tuple[str, int]] = set()
        for url in protected_urls:
            with contextlib.suppress(ValueError):
                parts = urlsplit(url)
                if parts.hostname:
                    self.protected.add((parts.hostname, parts.port or 5432))

    def check(self, server: object) -> None:
        if not isinstance(server, ThrowawayPostgres):
            raise RestoreRefused(
                f"refusing to restore into {type(server).__name__}: only a throwaway server started by the drill "
                "is a valid target"
            )
        if server.host not in {"127.0.0.1", "localhost", "::1"}:
            raise RestoreRefused(f"refusing to restore into a server on {server.host}: not a local throwaway")
        if (server.host, server.port) in self.protected or ("localhost", server.port) in self.protected:
            raise RestoreRefused(
                f"refusing to restore into {server.host}:{server.port}: it is a configured environment's database"
            )


def start_server(provider: str, image: str, min_major: int) -> tuple[ThrowawayPostgres, str, str]:
    """Start the throwaway PostgreSQL for a dump whose source is ``min_major``: (server, provider, why)."""
    chosen, why = select_provider(provider, image)
    if chosen == "testcontainers":
        from opscheck.restore.servers.container import ContainerCluster  # noqa: PLC0415 - Docker SDK

        server: ThrowawayPostgres = ContainerCluster(image=image).start()
        try:
            major = server.major
        except BaseException:
            server.stop()
            raise
        if major < min_major:
            server.stop()  # after this the server cannot say its major any more
            raise CheckFailed(
                f"restore image {image}",
                f"PostgreSQL {min_major} or newer (the dump comes from a {min_major} server)",
                f"PostgreSQL {major}: set [restore] image to a postgres:{min_major} (or newer) image",
            )
        return server, chosen, why
    try:
        bindir = find_postgres_bindir(min_major)
    except PostgresNotFound as exc:
        raise CheckFailed(
            "local PostgreSQL for the restore", f"server binaries of major {min_major} or newer", str(exc)
        ) from None
    return LocalCluster(bindir=bindir).start(), chosen, f"{why}; binaries {bindir} ({server_major(bindir)})"


@dataclass
class Restored:
    """What the drill restored, and how fast."""

    backup: Backup
    facts: DumpFacts
    dbname: str
    seconds: float
    uncompressed_bytes: int
    roles_created: list[str] = field(default_factory=list)

    @property
    def mb_per_s(self) -> float:
        return round(self.backup.size / 1e6 / self.seconds, 2) if self.seconds > 0 else 0.0

    @property
    def sql_mb_per_s(self) -> float:
        return round(self.uncompressed_bytes / 1e6 / self.seconds, 2) if self.seconds > 0 else 0.0


def create_roles(server: ThrowawayPostgres, roles: Iterable[str]) -> list[str]:
    """Create each role (NOLOGIN) on the throwaway server, in name order: the roles created."""
    created = []
    for role in sorted(roles):
        proc = server.psql("-q", "-c", create_role_sql(role))
        if proc.returncode != 0:
            raise CheckFailed(
                f"creating role {role!r} on the throwaway server",
                "CREATE ROLE to succeed",
                first_error_line(proc.stderr),
            )
        created.append(role)
    return created


def with_advice(error: str) -> str:
    """The error, plus what to do when it is an extension the throwaway server lacks, or a ``\\restrict``
    line (pg_dump's guard against CVE-2025-8714) that the restoring psql is too old to know."""
    if _UNKNOWN_RESTRICT.search(error):
        releases = ", ".join(f"{major}.{minor}" for major, minor in sorted(RESTRICT_SINCE.items()))
        return (
            f"{error} -- the dump uses \\restrict, which psql knows since {releases} and 18: restore with "
            "the latest minor release of the server's major (set [restore] image, or update the PostgreSQL "
            "installed where provider = local runs)"
        )
    match = _MISSING_EXTENSION.search(error)
    if match is None:
        return error
    name = match.group(1) or match.group(2)
    return (
        f"{error} -- the throwaway server has no extension {name!r}: set [restore] image to a PostgreSQL "
        f"image that ships it (README: 'Extensions the restore needs'), or install it where provider = local runs"
    )


class ServerStart:
    """Starts the throwaway server in a thread, so it boots while the backup's first bytes arrive.

    ``start`` returns (server, provider, why) like :func:`start_server`. :meth:`wait` gives them, or raises
    what the start raised. The server belongs to whoever holds this object: :meth:`stop_server` stops it
    (waiting for a start still under way), also after an interrupt.
    """

    def __init__(self, start: Callable[[], tuple[ThrowawayPostgres, str, str]]) -> None:
        self._start = start
        self._result: tuple[ThrowawayPostgres, str, str] | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="opscheck-server-start", daemon=True)
        self._thread.start()

    @classmethod
    def started(cls, server: ThrowawayPostgres) -> ServerStart:
        """A server that is already running (``restore_backup``)."""
        return cls(lambda: (server, "given", "started by the caller"))

    def _run(self) -> None:
        began = time.monotonic()
        try:
            self._result = self._start()
        except BaseException as exc:  # handed to wait(): the thread itself has nobody to tell
            self._error = exc
        finally:
            self.seconds = time.monotonic() - began
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self) -> tuple[ThrowawayPostgres, str, str]:
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    @property
    def server(self) -> ThrowawayPostgres | None:
        """The server once started (None while starting or when the start failed)."""
        return self._result[0] if self._done.is_set() and self._result is not None else None

    def finished(self) -> ThrowawayPostgres | None:
        """The server once the start is over (waiting for it), None if it failed."""
        self._done.wait()
        return self._result[0] if self._result is not None else None

    def stop_server(self) -> None:
        server = self.finished()
        if server is not None:
            server.stop()


@dataclass
class DrillPass:
    """One pass over a backup: what the stream check found and what the restore did.

    ``facts`` is None when the stream is not a complete dump (``stream_error`` says why); ``restored`` is
    None when the restore failed (``restore_error``; the stream's own error when the stream is at fault).
    Times: ``server_seconds`` to start the server (overlapping the first bytes), ``seconds`` from opening
    the backup to the COMMIT.
    """

    facts: DumpFacts | None
    stream_error: OpscheckError | None
    restored: Restored | None
    restore_error: OpscheckError | None
    provider: tuple[str, str] | None = None
    server_seconds: float | None = None
    #: the restored database's URL (set by whoever owns the server)
    dsn: str | None = None


@dataclass(frozen=True)
class PassRequest:
    """What a pass over a backup is given: ``starting(floor)`` starts the throwaway server for a dump whose
    source is major ``floor`` (``guard`` then checks it), ``stream`` is ``backup``'s bytes, ``roles`` are
    created (NOLOGIN) before the restore, which must be done within ``deadline_s``."""

    starting: Callable[[int], ServerStart]
    guard: RestoreGuard
    backup: Backup
    stream: IO[bytes]
    deadline_s: float
    roles: Iterable[str] = ()


def creates_fresh_database(backup: Backup, creates: str) -> CheckFailed:
    """The failure of a ``pg_dump -C`` dump whose database every fresh server already has."""
    return CheckFailed(
        f"restore of {backup.name}",
        "a pg_dump -C dump whose CREATE DATABASE a fresh server can run",
        f"it creates database {creates!r}, which every fresh server already has, so CREATE DATABASE "
        f"fails there: take the backup without -C and restore it into the existing {creates!r} database",
    )
