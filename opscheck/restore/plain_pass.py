"""The plain-format pass: a ``.sql.gz`` or ``.sql`` dump verified and restored through psql in one read,
without ever trusting psql's exit code.

The runbook's ``gunzip | psql`` passes on truncated and broken dumps (psql treats end of input inside
``COPY ... FROM stdin`` as end of data and exits 0). So a plain dump is read **once**: object → gunzip
and the dump checks (:mod:`opscheck.restore.dumps`) → psql stdin inside one explicit transaction, with
``ON_ERROR_STOP``, and ``COMMIT`` is sent only after the gzip stream's own end check (CRC and length) and
every dump header's end marker were seen in that same stream. Anything less kills psql, and the server
rolls the transaction back: nothing half-restored can pass verification. The stream check's verdict comes
from the same pass (:class:`~opscheck.restore.passes.DrillPass`); the throwaway server boots
(:class:`~opscheck.restore.passes.ServerStart`) while the first bytes are read, the text read meanwhile
waiting in a temporary file.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import IO, Final

from opscheck.errors import CheckFailed, OpscheckError
from opscheck.restore.backups import Backup
from opscheck.restore.dumpgzip import GzipDumpVerifier
from opscheck.restore.dumps import DumpFacts, parse_major
from opscheck.restore.dumpscan import DumpScanner
from opscheck.restore.dumptext import PlainDumpVerifier
from opscheck.restore.passes import (
    CHUNK,
    FRESH_SERVER_DATABASES,
    DrillPass,
    PassRequest,
    Restored,
    RestoreGuard,
    ServerStart,
    create_roles,
    creates_fresh_database,
    with_advice,
)
from opscheck.restore.servers.base import ThrowawayPostgres

__all__ = ["HEAD_BYTES", "SPOOL_BYTES", "restore_plain_pass"]

_PIPE_SIZE: Final = 1 << 20
_F_SETPIPE_SZ: Final = 1031
_PSQL_ERROR: Final = re.compile(r"^psql:[^:]*:(\d+): (ERROR|FATAL|error):\s*(.*)$")  # error: psql's own
#: decompressed text read before deciding how to feed psql (a ``pg_dump -C`` dump's CREATE DATABASE and
#: ``\connect`` are in its first few KiB)
HEAD_BYTES = 1 << 20
#: at most this much verified SQL is spooled to a temporary file while the server starts
SPOOL_BYTES = 1 << 30


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


def _begin_after_connect(piece: bytes, lines_before: int, connect_line: int) -> bytes | None:
    """``piece`` with ``BEGIN;`` inserted after line ``connect_line`` (the ``\\connect`` of a ``pg_dump -C``
    dump), or None when that line is not in this piece."""
    at = -1
    for _ in range(connect_line - lines_before):
        at = piece.find(b"\n", at + 1)
        if at < 0:
            return None
    return piece[: at + 1] + b"BEGIN;\n" + piece[at + 1 :]


def _stream_verifier(fmt: str, name: str) -> GzipDumpVerifier | PlainDumpVerifier:
    """The verifier for a plain dump stream of format ``plain-gzip`` or ``plain``."""
    return GzipDumpVerifier(name) if fmt == "plain-gzip" else PlainDumpVerifier(name)


class _Text:
    """The verified SQL text of a plain dump stream, piece by piece; the stream's faults become
    :attr:`error` (the pieces just stop), so the caller can still clean up and say what it did."""

    def __init__(self, stream: IO[bytes], backup: Backup) -> None:
        self.verifier = _stream_verifier(backup.format, backup.name)
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


def restore_plain_pass(request: PassRequest) -> DrillPass:
    """Read a plain dump once: verify it and restore it in the same pass, COMMIT only once it is proven
    complete (gzip CRC and length, every header paired with its end marker).

    ``request.starting(floor)`` starts the server for a dump whose source is major ``floor``; it is called
    as soon as the dump's header is read, and the text read while the server boots is spooled to a temporary file.
    Roles the dump names are created (NOLOGIN) just before the text that names them reaches psql. A
    ``pg_dump -C`` dump runs its ``CREATE DATABASE`` from ``postgres``, outside the transaction, which
    begins right after its ``\\connect``. When psql stops early (an SQL error) the rest of the stream is
    still read and checked, so the stream check always has its verdict.
    """
    backup = request.backup
    began = time.monotonic()
    deadline = began + request.deadline_s
    text = _Text(request.stream, backup)
    head = _head(text)
    verifier = text.verifier.text
    if text.error is not None or not head:
        text.drain(deadline)  # nothing to restore: an empty or foreign stream
        error = text.error or _no_text(backup)
        return DrillPass(None, error, None, error)
    floor = max(parse_major(verifier.source_server_version) or 0, parse_major(verifier.pg_dump_version) or 0)
    server_start = request.starting(floor)
    with tempfile.TemporaryFile(prefix="opscheck-spool-") as spool:
        piece = _spool(text, server_start, head, spool)
        try:
            server, chosen, why = server_start.wait()
        except OpscheckError as exc:
            text.drain(deadline)
            return _verdict(text, None, exc, None, server_start)
        provider = (chosen, why)
        try:
            restored = _feed(
                server, request.guard, backup, text, spool, piece, set(request.roles), began, deadline
            )
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
        raise creates_fresh_database(backup, creates)
    dbname = creates or "restored"
    if creates is None:
        server.create_database(dbname)
    created = create_roles(server, roles | scan.roles)
    done = set(created)
    connect_line = scan.connect_line if creates else None
    psql = _Psql(server, "postgres" if creates else dbname, deadline - time.monotonic(), connect_line)
    try:
        for chunk in iter(lambda: spool.read(CHUNK), b""):
            psql.write(chunk)
        while piece is not None:
            if scan.roles - done:
                new = create_roles(server, scan.roles - done)
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
            f"restore of {backup.name}", "no SQL errors", f"psql stopped at {where}: {with_advice(error)}"
        )
    if not psql.alive:  # psql quit (exit 0) before the stream ended, e.g. a \q inside the dump
        raise CheckFailed(
            f"restore of {backup.name}", "psql to read the whole dump", "it stopped reading early"
        )
    size = text.facts.uncompressed_bytes or 0
    return Restored(backup, text.facts, dbname, time.monotonic() - began, size, created)
