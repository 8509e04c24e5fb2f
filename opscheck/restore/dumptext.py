"""The text of a plain-format dump, checked as it streams by (:class:`DumpTextVerifier`): a pg_dump header
at the start, every header's end marker at the end, nothing after it but blank lines, comments and
``\\unrestrict`` lines; only a bounded window of the text is kept. :class:`PlainDumpVerifier` and
:func:`verify_plain` apply it to an uncompressed ``.sql`` dump.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Final, Literal

from opscheck.errors import CheckFailed
from opscheck.restore.dumps import CHUNK_BYTES, DumpFacts, parse_major
from opscheck.restore.dumpscan import END_MARKER, DumpScanner

__all__ = [
    "HEADER_LINES",
    "TAIL_BYTES",
    "DumpTextVerifier",
    "PlainDumpVerifier",
    "read_chunks",
    "verify_plain",
]

HEADER_LINES: Final = (b"--", b"-- PostgreSQL database dump")
_DUMPED_FROM: Final = "-- Dumped from database version "
_DUMPED_BY: Final = "-- Dumped by pg_dump version "
_RESTRICT: Final = b"\\restrict "
_UNRESTRICT: Final = b"\\unrestrict "
#: how much of the end of the text is kept to find the end marker
TAIL_BYTES: Final = 64 * 1024
#: the header (comments, \restrict) must be over within this many bytes
HEAD_BYTES: Final = 64 * 1024


def _printable(line: bytes, limit: int = 60) -> str:
    text = line[:limit].decode("utf-8", errors="replace")
    return repr(text + ("…" if len(line) > limit else ""))


class DumpTextVerifier:
    """Checks the text of a plain-format dump as it streams by, keeping only a bounded window.

    :meth:`take` raises at once when the text does not start like a pg_dump dump; :meth:`finish`
    raises when the end marker is missing.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.total = 0
        self.restricted = False
        self.source_server_version: str | None = None
        self.pg_dump_version: str | None = None
        self._head = bytearray()
        self._head_pos = 0
        self._head_lines = 0
        self._header_done = False
        self._tail = bytearray()
        self._tail_trimmed = False
        self.scan = DumpScanner()

    # -- streaming

    def take(self, piece: bytes) -> None:
        """Account for the next piece of text."""
        if not piece:
            return
        self.total += len(piece)
        if not self._header_done:
            self._head += piece
            self._parse_head()
        self._tail += piece
        if len(self._tail) > 2 * TAIL_BYTES:
            del self._tail[: len(self._tail) - TAIL_BYTES]
            self._tail_trimmed = True
        self.scan.feed(piece)

    def _parse_head(self) -> None:
        while not self._header_done:
            end = self._head.find(b"\n", self._head_pos)
            if end < 0:
                pending = len(self._head) - self._head_pos
                if self._head_lines < len(HEADER_LINES) and pending > 256:
                    self._fail_header(bytes(self._head[self._head_pos : self._head_pos + 80]))
                if len(self._head) > HEAD_BYTES:
                    self._header_done = True  # a very long comment: stop looking for header lines
                    break
                return
            line = bytes(self._head[self._head_pos : end]).rstrip(b"\r")
            self._head_pos = end + 1
            self._header_line(line)
        self._head = bytearray()

    def _header_line(self, line: bytes) -> None:
        index = self._head_lines
        self._head_lines += 1
        if index < len(HEADER_LINES):
            if line != HEADER_LINES[index]:
                self._fail_header(line)
            return
        text = line.decode("utf-8", errors="replace")
        if text.startswith(_DUMPED_FROM):
            self.source_server_version = text[len(_DUMPED_FROM) :].strip()
        elif text.startswith(_DUMPED_BY):
            self.pg_dump_version = text[len(_DUMPED_BY) :].strip()
        elif line.startswith(_RESTRICT):
            self.restricted = True
        elif line.strip() and not line.startswith(b"--"):
            self._header_done = True  # the first statement: the header is over
        if self._head_pos > HEAD_BYTES:
            self._header_done = True

    def _fail_header(self, line: bytes) -> None:
        raise CheckFailed(
            f"dump {self.name}",
            "a pg_dump plain-format header ('--' / '-- PostgreSQL database dump')",
            f"line {self._head_lines or 1}: {_printable(line)}",
        )

    # -- verdict

    def finish(self) -> tuple[bool, int]:
        """(end marker found, lines). Raises CheckFailed for a missing header or end marker."""
        if not self._header_done:
            if self.total == 0:
                raise CheckFailed(
                    f"dump {self.name}", "a pg_dump plain-format dump", "no SQL text at all (0 bytes)"
                )
            if self._head_lines < len(HEADER_LINES):
                self._fail_header(bytes(self._head[self._head_pos : self._head_pos + 80]))
        scan = self.scan
        scan.finish()
        if scan.problem is not None and not scan.cut_short:
            raise CheckFailed(
                f"dump {self.name}",
                "every '-- PostgreSQL database dump' header followed by its '… dump complete' marker",
                scan.problem,
            )
        if scan.problem is not None or not self._ends_with_marker():
            where = scan.problem or f"last complete line {scan.lines}"
            raise CheckFailed(
                f"dump {self.name}",
                "a complete dump ending with '-- PostgreSQL database dump complete'",
                f"dump truncated: no 'PostgreSQL database dump complete' marker; {where}",
            )
        return True, scan.lines

    def facts(
        self,
        fmt: Literal["plain-gzip", "plain", "custom"],
        stored_bytes: int,
        gzip_members: int | None = None,
    ) -> DumpFacts:
        """What the text said about itself (after :meth:`finish`)."""
        scan = self.scan
        return DumpFacts(
            name=self.name,
            format=fmt,
            source_server_version=self.source_server_version,
            pg_dump_version=self.pg_dump_version,
            source_major=parse_major(self.source_server_version),
            pg_dump_major=parse_major(self.pg_dump_version),
            compressed_bytes=stored_bytes,
            uncompressed_bytes=self.total,
            end_marker=True,
            restricted=self.restricted,
            lines=scan.lines,
            gzip_members=gzip_members,
            roles=frozenset(scan.roles),
            create_database=scan.create_database if scan.connect_line is not None else None,
            connect_line=scan.connect_line,
            parts=len(scan.parts),
        )

    def _ends_with_marker(self) -> bool:
        lines = bytes(self._tail).split(b"\n")
        if self._tail_trimmed:
            lines = lines[1:]  # the window may start inside a line
        lines = [line.rstrip(b"\r") for line in lines]
        for index in range(len(lines) - 1, 0, -1):
            if lines[index] != END_MARKER:
                continue
            if lines[index - 1] != b"--":
                return False
            return all(_trailer_line(line) for line in lines[index + 1 :])
        return False


