"""Is a dump complete and readable? Answered *before* anything is restored from it.

PostgreSQL's own tools fail open on a cut dump (see FACTS): ``gunzip | psql --single-transaction`` exits 0
and commits a dump truncated inside ``COPY … FROM stdin``, and ``pg_restore -l`` lists a truncated
custom archive happily. So opscheck checks the bytes itself:

* :class:`GzipDumpVerifier` sits in the restore's pipe: every chunk read from the backup goes through
  :meth:`~GzipDumpVerifier.feed`, which returns the decompressed SQL to pass on to psql, checks the
  pg_dump header as soon as it goes by, and remembers a bounded tail of the text. :meth:`~GzipDumpVerifier.finish`
  then insists that the gzip stream ended properly (CRC and length verified, nothing but zero padding
  after it) and that the text ends with pg_dump's ``-- PostgreSQL database dump complete`` marker
  followed by nothing but blank lines, comments and ``\\unrestrict`` lines. Memory stays flat whatever
  the dump's size.
* :func:`verify_plain_gzip` / :func:`verify_plain` run the same checks as a separate pass.
* :func:`verify_custom` checks a ``pg_dump -Fc`` archive's magic and table of contents with
  ``pg_restore -l``: this does **not** prove the data is complete (the TOC is at the start of the file);
  only the restore itself can.

Versions from the header (``Dumped from database version`` / ``Dumped by pg_dump version``) tell which
client may restore the dump: :func:`psql_tools_ok`.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Literal

from opscheck.errors import CheckFailed
from opscheck.restore.dumpscan import END_MARKER, DumpScanner

__all__ = [
    "DumpFacts",
    "DumpTextVerifier",
    "GzipDumpVerifier",
    "PlainDumpVerifier",
    "parse_major",
    "psql_tools_ok",
    "stream_verifier",
    "verify_custom",
    "verify_plain",
    "verify_plain_gzip",
]

Buffer = bytes | memoryview
GZIP_MAGIC: Final = b"\x1f\x8b"
CUSTOM_MAGIC: Final = b"PGDMP"
HEADER_LINES: Final = (b"--", b"-- PostgreSQL database dump")
_DUMPED_FROM: Final = "-- Dumped from database version "
_DUMPED_BY: Final = "-- Dumped by pg_dump version "
_RESTRICT: Final = b"\\restrict "
_UNRESTRICT: Final = b"\\unrestrict "

#: decompressed bytes handed out per piece (bounds memory for highly compressible data)
PIECE_BYTES: Final = 256 * 1024
#: how much of the end of the text is kept to find the end marker
TAIL_BYTES: Final = 64 * 1024
#: the header (comments, \restrict) must be over within this many bytes
HEAD_BYTES: Final = 64 * 1024
CHUNK_BYTES: Final = 1024 * 1024
#: compressed bytes handed to zlib at a time
_INPUT_SLICE: Final = 64 * 1024
PG_RESTORE_TIMEOUT_S: Final = 120.0

#: first minor release of each major whose psql/pg_restore understands ``\restrict`` (CVE-2025-8714)
RESTRICT_SINCE: Final = {13: 22, 14: 19, 15: 14, 16: 10, 17: 6}
_ZEROS: Final = re.compile(rb"\0*")
_MAJOR: Final = re.compile(r"^\s*(\d+)(?:\.(\d+))?")
_TOC_FROM: Final = re.compile(r"^;\s+Dumped from database version:\s*(.+?)\s*$", re.MULTILINE)
_TOC_BY: Final = re.compile(r"^;\s+Dumped by pg_dump version:\s*(.+?)\s*$", re.MULTILINE)
_TOC_TABLE_DATA: Final = re.compile(r"^\d+; \d+ \d+ TABLE DATA ", re.MULTILINE)


def parse_major(version: str | None) -> int | None:
    """Major version of "15.18 (Debian 15.18-0+deb12u1)", "16.4", "17beta1", "9.6.24" (→ 9)."""
    if not version:
        return None
    match = _MAJOR.match(version)
    return int(match.group(1)) if match else None


@dataclass
class DumpFacts:
    """What a dump says about itself.

    ``end_marker`` is None for custom archives (they have none); ``uncompressed_bytes`` is None when not
    measured; ``table_count`` is only known for custom archives (TABLE DATA entries of the TOC).
    """

    name: str
    format: Literal["plain-gzip", "plain", "custom"]
    source_server_version: str | None = None
    pg_dump_version: str | None = None
    source_major: int | None = None
    pg_dump_major: int | None = None
    compressed_bytes: int = 0
    uncompressed_bytes: int | None = None
    end_marker: bool | None = None
    restricted: bool = False
    table_count: int | None = None
    lines: int | None = None
    gzip_members: int | None = None
    #: roles the dump's statements name (OWNER TO, GRANT, policies, …), built-in ones left out
    roles: frozenset[str] = frozenset()
    #: ``pg_dump -C``: the database the dump creates and the line of its ``\\connect``
    create_database: str | None = None
    connect_line: int | None = None
    #: dumps in the stream (``(pg_dump -s; pg_dump -a)`` has two)
    parts: int = 1


def _hex(data: Buffer, limit: int = 8) -> str:
    return data[:limit].hex(" ") + (" …" if len(data) > limit else "")


def _printable(line: bytes, limit: int = 60) -> str:
    text = line[:limit].decode("utf-8", errors="replace")
    return repr(text + ("…" if len(line) > limit else ""))


# ------------------------------------------------------------------------------------------ plain text


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


# ------------------------------------------------------------------------------------------------ gzip


class GzipDumpVerifier:
    """Decompresses a gzip'ed plain dump chunk by chunk and checks it on the way.

    ``feed(chunk)`` returns the SQL text of the chunk (pass it on to psql); it raises CheckFailed as
    soon as the data is not gzip or not a pg_dump dump. ``finish()`` raises CheckFailed unless the
    gzip stream ended properly and the dump's end marker was seen; call it *before* committing a
    restore. Multi-member gzip (``cat a.gz b.gz``) and trailing zero padding are accepted, like gzip(1).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.text = DumpTextVerifier(name)
        self.compressed = 0
        self.members = 0
        self._decompressor: zlib._Decompress | None = None
        self._between = bytearray()  # bytes after a member's end, before we know what follows
        self._member_start = 0  # offset of the current member's first byte

    @property
    def _what(self) -> str:
        return f"gzip stream of {self.name}"

    def feed(self, chunk: bytes) -> bytes:
        """The decompressed bytes of ``chunk`` (may be empty)."""
        return b"".join(self.pieces(chunk))

    def pieces(self, chunk: bytes) -> Iterator[bytes]:
        """Like :meth:`feed`, in pieces of at most 256 KiB (for highly compressible data)."""
        view = memoryview(chunk)
        for start in range(0, len(view), _INPUT_SLICE):  # small slices: zlib copies what it leaves over
            data: Buffer = view[start : start + _INPUT_SLICE]
            self.compressed += len(data)
            while data:
                if self._decompressor is None:
                    data = self._start_member(data)
                    continue
                yield from self._inflate(data)
                data = b""
                if self._decompressor.eof:
                    data = self._decompressor.unused_data
                    self._decompressor = None

    def _start_member(self, data: Buffer) -> Buffer:
        """Find the next member's magic; return the bytes the new member starts with (b"": need more).

        Only a partial magic (one byte) is ever buffered, so a chunk is not copied here.
        """
        if self._between:
            data = bytes(self._between) + data
            self._between.clear()
        if self.members > 0:  # zero padding after the last member is fine (as in gzip and Python)
            padding = _ZEROS.match(data)
            if padding is not None and padding.end():
                data = data[padding.end() :]
        if len(data) < len(GZIP_MAGIC):
            self._between += data
            return b""
        if data[:2] != GZIP_MAGIC:
            if self.members == 0:
                raise CheckFailed(self._what, "gzip data", f"not gzip (starts with {_hex(data)})")
            offset = self.compressed - len(data)
            raise CheckFailed(
                self._what,
                "nothing but gzip members (or zero padding) to the end",
                f"{len(data)}+ bytes of non-gzip data after the end of the gzip stream at byte {offset} "
                f"(starts with {_hex(data)})",
            )
        self._decompressor = zlib.decompressobj(wbits=31)
        self.members += 1
        self._member_start = self.compressed - len(data)
        return data

    def _inflate(self, data: Buffer) -> Iterator[bytes]:
        decompressor = self._decompressor
        assert decompressor is not None
        while True:
            before = decompressor.copy()  # to find the exact bad byte, should this call fail
            try:
                out = decompressor.decompress(data, PIECE_BYTES)
            except zlib.error as exc:
                raise self._corrupt(exc, before, data) from None
            if out:
                self.text.take(out)
                yield out
            data = decompressor.unconsumed_tail
            if decompressor.eof or (not data and len(out) < PIECE_BYTES):
                return

    def _corrupt(self, exc: zlib.error, before: zlib._Decompress, data: Buffer) -> CheckFailed:
        """Where the gzip data stops being valid: the first byte zlib rejects, fed one at a time from the
        state before the failing call (only done once, on failure)."""
        start = self.compressed - len(data)
        bad = None
        for index in range(len(data)):
            try:
                before.decompress(data[index : index + 1])
            except zlib.error:
                bad = start + index
                break
        member = f"member {self.members} (starting at byte {self._member_start})"
        if bad is None:
            seen = f"corrupt data in gzip {member}; the exact offset is not known: {exc}"
        elif "check" in str(exc) and "header" not in str(exc):
            seen = (
                f"gzip {member} fails its {'length' if 'length' in str(exc) else 'CRC'} check at byte {bad}: "
                f"its data is corrupt somewhere between bytes {self._member_start} and {bad} ({exc})"
            )
        else:
            seen = f"corrupt gzip data: first undecodable byte at offset {bad}, in {member}: {exc}"
        return CheckFailed(self._what, "intact gzip data (CRC and length verified)", seen)

    def finish(self) -> DumpFacts:
        """Facts about the dump, or CheckFailed: truncated or corrupt gzip, no header, no end marker."""
        if self.compressed == 0:
            raise CheckFailed(self._what, "gzip data", "an empty file (0 bytes)")
        if self._decompressor is not None:
            raise CheckFailed(
                self._what,
                "complete (CRC and length verified)",
                f"truncated after {self.compressed} compressed bytes",
            )
        if self._between:
            head = bytes(self._between)
            if self.members == 0:
                raise CheckFailed(self._what, "gzip data", f"not gzip ({len(head)} byte(s): {_hex(head)})")
            raise CheckFailed(
                self._what,
                "nothing but gzip members (or zero padding) to the end",
                f"{len(head)} stray byte(s) after the end of the gzip stream ({_hex(head)})",
            )
        self.text.finish()
        return self.text.facts("plain-gzip", self.compressed, gzip_members=self.members)


