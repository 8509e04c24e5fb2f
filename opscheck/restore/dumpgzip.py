"""A gzip'ed plain dump, decompressed chunk by chunk and checked on the way (:class:`GzipDumpVerifier`):
every member's CRC and length, nothing but zero padding after the last, and the text inside checked by
:class:`~opscheck.restore.dumptext.DumpTextVerifier`. :func:`verify_plain_gzip` is the same as a pass of
its own.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import BinaryIO, Final

from opscheck.errors import CheckFailed
from opscheck.restore.dumps import CHUNK_BYTES, Buffer, DumpFacts, hex_head
from opscheck.restore.dumptext import DumpTextVerifier, read_chunks

__all__ = ["GZIP_MAGIC", "PIECE_BYTES", "GzipDumpVerifier", "verify_plain_gzip"]

GZIP_MAGIC: Final = b"\x1f\x8b"
#: decompressed bytes handed out per piece (bounds memory for highly compressible data)
PIECE_BYTES: Final = 256 * 1024
#: compressed bytes handed to zlib at a time
_INPUT_SLICE: Final = 64 * 1024
_ZEROS: Final = re.compile(rb"\0*")


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
                raise CheckFailed(self._what, "gzip data", f"not gzip (starts with {hex_head(data)})")
            offset = self.compressed - len(data)
            raise CheckFailed(
                self._what,
                "nothing but gzip members (or zero padding) to the end",
                f"{len(data)}+ bytes of non-gzip data after the end of the gzip stream at byte {offset} "
                f"(starts with {hex_head(data)})",
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
                raise CheckFailed(
                    self._what, "gzip data", f"not gzip ({len(head)} byte(s): {hex_head(head)})"
                )
            raise CheckFailed(
                self._what,
                "nothing but gzip members (or zero padding) to the end",
                f"{len(head)} stray byte(s) after the end of the gzip stream ({hex_head(head)})",
            )
        self.text.finish()
        return self.text.facts("plain-gzip", self.compressed, gzip_members=self.members)


def verify_plain_gzip(stream: BinaryIO, name: str, chunk_size: int = CHUNK_BYTES) -> DumpFacts:
    """A full pass over a ``.sql.gz`` dump, discarding the SQL; CheckFailed if it is not complete."""
    verifier = GzipDumpVerifier(name)
    for chunk in read_chunks(stream, name, chunk_size):
        for _piece in verifier.pieces(chunk):
            pass
    return verifier.finish()
