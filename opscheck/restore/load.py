"""The restore drill: restore a backup into a throwaway PostgreSQL, without ever trusting psql's exit code.

The runbook's ``gunzip | psql`` passes on truncated and broken dumps (psql treats end of input inside
``COPY ... FROM stdin`` as end of data and exits 0). So a plain dump is read **once**: object → gunzip
and the dump checks (:mod:`opscheck.restore.dumps`) → psql stdin inside one explicit transaction, with
``ON_ERROR_STOP``, and ``COMMIT`` is sent only after the gzip stream's own end check (CRC and length) and
every dump header's end marker were seen in that same stream. Anything less kills psql, and the server
rolls the transaction back: nothing half-restored can pass verification. The stream check's verdict comes
from the same pass (:class:`DrillPass`); the throwaway server boots (:class:`ServerStart`) while the first
bytes are read, the text read meanwhile waiting in a temporary file.

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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from opscheck.errors import CheckFailed, OpscheckError
from opscheck.restore.backups import Backup
from opscheck.restore.dumproles import create_role_sql
from opscheck.restore.dumps import DumpFacts, parse_major, stream_verifier, verify_custom
from opscheck.restore.dumpscan import DumpScanner
from opscheck.restore.servers import container
from opscheck.restore.servers.base import ThrowawayPostgres, first_error_line
from opscheck.restore.servers.container import ContainerCluster
from opscheck.restore.servers.local import LocalCluster, PostgresNotFound, find_postgres_bindir, server_major

__all__ = [
    "DrillPass",
    "RestoreGuard",
    "RestoreRefused",
    "Restored",
    "ServerStart",
    "restore_backup",
    "restore_custom_pass",
    "restore_plain_pass",
    "start_server",
]

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


def start_server(provider: str, image: str, min_major: int) -> tuple[ThrowawayPostgres, str, str]:
    """Start the throwaway PostgreSQL for a dump whose source is ``min_major``: (server, provider, why)."""
    chosen, why = container.select_provider(provider, image)
    if chosen == "testcontainers":
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


def _create_roles(server: ThrowawayPostgres, roles: Iterable[str]) -> list[str]:
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


#: decompressed text read before deciding how to feed psql (a ``pg_dump -C`` dump's CREATE DATABASE and
#: ``\connect`` are in its first few KiB)
HEAD_BYTES = 1 << 20
#: at most this much verified SQL is spooled to a temporary file while the server starts
SPOOL_BYTES = 1 << 30


class _Text:
    """The verified SQL text of a plain dump stream, piece by piece; the stream's faults become
    :attr:`error` (the pieces just stop), so the caller can still clean up and say what it did."""

    def __init__(self, stream: IO[bytes], backup: Backup) -> None:
        self.verifier = stream_verifier(backup.format, backup.name)
        self.backup = backup
        self._stream = stream
        self._pieces = self._generate()
        self.error: OpscheckError | None = None
        self.facts: DumpFacts | None = None

    @property
    def scan(self) -> DumpScanner:
        return self.verifier.text.scan

    def _generate(self) -> Iterator[bytes]:
        try:
            for chunk in iter(lambda: self._stream.read(CHUNK), b""):
                yield from self.verifier.pieces(chunk)
            self.facts = self.verifier.finish()
        except OSError as exc:
            self.error = CheckFailed(
                f"reading {self.backup.name}", "a readable stream", exc.strerror or str(exc)
            )
        except OpscheckError as exc:
            self.error = exc

    def next(self) -> bytes | None:
        """The next piece; None at the end (then :attr:`facts` or :attr:`error` is set)."""
        return next(self._pieces, None)

    def drain(self, deadline: float) -> None:
        """Read (and check) the rest without restoring it: the stream check still gets its verdict."""
        while self.next() is not None:
            if time.monotonic() > deadline:
                self.error = CheckFailed(
                    f"gzip/dump stream of {self.backup.name}",
                    "read to its end within the RTO",
                    "the restore's deadline passed first: not verified",
                )
                return


class _Psql:
    """psql reading the dump on stdin inside one transaction (``ON_ERROR_STOP``), killed at the deadline."""

    def __init__(
        self, server: ThrowawayPostgres, dbname: str, deadline_s: float, connect_line: int | None
    ) -> None:
        # "-f -": psql prefixes its errors with the input line ("psql:<stdin>:N: ERROR: ...") only when it
        # reads a named input; plain stdin gives no line number to report
        command = server.client_command("psql", dbname, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        assert self.process.stdin is not None
        assert self.process.stderr is not None
        self.stdin = self.process.stdin
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.stdin.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)
        self.stderr = _Stderr(self.process.stderr)
        self.timed_out = threading.Event()
        self.alive = True
        self._connect_line = connect_line
        self._lines = 0
        self.begun = connect_line is None
        if self.begun:
            self._send(b"BEGIN;\n")
        self._watchdog = threading.Timer(deadline_s, self._stop_at_deadline)
        self._watchdog.start()

    def _stop_at_deadline(self) -> None:
        self.timed_out.set()
        self.process.kill()

    def write(self, data: bytes) -> None:
        """Pass ``data`` on; once psql has stopped reading (an SQL error) this does nothing."""
        if not self.begun and self._connect_line is not None:
            with_begin = _begin_after_connect(data, self._lines, self._connect_line)
            self._lines += data.count(b"\n")
            if with_begin is not None:
                data, self.begun = with_begin, True
        self._send(data)

    def _send(self, data: bytes) -> None:
        if not self.alive:
            return
        try:
            self.stdin.write(data)
        except BrokenPipeError:
            self.alive = False  # psql stopped at an SQL error (ON_ERROR_STOP): its stderr says where

    def commit(self, deadline_s: float) -> int:
        """Send COMMIT, end the input, wait: psql's exit status."""
        self._send(b"\nCOMMIT;\n")
        with contextlib.suppress(BrokenPipeError):
            self.stdin.close()
        try:
            return self.process.wait(timeout=max(1.0, deadline_s))
        finally:
            self.close()

    def close(self) -> None:
        """Kill psql if it still runs: an open transaction dies with its connection, nothing is committed."""
        self._watchdog.cancel()
        _kill(self.process)
        with contextlib.suppress(OSError):
            self.stdin.close()