class PlainDumpVerifier:
    """The uncompressed counterpart of :class:`GzipDumpVerifier`: same interface, same text checks."""

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


def stream_verifier(fmt: str, name: str) -> GzipDumpVerifier | PlainDumpVerifier:
    """The verifier for a plain dump stream of format ``plain-gzip`` or ``plain``."""
    return GzipDumpVerifier(name) if fmt == "plain-gzip" else PlainDumpVerifier(name)


def _read_chunks(stream: BinaryIO, name: str, chunk_size: int) -> Iterator[bytes]:
    while True:
        try:
            chunk = stream.read(chunk_size)
        except OSError as exc:
            raise CheckFailed(f"reading {name}", "a readable stream", exc.strerror or str(exc)) from None
        if not chunk:
            return
        yield chunk


def verify_plain_gzip(stream: BinaryIO, name: str, chunk_size: int = CHUNK_BYTES) -> DumpFacts:
    """A full pass over a ``.sql.gz`` dump, discarding the SQL; CheckFailed if it is not complete."""
    verifier = GzipDumpVerifier(name)
    for chunk in _read_chunks(stream, name, chunk_size):
        for _piece in verifier.pieces(chunk):
            pass
    return verifier.finish()


def verify_plain(stream: BinaryIO, name: str, chunk_size: int = CHUNK_BYTES) -> DumpFacts:
    """A full pass over an uncompressed ``.sql`` dump; CheckFailed if it is not complete."""
    verifier = PlainDumpVerifier(name)
    for chunk in _read_chunks(stream, name, chunk_size):
        verifier.feed(chunk)
    return verifier.finish()