def _trailer_line(line: bytes) -> bool:
    """What pg_dump may write after the end marker: blank lines, comments, ``\\unrestrict KEY``."""
    stripped = line.strip()
    return not stripped or stripped.startswith(b"--") or stripped.startswith(_UNRESTRICT)


class PlainDumpVerifier:
    """The uncompressed counterpart of :class:`~opscheck.restore.dumpgzip.GzipDumpVerifier`: same interface,
    same text checks."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.text = DumpTextVerifier(name)

    def feed(self, chunk: bytes) -> bytes:
        self.text.take(chunk)
        return chunk

    def pieces(self, chunk: bytes) -> Iterator[bytes]:
        yield self.feed(chunk)

    def finish(self) -> DumpFacts:
        self.text.finish()
        return self.text.facts("plain", self.text.total)


def read_chunks(stream: BinaryIO, name: str, chunk_size: int) -> Iterator[bytes]:
    """``stream`` in chunks of ``chunk_size``; a read error is CheckFailed naming ``name``."""
    while True:
        try:
            chunk = stream.read(chunk_size)
        except OSError as exc:
            raise CheckFailed(f"reading {name}", "a readable stream", exc.strerror or str(exc)) from None
        if not chunk:
            return
        yield chunk


def verify_plain(stream: BinaryIO, name: str, chunk_size: int = CHUNK_BYTES) -> DumpFacts:
    """A full pass over an uncompressed ``.sql`` dump; CheckFailed if it is not complete."""
    verifier = PlainDumpVerifier(name)
    for chunk in read_chunks(stream, name, chunk_size):
        verifier.feed(chunk)
    return verifier.finish()
