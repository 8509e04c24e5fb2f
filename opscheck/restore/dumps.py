"""Is a dump complete and readable? Answered *before* anything is restored from it; this module holds what
every check of a dump shares: what a dump says about itself (:class:`DumpFacts`).

PostgreSQL's own tools fail open on a cut dump (``tests/corpus`` shows it on every damaged dump):
``gunzip | psql --single-transaction`` exits 0 and commits a dump truncated inside ``COPY … FROM stdin``,
and ``pg_restore -l`` lists a truncated custom archive happily. So opscheck checks the bytes itself:

* :class:`~opscheck.restore.dumpgzip.GzipDumpVerifier` sits in the restore's pipe: every chunk read from
  the backup goes through its ``feed``, which returns the decompressed SQL to pass on to psql, checks the
  pg_dump header as soon as it goes by, and remembers a bounded tail of the text. Its ``finish`` then
  insists that the gzip stream ended properly (CRC and length verified, nothing but zero padding after it)
  and that the text ends with pg_dump's ``-- PostgreSQL database dump complete`` marker followed by
  nothing but blank lines, comments and ``\\unrestrict`` lines (:mod:`~opscheck.restore.dumptext`).
  Memory stays flat whatever the dump's size.
* :func:`~opscheck.restore.dumpgzip.verify_plain_gzip` / :func:`~opscheck.restore.dumptext.verify_plain`
  run the same checks as a separate pass.
* :func:`~opscheck.restore.dumpcustom.verify_custom` checks a ``pg_dump -Fc`` archive's magic and table of
  contents with ``pg_restore -l``: this does **not** prove the data is complete (the TOC is at the start of
  the file); only the restore itself can.

Versions from the header (``Dumped from database version`` / ``Dumped by pg_dump version``) tell which
server major the drill starts (:func:`~opscheck.restore.passes.start_server`); the server's own psql and
pg_restore restore it, so the client is never older than the dump's major.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "CHUNK_BYTES",
    "RESTRICT_SINCE",
    "Buffer",
    "DumpFacts",
    "hex_head",
    "parse_major",
]

Buffer = bytes | memoryview
#: bytes read from a dump at a time
CHUNK_BYTES: Final = 1024 * 1024
#: first minor release of each major whose psql/pg_restore understands ``\restrict`` (CVE-2025-8714)
RESTRICT_SINCE: Final = {13: 22, 14: 19, 15: 14, 16: 10, 17: 6}
_MAJOR: Final = re.compile(r"^\s*(\d+)(?:\.(\d+))?")


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


def hex_head(data: Buffer, limit: int = 8) -> str:
    """The first ``limit`` bytes of ``data`` in hex, for messages about what a file starts with."""
    return data[:limit].hex(" ") + (" …" if len(data) > limit else "")