# ---------------------------------------------------------------------------------------------- custom


def verify_custom(path: Path, pg_restore: str, timeout_s: float = PG_RESTORE_TIMEOUT_S) -> DumpFacts:
    """Check a ``pg_dump -Fc`` archive: ``PGDMP`` magic, a table of contents ``pg_restore -l`` reads, and
    every data block readable (``pg_restore -f /dev/null`` decodes the whole archive without a server).

    ``pg_restore -l`` alone succeeds on a truncated archive because the TOC is at its start.
    """
    name = path.name
    try:
        with open(path, "rb") as handle:
            magic = handle.read(len(CUSTOM_MAGIC))
        size = path.stat().st_size
    except FileNotFoundError:
        raise CheckFailed(f"dump {name}", "an existing file", f"no such file {path}") from None
    except OSError as exc:
        raise CheckFailed(f"dump {name}", "a readable file", exc.strerror or str(exc)) from None
    if magic != CUSTOM_MAGIC:
        seen = "an empty file (0 bytes)" if not magic else f"starts with {_hex(magic)}"
        raise CheckFailed(f"dump {name}", "a pg_dump custom-format archive (starts with 'PGDMP')", seen)
    cmd = [pg_restore, "-l", str(path)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise CheckFailed(
            f"table of contents of {name}", f"pg_restore -l within {timeout_s:g} s", "timed out"
        ) from None
    except OSError as exc:
        raise CheckFailed(
            f"table of contents of {name}", f"{pg_restore} to run", exc.strerror or str(exc)
        ) from None
    if proc.returncode != 0:
        raise CheckFailed(
            f"table of contents of {name}",
            "pg_restore -l to read it (exit 0)",
            f"exit {proc.returncode}: {_first_error(proc.stderr)}",
        )
    toc = proc.stdout
    script = _read_every_block(path, pg_restore, timeout_s)
    source = _TOC_FROM.search(toc)
    dumper = _TOC_BY.search(toc)
    source_version = source.group(1) if source else None
    pg_dump_version = dumper.group(1) if dumper else None
    return DumpFacts(
        name=name,
        format="custom",
        source_server_version=source_version,
        pg_dump_version=pg_dump_version,
        source_major=parse_major(source_version),
        pg_dump_major=parse_major(pg_dump_version),
        compressed_bytes=size,
        uncompressed_bytes=None,
        end_marker=None,
        restricted=False,
        table_count=len(_TOC_TABLE_DATA.findall(toc)),
        roles=frozenset(script.scan.roles),
        parts=len(script.scan.parts),
    )


def _read_every_block(path: Path, pg_restore: str, timeout_s: float) -> DumpTextVerifier:
    """Stream ``pg_restore -f -`` (the archive as a script, every data block decoded, no server) through
    the plain-text checks: the roles it names and its end marker come from pg_restore's own output."""
    checked = f"data blocks of {path.name}"
    text = DumpTextVerifier(f"{path.name} (as pg_restore writes it out)")
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(
                [pg_restore, "-f", "-", str(path)], stdout=subprocess.PIPE, stderr=errors
            )
        except OSError as exc:
            raise CheckFailed(checked, f"{pg_restore} to run", exc.strerror or str(exc)) from None
        out = process.stdout
        assert out is not None
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(timeout_s, stop)
        timer.start()
        try:
            for chunk in iter(lambda: out.read(CHUNK_BYTES), b""):
                text.take(chunk)
            returncode = process.wait(timeout=timeout_s)
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            out.close()
        if timed_out.is_set():
            raise CheckFailed(checked, f"pg_restore to read them within {timeout_s:g} s", "timed out")
        errors.seek(0)
        stderr = errors.read(16384).decode("utf-8", errors="replace")
    if returncode != 0:
        raise CheckFailed(
            checked,
            "every block readable (pg_restore -f -)",
            f"exit {returncode}: {_first_error(stderr)}",
        )
    text.finish()
    return text


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "error:" in line or "fatal:" in line.lower():
            return line
    return lines[0] if lines else "(no output)"


# ------------------------------------------------------------------------------------------------ tools


def psql_tools_ok(
    pg_dump_version: str | None,
    psql_major: int,
    *,
    psql_minor: int | None = None,
    restricted: bool = False,
    tool: str = "psql",
) -> str | None:
    """Why a ``tool`` of version ``psql_major[.psql_minor]`` cannot be trusted to restore a dump written
    by ``pg_dump_version``, or None.

    An older major may not understand the dump. A ``\\restrict``-wrapped dump (pg_dump 17.6, 16.10,
    15.14, 14.19, 13.22 and later) is rejected by a psql released before those minors.
    """
    dump_major = parse_major(pg_dump_version)
    if dump_major is not None and psql_major < dump_major:
        return (
            f"the dump was written by pg_dump {pg_dump_version}; {tool} {psql_major} is older and may not "
            f"read it: restore with {tool} {dump_major} or newer"
        )
    if restricted and psql_major < 18:
        since = RESTRICT_SINCE.get(psql_major)
        if since is None:
            return (
                f"the dump uses \\restrict (pg_dump {pg_dump_version}); {tool} {psql_major} has no release "
                "that understands it: use a supported major at its latest minor release"
            )
        if psql_minor is not None and psql_minor < since:
            return (
                f"the dump uses \\restrict (pg_dump {pg_dump_version}); {tool} {psql_major}.{psql_minor} "
                f"rejects it: use {tool} {psql_major}.{since} or newer"
            )
    return None
