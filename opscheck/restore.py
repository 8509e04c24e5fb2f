"""The restore drill: restore a backup into a throwaway PostgreSQL, without ever trusting psql's exit code.

The runbook's ``gunzip | psql`` passes on truncated and broken dumps (psql treats end of input inside
``COPY ... FROM stdin`` as end of data and exits 0). So a plain dump is streamed object → gunzip → psql
stdin inside one explicit transaction, with ``ON_ERROR_STOP``, and ``COMMIT`` is sent only after the gzip
stream's own end check (CRC and length) and the pg_dump end marker were seen. Anything less kills psql,
and the server rolls the transaction back: nothing half-restored can pass verification.

Custom-format dumps go to a temporary file and ``pg_restore --exit-on-error -j N``, owners and privileges
included: every role the dump needs is created first (so the data restore is tested; whether the recovery
procedure creates those roles is a check of its own).

A :class:`RestoreGuard` refuses every target that is not a throwaway server this process started.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from opscheck import containers
from opscheck.backups import Backup
from opscheck.containers import ContainerCluster
from opscheck.dumproles import create_role_sql
from opscheck.dumps import DumpFacts, stream_verifier, verify_custom
from opscheck.errors import CheckFailed, OpscheckError
from opscheck.pgcluster import LocalCluster, PostgresNotFound, find_postgres_bindir, server_major
from opscheck.pgserver import ThrowawayPostgres, first_error_line

__all__ = [
    "RestoreGuard",
    "RestoreRefused",
    "Restored",
    "Server",
    "restore_backup",
    "start_server",
]

#: a throwaway PostgreSQL the drill started (a local initdb cluster or a container)
Server = ThrowawayPostgres

CHUNK = 1 << 20
_PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = 1031
_PSQL_ERROR = re.compile(r"^psql:[^:]*:(\d+): (ERROR|FATAL):\s*(.*)$")
_MISSING_EXTENSION = re.compile(
    r'extension "([^"]+)" is not available|could not open extension control file "[^"]*/([^"/]+)\.control"'
)


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


def start_server(provider: str, image: str, min_major: int) -> tuple[Server, str, str]:
    """Start the throwaway PostgreSQL for a dump whose source is ``min_major``: (server, provider, why)."""
    chosen, why = containers.select_provider(provider, image)
    if chosen == "testcontainers":
        server: Server = ContainerCluster(image=image).start()
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


def _first_psql_error(stderr: str) -> tuple[int | None, str]:
    for line in stderr.splitlines():
        match = _PSQL_ERROR.match(line.strip())
        if match:
            return int(match.group(1)), f"{match.group(2)}: {match.group(3)}"
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return None, lines[0] if lines else "no error output"


class _Stderr:
    """Drains a child's stderr in a thread (so it never blocks), keeping the first few KiB."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        kept: list[bytes] = []
        size = 0
        for line in stream:
            if size < 16384:
                kept.append(line)
                size += len(line)
        self.text = b"".join(kept).decode("utf-8", errors="replace")

    def wait(self) -> str:
        self._thread.join(timeout=10)
        return self.text


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def _create_roles(server: Server, roles: Iterable[str]) -> list[str]:
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


def _with_advice(error: str) -> str:
    """The error, plus what to do when it is an extension the throwaway server lacks."""
    match = _MISSING_EXTENSION.search(error)
    if match is None:
        return error
    name = match.group(1) or match.group(2)
    return (
        f"{error} -- the throwaway server has no extension {name!r}: set [restore] image to a PostgreSQL "
        f"image that ships it (README: 'Extensions the restore needs'), or install it where provider = local runs"
    )


def _begin_after_connect(piece: bytes, lines_before: int, connect_line: int) -> bytes | None:
    """``piece`` with ``BEGIN;`` inserted after line ``connect_line`` (the ``\\connect`` of a ``pg_dump -C``
    dump), or None when that line is not in this piece."""
    at = -1
    for _ in range(connect_line - lines_before):
        at = piece.find(b"\n", at + 1)
        if at < 0:
            return None
    return piece[: at + 1] + b"BEGIN;\n" + piece[at + 1 :]


