"""Reads the statements of a plain-format dump as it streams by, stepping over ``COPY`` data.

What the drill needs from the text besides the bytes themselves:

* **parts**: a backup made as ``(pg_dump -s; pg_dump -a) | gzip`` holds two dumps. Each
  ``-- PostgreSQL database dump`` header must be followed by its ``-- PostgreSQL database dump complete``
  before the next header or the end; a part cut mid-way is a :attr:`DumpScanner.problem`.
* **roles** every statement names (:mod:`opscheck.restore.dumproles`);
* ``pg_dump -C``: the ``CREATE DATABASE`` name and the first ``\\connect`` line;
* where the text ended: the last complete line, and the table whose ``COPY`` data was cut.

Only complete lines are looked at (an incomplete line is carried to the next piece, its first 64 KiB at
most). ``COPY … FROM stdin`` data is skipped with ``bytes.find`` for the ``\\.`` line that ends it, so the
cost stays far below decompression's; a dump header inside ``COPY`` data (a part cut mid-``COPY`` and the
next part's header) ends it too.

A line is a statement only where SQL's lexer would start one: the text of string literals (``'…'``,
``E'…'``), quoted identifiers, dollar-quoted bodies (``$tag$…$tag$``) and comments is stepped over, so a
comment, a function body or an ``--inserts`` value holding a line like ``Grant me access`` or
``COPY x FROM stdin;`` or the end marker names no role, starts no COPY and ends no dump. A dump header
still counts inside a literal (a part cut mid-literal followed by the next part's header): it ends it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from opscheck.restore.dumproles import ROLE_STATEMENT_STARTS, roles_in_statement

__all__ = ["END_MARKER", "HEADER_MARKER", "DumpPart", "DumpScanner"]

HEADER_MARKER: Final = b"-- PostgreSQL database dump"
END_MARKER: Final = b"-- PostgreSQL database dump complete"
#: the longest head of one line that is kept (statements naming roles are far shorter)
LINE_HEAD_BYTES: Final = 64 * 1024
_STARTS: Final = (
    "-- PostgreSQL database dump",
    "\\connect ",
    "\\restrict ",
    "CREATE DATABASE ",
    *ROLE_STATEMENT_STARTS,
)
#: the lines worth a look: markers, -C's statements, statements that can name roles
_INTERESTING: Final = re.compile(
    b"^(?:" + b"|".join(re.escape(start.encode()) for start in _STARTS) + b")",
    re.MULTILINE | re.IGNORECASE,
)
#: where a statement-level piece of text opens something whose inside is not statements
_OPENER: Final = re.compile(
    rb"(?P<escape>(?<![A-Za-z0-9_$\x80-\xff])[Ee]')|(?P<quote>['\"])|(?P<block>/\*)|(?P<line>--)"
    rb"|(?P<dollar>(?<![A-Za-z0-9_$\x80-\xff])\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$)"
)
#: the rest of a literal up to and including its closing quote (possessive: never closes inside a pair)
_CLOSER: Final = {
    b"'": re.compile(rb"(?:[^']++|'')*+'"),
    b'"': re.compile(rb'(?:[^"]++|"")*+"'),
    b"E'": re.compile(rb"(?:[^'\\]++|''|\\.)*+'", re.DOTALL),
}
#: statement text with nothing to step into: no $, no comment, quotes closed (an E'…' string is left to
#: the slow path: its backslashes matter)
_PLAIN_RUN: Final = re.compile(
    rb"""(?:[^'"$/\-]++|(?<![Ee])'(?:[^']++|'')*+'|"(?:[^"]++|"")*+"|-(?!-)|/(?!\*))*+"""
)
_HEADER_LINE: Final = HEADER_MARKER + b"\n"
_CONNECT: Final = re.compile(rb"^\\connect\s+(?:-reuse-previous=\S+\s+)?(\"(?:[^\"]|\"\")*\"|\S+)")
_CREATE_DATABASE: Final = re.compile(rb"^CREATE DATABASE\s+(\"(?:[^\"]|\"\")*\"|\S+)", re.IGNORECASE)


def _identifier(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    if text.startswith('"') and text.endswith('"') and len(text) > 1:
        return text[1:-1].replace('""', '"')
    return text


@dataclass
class DumpPart:
    """One ``pg_dump`` output in the stream: the lines of its header and end marker (1-based)."""

    header_line: int
    end_line: int | None = None


@dataclass
class DumpScanner:
    """Feed it the text piece by piece; read the findings after :meth:`finish`."""

    lines: int = 0  # complete lines seen
    in_copy: bool = False
    last_copy: str | None = None
    roles: set[str] = field(default_factory=set)
    parts: list[DumpPart] = field(default_factory=list)
    create_database: str | None = None
    connect_database: str | None = None
    connect_line: int | None = None
    restricted: bool = False
    #: why the stream is not a sequence of complete dumps (None: it is, as far as it went)
    problem: str | None = None
    #: the problem is a single dump that stops without its end marker (a plain truncation)
    cut_short: bool = False
    _carry: bytes = b""
    _carry_cut: bool = False
    #: inside a literal, quoted identifier, dollar-quoted body or block comment: what ends it
    _closer: bytes | None = None

    def feed(self, piece: bytes) -> None:
        if not piece:
            return
        last_nl = piece.rfind(b"\n")
        if last_nl < 0:
            self._hold(piece)
            return
        if self._carry_cut:  # an over-long line: its head stands for it
            self._scan(self._carry + b"\n")
            # the rest of the line, never read, closed what the head opened (pg_dump writes a row per line)
            self._closer = None
            buf = piece[piece.find(b"\n") + 1 : last_nl + 1]
        else:
            buf = self._carry + piece[: last_nl + 1]
        self._carry, self._carry_cut = b"", False
        self._scan(buf)
        self._hold(piece[last_nl + 1 :])

    def _hold(self, rest: bytes) -> None:
        if self._carry_cut:
            return
        room = LINE_HEAD_BYTES - len(self._carry)
        if len(rest) > room:
            self._carry += rest[:room]
            self._carry_cut = True
        else:
            self._carry += rest

    def finish(self) -> None:
        """The last line, even without its newline; then whether every part is complete."""
        if self._carry:
            self._scan(self._carry + b"\n")
            self.lines -= 1  # that line had no newline
            self._carry, self._carry_cut = b"", False
        if self.parts and self.parts[-1].end_line is None:
            self._unfinished("the end of the stream", self.last_copy if self.in_copy else None)

    # -- scanning complete lines

    def _scan(self, buf: bytes) -> None:
        pos, end = 0, len(buf)
        while pos < end:
            if self.in_copy:
                pos = self._skip_copy(buf, pos, end)
            elif self._closer is not None:
                pos = self._skip_literal(buf, pos, end)
            else:
                pos = self._statements(buf, pos, end)

    def _skip_literal(self, buf: bytes, pos: int, end: int) -> int:
        """From ``pos`` inside a literal: past its closing quote (or to ``end``); a dump header inside ends it."""
        closer = self._closer
        assert closer is not None
        if closer in _CLOSER:
            match = _CLOSER[closer].match(buf, pos, end)
            stop = match.end() if match else -1
        else:
            found = buf.find(closer, pos, end)
            stop = found + len(closer) if found >= 0 else -1
        header = _header_line_within(buf, pos, stop if stop >= 0 else end)
        if header >= 0:  # the part was cut inside this literal: the header's line is a statement line again
            self.lines += buf.count(b"\n", pos, header)
            self._closer = None
            return header
        if stop < 0:
            self.lines += buf.count(b"\n", pos, end)
            return end
        self.lines += buf.count(b"\n", pos, stop)
        self._closer = None
        return stop

    def _skip_copy(self, buf: bytes, pos: int, end: int) -> int:
        """From ``pos`` (a line start inside COPY data): past the ``\\.`` line, or to ``end``."""
        stop = _line_starting(buf, b"\\.\n", pos, end)
        header = _header_line_within(buf, pos, end)
        if header >= 0 and (stop < 0 or header < stop):
            # a new dump begins while this COPY never ended: the part before it was cut in its data
            self.lines += buf.count(b"\n", pos, header)
            self._unfinished(f"the next dump header at line {self.lines + 1}", self.last_copy)
            self.in_copy = False
            return header
        if stop < 0:
            self.lines += buf.count(b"\n", pos, end)
            return end
        self.lines += buf.count(b"\n", pos, stop) + 1
        self.in_copy = False
        return stop + 3

    def _statements(self, buf: bytes, pos: int, end: int) -> int:
        """Statement text from ``pos``: past a ``COPY`` line, to where a literal runs past ``end``, or to ``end``.

        Interesting lines, literal openers and the next ``COPY`` line are each searched once and kept until
        the scan passes them, so the cost stays linear in the text however many literals it holds.
        """
        copy_at = _line_starting(buf, b"COPY ", pos, end)
        cursor = counted = pos
        line = _INTERESTING.search(buf, pos, end)
        opener = self._opener(buf, pos, end)
        while True:
            if copy_at >= 0 and copy_at < cursor:
                copy_at = _line_starting_after(buf, b"COPY ", cursor, end)
            if line is not None and line.start() < cursor:
                line = _INTERESTING.search(buf, cursor, end)
            if opener is not None and opener.start() < cursor:
                opener = self._opener(buf, cursor, end)
            stop = copy_at if copy_at >= 0 else end
            at_line = line.start() if line is not None and line.start() < stop else end
            # plain text and closed '…' / "…" up to the next interesting line, in one step (--inserts data)
            plain = _PLAIN_RUN.match(buf, cursor, min(at_line, stop))
            if plain is not None and plain.end() > cursor:
                cursor = plain.end()
                continue
            at_opener = opener.start() if opener is not None and opener.start() < stop else end
            if at_line < end and at_line <= at_opener:
                self.lines += buf.count(b"\n", counted, at_line)
                counted = at_line
                line_end = buf.find(b"\n", at_line, end)
                text = buf[at_line : line_end if line_end >= 0 else end].rstrip(b"\r")
                self._statement(text, self.lines + 1)
                # markers and meta-commands are whole lines; a statement's own quotes are still lexed
                cursor = line_end if text.startswith((b"--", b"\\")) and line_end >= 0 else at_line + 1
                continue
            if opener is not None and at_opener < end:
                self.lines += buf.count(b"\n", counted, at_opener)
                counted = opener.end()
                self._closer = _closer_of(opener)
                cursor = counted = self._skip_literal(buf, opener.end(), end)
                if self._closer is not None:
                    return cursor  # the literal runs on into the next piece
                continue  # closed, or cut by a dump header whose line is next
            break
        self.lines += buf.count(b"\n", counted, stop)
        if copy_at < 0:
            return end
        line_end = buf.find(b"\n", copy_at, end)
        statement = buf[copy_at:line_end].rstrip(b"\r")
        target = statement[len(b"COPY ") :].split(b" FROM stdin", 1)[0].split(b" (", 1)[0]
        self.last_copy = target.decode("utf-8", errors="replace")
        self.in_copy = statement.endswith(b"FROM stdin;")
        self.lines += 1
        return line_end + 1

    @staticmethod
    def _opener(buf: bytes, pos: int, end: int) -> re.Match[bytes] | None:
        """The next literal opener from ``pos``, ``--`` comments stepped over."""
        opener = _OPENER.search(buf, pos, end)
        while opener is not None and opener.lastgroup == "line":
            line_end = buf.find(b"\n", opener.end(), end)
            opener = _OPENER.search(buf, line_end, end) if line_end >= 0 else None
        return opener

    def _statement(self, line: bytes, number: int) -> None:
        if line.startswith(b"--"):
            if line == HEADER_MARKER:
                self._header(number)
            elif line == END_MARKER:
                self._end(number)
            return
        if line.startswith(b"\\restrict "):
            self.restricted = True
        elif line.startswith(b"\\connect "):
            match = _CONNECT.match(line)
            if match and self.connect_database is None:
                self.connect_database = _identifier(match.group(1))
                self.connect_line = number
        elif line[:16].upper() == b"CREATE DATABASE ":
            match = _CREATE_DATABASE.match(line)
            if match and self.create_database is None:
                self.create_database = _identifier(match.group(1).rstrip(b";"))
        else:
            self.roles |= roles_in_statement(line.decode("utf-8", errors="replace"))

    def _header(self, number: int) -> None:
        if self.parts and self.parts[-1].end_line is None:
            self._unfinished(f"the next dump header at line {number}", None)
        self.parts.append(DumpPart(number))
        self.last_copy = None

    def _end(self, number: int) -> None:
        if not self.parts or self.parts[-1].end_line is not None:
            self._note(f"an end marker at line {number} without a dump header before it")
            return
        self.parts[-1].end_line = number

    def _unfinished(self, before: str, cut_copy: str | None) -> None:
        index = len(self.parts)
        part = self.parts[-1]
        inside = f" (cut inside the COPY data of {cut_copy})" if cut_copy else ""
        if before == "the end of the stream" and index == 1:
            self.cut_short = self.problem is None
            self._note(f"last complete line {self.lines}{inside}")
            return
        self._note(
            f"part {index} of the stream (header at line {part.header_line}) has no "
            f"'-- PostgreSQL database dump complete' before {before}: its last complete line is "
            f"{self.lines}{inside}"
        )

    def _note(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem


def _closer_of(opener: re.Match[bytes]) -> bytes:
    kind = opener.lastgroup
    if kind == "escape":
        return b"E'"
    if kind == "block":
        return b"*/"
    return opener.group()  # a quote, or a dollar tag


def _line_starting_after(buf: bytes, prefix: bytes, pos: int, end: int) -> int:
    """Like :func:`_line_starting` from a ``pos`` that may be mid-line."""
    if pos == 0:
        return _line_starting(buf, prefix, pos, end)
    found = buf.find(b"\n" + prefix, pos - 1, end)
    return found + 1 if found >= 0 else -1


def _header_line_within(buf: bytes, pos: int, stop: int) -> int:
    """Offset of a dump header line starting in ``buf[pos:stop]`` inside data, else -1.

    pg_dump follows its ``-- PostgreSQL database dump`` line with a ``--`` line; a data line that reads like
    the header but is followed by anything else is data. Whether a header on the last line of ``buf`` is
    followed by ``--`` cannot be seen yet: it counts as a header (a false alarm at worst, never a miss).
    """
    at = pos if (pos == 0 or buf[pos - 1 : pos] == b"\n") and buf.startswith(_HEADER_LINE, pos) else -1
    while True:
        if at < 0:
            found = buf.find(b"\n" + _HEADER_LINE, pos, stop + len(_HEADER_LINE))
            at = found + 1 if 0 <= found < stop else -1
        if at < 0:
            return -1
        after = at + len(_HEADER_LINE)
        if after >= len(buf) or buf.startswith(b"--\n", after) or buf.startswith(b"--\r\n", after):
            return at
        pos, at = after - 1, -1


def _line_starting(buf: bytes, prefix: bytes, pos: int, end: int) -> int:
    """Offset of the first line in ``buf[pos:end]`` (``pos`` is a line start) that starts with ``prefix``."""
    if buf.startswith(prefix, pos):
        return pos
    found = buf.find(b"\n" + prefix, pos, end)
    return found + 1 if found >= 0 else -1