def _spool(text: _Text, starting: ServerStart, first: bytes, spool: IO[bytes]) -> bytes | None:
    """While the server starts: verified text into ``spool`` (an unlinked temporary file, bounded), so
    decompressing and checking go on instead of waiting. Returns the next piece not yet in it."""
    spool.write(first)
    size = len(first)
    piece = text.next()
    while piece is not None and not starting.done() and size < SPOOL_BYTES:
        spool.write(piece)
        size += len(piece)
        piece = text.next()
    spool.seek(0)
    return piece


def _head(text: _Text) -> bytes:
    """The first piece(s) of text, up to the point where it is known whether the dump creates its own
    database (``pg_dump -C``: its ``CREATE DATABASE`` and the ``\\connect`` after it)."""
    held: list[bytes] = []
    size = 0
    scan = text.scan
    while size < HEAD_BYTES and scan.last_copy is None and scan.connect_line is None:
        piece = text.next()
        if piece is None:
            break
        held.append(piece)
        size += len(piece)
    return b"".join(held)


def restore_plain_pass(
    starting: Callable[[int], ServerStart],
    guard: RestoreGuard,
    backup: Backup,
    stream: IO[bytes],
    *,
    roles: Iterable[str] = (),
    deadline_s: float,
) -> DrillPass:
    """Read a plain dump once: verify it and restore it in the same pass, COMMIT only once it is proven
    complete (gzip CRC and length, every header paired with its end marker).

    ``starting(floor)`` starts the server for a dump whose source is major ``floor``; it is called as soon
    as the dump's header is read, and the text read while the server boots is spooled to a temporary file.
    Roles the dump names are created (NOLOGIN) just before the text that names them reaches psql. A
    ``pg_dump -C`` dump runs its ``CREATE DATABASE`` from ``postgres``, outside the transaction, which
    begins right after its ``\\connect``. When psql stops early (an SQL error) the rest of the stream is
    still read and checked, so the stream check always has its verdict.
    """
    began = time.monotonic()
    deadline = began + deadline_s
    text = _Text(stream, backup)
    head = _head(text)
    verifier = text.verifier.text
    if text.error is not None or not head:
        text.drain(deadline)  # nothing to restore: an empty or foreign stream
        error = text.error or _no_text(backup)
        return DrillPass(None, error, None, error)
    floor = max(parse_major(verifier.source_server_version) or 0, parse_major(verifier.pg_dump_version) or 0)
    server_start = starting(floor)
    with tempfile.TemporaryFile(prefix="opscheck-spool-") as spool:
        piece = _spool(text, server_start, head, spool)
        try:
            server, chosen, why = server_start.wait()
        except OpscheckError as exc:
            text.drain(deadline)
            return _verdict(text, None, exc, None, server_start)
        provider = (chosen, why)
        try:
            restored = _feed(server, guard, backup, text, spool, piece, set(roles), began, deadline)
        except OpscheckError as exc:
            text.drain(deadline)  # the stream check's verdict, whatever stopped the restore
            return _verdict(text, None, exc, provider, server_start)
    return _verdict(text, restored, None, provider, server_start)