def restore_plain(
    server: Server,
    dbname: str,
    stream: IO[bytes],
    backup: Backup,
    deadline_s: float,
    *,
    connect_line: int | None = None,
) -> tuple[DumpFacts, int]:
    """Stream a plain dump (gzipped or not) into ``dbname``; COMMIT only once the stream is proven complete.

    A ``pg_dump -C`` dump (``connect_line`` known from the integrity pass) runs its ``CREATE DATABASE``
    from the ``postgres`` database outside the transaction, which begins right after its ``\\connect``.
    """
    # "-f -": psql prefixes its errors with the input line ("psql:<stdin>:N: ERROR: ...") only when it
    # reads a named input; plain stdin gives no line number to report
    command = server.client_command("psql", dbname, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-")
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stdin is not None
    assert process.stderr is not None
    with contextlib.suppress(OSError):
        fcntl.fcntl(process.stdin.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)
    stderr = _Stderr(process.stderr)
    timed_out = threading.Event()

    def stop_at_deadline() -> None:
        timed_out.set()
        process.kill()

    watchdog = threading.Timer(deadline_s, stop_at_deadline)
    watchdog.start()
    verifier = stream_verifier(backup.format, backup.name)
    written = 0
    lines_written = 0
    begun = connect_line is None
    facts: DumpFacts | None = None
    try:
        try:
            if begun:
                process.stdin.write(b"BEGIN;\n")
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                data = verifier.feed(chunk)
                if not begun and connect_line is not None:
                    with_begin = _begin_after_connect(data, lines_written, connect_line)
                    lines_written += data.count(b"\n")
                    if with_begin is not None:
                        data, begun = with_begin, True
                process.stdin.write(data)
                written += len(data)
            facts = verifier.finish()
            if not begun:
                raise CheckFailed(
                    f"restore of {backup.name}", f"a \\connect at line {connect_line}", "none found there"
                )
            process.stdin.write(b"\nCOMMIT;\n")
            process.stdin.close()
        except BrokenPipeError:
            pass  # psql stopped at an SQL error (ON_ERROR_STOP): its stderr says where
        except BaseException:
            _kill(process)  # the open transaction dies with the connection: nothing is committed
            raise
        returncode = process.wait(timeout=max(1.0, deadline_s))
    finally:
        watchdog.cancel()
        _kill(process)
    if timed_out.is_set():
        raise CheckFailed(
            f"restore of {backup.name}", f"done within {deadline_s:g} s", "still running: stopped"
        )
    if returncode != 0:
        line, error = _first_psql_error(stderr.wait())
        if line and (connect_line is None or line > connect_line):
            line -= 1  # the line of our BEGIN does not count
        where = f"line {line} of the dump" if line else "the dump"
        raise CheckFailed(
            f"restore of {backup.name}", "no SQL errors", f"psql stopped at {where}: {_with_advice(error)}"
        )
    if facts is None:  # psql quit (exit 0) before the stream ended, e.g. a \q inside the dump
        raise CheckFailed(
            f"restore of {backup.name}", "psql to read the whole dump", "it stopped reading early"
        )
    return facts, written


def restore_custom(
    server: Server, dbname: str, stream: IO[bytes], backup: Backup, *, jobs: int, deadline_s: float
) -> tuple[DumpFacts, int]:
    """Write a custom-format dump to a temporary file and ``pg_restore --exit-on-error -j N`` it."""
    workdir = Path(tempfile.mkdtemp(prefix="opscheck-restore-"))
    try:
        path = workdir / backup.name
        with path.open("wb") as out:
            shutil.copyfileobj(stream, out, CHUNK)
        pg_restore = (
            str(server.bindir / "pg_restore")
            if isinstance(server, LocalCluster)
            else shutil.which("pg_restore")
        )
        facts = verify_custom(path, pg_restore or "pg_restore")
        target = server.copy_in(path)
        command = server.client_command(
            "pg_restore", dbname, "--exit-on-error", "-j", str(max(1, jobs)), target
        )
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=deadline_s, check=False)
        except subprocess.TimeoutExpired:
            raise CheckFailed(
                f"restore of {backup.name}", f"done within {deadline_s:g} s", "still running"
            ) from None
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            first = next((line for line in lines if "error" in line.lower()), lines[0] if lines else "?")
            raise CheckFailed(
                f"restore of {backup.name}", "pg_restore without errors", _with_advice(first.strip())
            )
        return facts, path.stat().st_size
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def restore_backup(
    server: Server,
    guard: RestoreGuard,
    backup: Backup,
    stream: IO[bytes],
    *,
    roles: Iterable[str] = (),
    deadline_s: float,
    jobs: int = 2,
    verified: DumpFacts | None = None,
) -> Restored:
    """Restore ``backup`` (read from ``stream``) into a new database on ``server``, timed.

    ``roles`` are created first (NOLOGIN). ``verified`` are the facts of an integrity pass over the same
    backup: a ``pg_dump -C`` dump then creates its own database, and the restore goes there.
    """
    guard.check(server)
    creates = verified.create_database if verified is not None and backup.format != "custom" else None
    if creates in FRESH_SERVER_DATABASES:
        raise CheckFailed(
            f"restore of {backup.name}",
            "a pg_dump -C dump whose CREATE DATABASE a fresh server can run",
            f"it creates database {creates!r}, which every fresh server already has, so CREATE DATABASE "
            f"fails there: take the backup without -C and restore it into the existing {creates!r} database",
        )
    dbname = creates or "restored"
    if creates is None:
        server.create_database(dbname)
    created = _create_roles(server, roles)
    started = time.monotonic()
    if backup.format == "custom":
        facts, size = restore_custom(server, dbname, stream, backup, jobs=jobs, deadline_s=deadline_s)
    elif backup.format in ("plain-gzip", "plain"):
        connect = verified.connect_line if creates is not None and verified is not None else None
        target = "postgres" if connect is not None else dbname
        facts, size = restore_plain(server, target, stream, backup, deadline_s, connect_line=connect)
    else:
        raise CheckFailed(
            f"format of {backup.name}", "a plain dump (.sql or .sql.gz) or a custom dump", backup.format
        )
    return Restored(backup, facts, dbname, time.monotonic() - started, size, created)


def cpu_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))