def _no_text(backup: Backup) -> CheckFailed:
    return CheckFailed(f"dump {backup.name}", "a pg_dump plain-format dump", "no SQL text at all (0 bytes)")


def _verdict(
    text: _Text,
    restored: Restored | None,
    error: OpscheckError | None,
    provider: tuple[str, str] | None,
    server_start: ServerStart | None = None,
) -> DrillPass:
    """The stream's verdict beside the restore's: a faulty stream is the restore's failure too."""
    if text.error is not None:
        error, restored = text.error, None
    seconds = server_start.seconds if server_start is not None else None
    return DrillPass(text.facts, text.error, restored, error, provider, seconds)


def _feed(  # noqa: PLR0917 - one pass's state, handed over once
    server: ThrowawayPostgres,
    guard: RestoreGuard,
    backup: Backup,
    text: _Text,
    spool: IO[bytes],
    piece: bytes | None,
    roles: set[str],
    began: float,
    deadline: float,
) -> Restored:
    guard.check(server)
    scan = text.scan
    creates = scan.create_database if scan.connect_line is not None else None
    if creates in FRESH_SERVER_DATABASES:
        text.drain(deadline)
        raise _creates_fresh_database(backup, creates)
    dbname = creates or "restored"
    if creates is None:
        server.create_database(dbname)
    created = _create_roles(server, roles | scan.roles)
    done = set(created)
    connect_line = scan.connect_line if creates else None
    psql = _Psql(server, "postgres" if creates else dbname, deadline - time.monotonic(), connect_line)
    try:
        for chunk in iter(lambda: spool.read(CHUNK), b""):
            psql.write(chunk)
        while piece is not None:
            if scan.roles - done:
                new = _create_roles(server, scan.roles - done)
                done.update(new)
                created += new
            psql.write(piece)
            if not psql.alive:
                text.drain(deadline)
                break
            piece = text.next()
        if text.error is not None or text.facts is None:
            psql.close()  # no COMMIT: the open transaction dies with psql's connection
            raise text.error or _no_text(backup)
        if not psql.begun:
            raise CheckFailed(
                f"restore of {backup.name}", f"a \\connect at line {connect_line}", "none found there"
            )
        returncode = psql.commit(deadline - time.monotonic())
    except BaseException:
        psql.close()
        raise
    if psql.timed_out.is_set():
        raise CheckFailed(
            f"restore of {backup.name}", f"done within {deadline - began:g} s", "still running: stopped"
        )
    if returncode != 0:
        line, error = _first_psql_error(psql.stderr.wait())
        if line and (connect_line is None or line > connect_line):
            line -= 1  # the line of our BEGIN does not count
        where = f"line {line} of the dump" if line else "the dump"
        raise CheckFailed(
            f"restore of {backup.name}", "no SQL errors", f"psql stopped at {where}: {_with_advice(error)}"
        )
    if not psql.alive:  # psql quit (exit 0) before the stream ended, e.g. a \q inside the dump
        raise CheckFailed(
            f"restore of {backup.name}", "psql to read the whole dump", "it stopped reading early"
        )
    size = text.facts.uncompressed_bytes or 0
    return Restored(backup, text.facts, dbname, time.monotonic() - began, size, created)


def _creates_fresh_database(backup: Backup, creates: str) -> CheckFailed:
    return CheckFailed(
        f"restore of {backup.name}",
        "a pg_dump -C dump whose CREATE DATABASE a fresh server can run",
        f"it creates database {creates!r}, which every fresh server already has, so CREATE DATABASE "
        f"fails there: take the backup without -C and restore it into the existing {creates!r} database",
    )


def download(stream: IO[bytes], directory: Path, name: str) -> Path:
    """The backup's bytes into ``directory/name`` (a custom dump: pg_restore -j needs a file it can seek)."""
    path = directory / name
    with path.open("wb") as out:
        shutil.copyfileobj(stream, out, CHUNK)
    return path


def restore_custom_pass(
    starting: Callable[[int], ServerStart],
    guard: RestoreGuard,
    backup: Backup,
    stream: IO[bytes],
    *,
    roles: Iterable[str] = (),
    jobs: int,
    deadline_s: float,
    min_major: Callable[[DumpFacts], int],
) -> DrillPass:
    """A custom dump: downloaded to a file while the server starts, checked, then ``pg_restore -j``.

    This keeps a separate pass over the file before the restore (``verify_custom``): ``pg_restore -j``
    restores in parallel jobs that each commit on their own, so it cannot be held back until the stream is
    proven complete the way one psql transaction can; the pass (``pg_restore -l`` and ``-f -``, no server)
    also reads the roles the archive's owners and grants name, which must exist before the jobs start.
    ``min_major(facts)`` is the oldest server major that may restore it (the server is started before
    the archive says which; a too-old one is replaced by a start that says why none fits).
    """
    began = time.monotonic()
    server_start = starting(0)
    workdir = Path(tempfile.mkdtemp(prefix="opscheck-restore-"))
    try:
        try:
            path = download(stream, workdir, backup.name)
        except OSError as exc:
            error = CheckFailed(f"download of {backup.name}", "a readable stream", exc.strerror or str(exc))
            return DrillPass(None, error, None, error)
        except OpscheckError as exc:
            return DrillPass(None, exc, None, exc)
        try:
            facts = verify_custom(path, shutil.which("pg_restore") or "pg_restore")
        except OpscheckError as exc:
            return DrillPass(None, exc, None, exc)
        try:
            server, chosen, why = server_start.wait()
            floor = min_major(facts)
            if server.major < floor:
                server_start.stop_server()
                server_start = starting(floor)  # raises, saying why no server fits
                server, chosen, why = server_start.wait()
            guard.check(server)
            server.create_database("restored")
            created = _create_roles(server, set(roles) | set(facts.roles))
            restore_custom_file(server, "restored", path, backup, jobs=jobs, deadline_s=deadline_s)
        except OpscheckError as exc:
            return DrillPass(facts, None, None, exc, None, server_start.seconds)
        size = path.stat().st_size
        restored = Restored(backup, facts, "restored", time.monotonic() - began, size, created)
        return DrillPass(facts, None, restored, None, (chosen, why), server_start.seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def restore_custom_file(
    server: ThrowawayPostgres, dbname: str, path: Path, backup: Backup, *, jobs: int, deadline_s: float
) -> None:
    """``pg_restore --exit-on-error -j N`` of a custom-format dump file into ``dbname``."""
    target = server.copy_in(path)
    command = server.client_command("pg_restore", dbname, "--exit-on-error", "-j", str(max(1, jobs)), target)
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


def restore_backup(
    server: ThrowawayPostgres,
    guard: RestoreGuard,
    backup: Backup,
    stream: IO[bytes],
    *,
    roles: Iterable[str] = (),
    deadline_s: float,
    jobs: int = 2,
    verified: DumpFacts | None = None,
) -> Restored:
    """Restore ``backup`` (read from ``stream``) into a new database on the running ``server``, timed.

    ``roles`` are created first (NOLOGIN); the roles the dump names as they come. ``verified`` are the
    facts of an earlier integrity pass, if any: a ``pg_dump -C`` dump of a database every fresh server
    has is refused before anything is read.
    """
    guard.check(server)
    creates = verified.create_database if verified is not None and backup.format != "custom" else None
    if creates in FRESH_SERVER_DATABASES:
        raise _creates_fresh_database(backup, creates)

    def running(_floor: int) -> ServerStart:
        return ServerStart.started(server)

    if backup.format == "custom":
        outcome = restore_custom_pass(
            running, guard, backup, stream, roles=roles, jobs=jobs, deadline_s=deadline_s,
            min_major=lambda _facts: 0,
        )  # fmt: skip
    elif backup.format in ("plain-gzip", "plain"):
        outcome = restore_plain_pass(running, guard, backup, stream, roles=roles, deadline_s=deadline_s)
    else:
        raise CheckFailed(
            f"format of {backup.name}", "a plain dump (.sql or .sql.gz) or a custom dump", backup.format
        )
    if outcome.restore_error is not None:
        raise outcome.restore_error
    assert outcome.restored is not None
    return outcome.restored


def cpu_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))
