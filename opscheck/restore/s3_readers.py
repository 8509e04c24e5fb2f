"""Streams over S3 objects that turn a download's faults into opscheck's errors: one GET's body, read as
long as bytes keep coming, and a large object read as concurrent ranged GETs handed out in order."""

from __future__ import annotations

import collections
import io
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import botocore.exceptions

from opscheck.clients.aws import UNREACHABLE, connection_reason
from opscheck.errors import TargetUnreachable
from opscheck.secrets import redactor

__all__ = ["RangedS3Reader", "S3BodyReader"]


class S3BodyReader(io.RawIOBase):
    """A raw stream over an S3 ``get_object`` Body; read errors become TargetUnreachable/CheckFailed.

    The download is bounded by progress, not by total time: a 100 GB backup legitimately takes longer than
    any ``timeout_s``, so it goes on as long as bytes keep coming and ends with TargetUnreachable when none
    came for ``timeout_s`` (botocore's read timeout, which applies to each socket read). The request
    itself, up to the answer's headers, is bounded as a whole like every other call (``S3Store._call``).
    """

    def __init__(self, body: Any, what: str, endpoint: str, timeout_s: float) -> None:
        super().__init__()
        self._body = body
        self._what = what
        self._endpoint = endpoint
        self._timeout_s = timeout_s
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data: bytes = self._body.read(len(view))
        except botocore.exceptions.IncompleteReadError as exc:
            raise TargetUnreachable(
                f"download of {self._what} from {self._endpoint}",
                f"connection ended early, after {self._read} bytes ({exc.kwargs.get('actual_bytes')} of "
                f"{exc.kwargs.get('expected_bytes')} in the last read)",
            ) from None
        except (*UNREACHABLE, OSError) as exc:
            if isinstance(exc, botocore.exceptions.ReadTimeoutError):
                reason = f"no byte for timeout_s = {self._timeout_s:g} s"
            else:
                reason = connection_reason(exc, self._timeout_s)
            raise TargetUnreachable(
                f"download of {self._what} from {self._endpoint}",
                f"{redactor().scrub(reason)} after {self._read} bytes",
            ) from None
        view[: len(data)] = data
        self._read += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class RangedS3Reader(io.RawIOBase):
    """A large object read as ranged GETs of ``part_bytes``, ``workers`` of them under way at once, handed
    out in order: one download, streamed, at the speed of several connections. Parts are read into
    ``workers + 1`` buffers allocated once and reused, so memory stays flat whatever the object's size.
    ``fetch(first, last, into)`` fills ``into`` with the bytes ``first..last`` (inclusive)."""

    def __init__(
        self, fetch: Callable[[int, int, memoryview], None], size: int, part_bytes: int, workers: int
    ) -> None:
        super().__init__()
        self._fetch = fetch
        self._size = size
        self._part = part_bytes
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="opscheck-s3-part")
        self._pending: collections.deque[tuple[Future[None], memoryview, int]] = collections.deque()
        self._free = [memoryview(bytearray(min(part_bytes, size))) for _ in range(workers + 1)]
        self._next = 0
        self._held: memoryview | None = None  # the buffer of the part being handed out
        self._current = memoryview(b"")
        for _ in range(workers):
            self._submit()

    def _submit(self) -> None:
        if self._next < self._size:
            last = min(self._next + self._part, self._size) - 1
            buffer, length = self._free.pop(), last - self._next + 1
            future = self._pool.submit(self._fetch, self._next, last, buffer[:length])
            self._pending.append((future, buffer, length))
            self._next = last + 1

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not self._current:
            if self._held is not None:
                self._free.append(self._held)
                self._held = None
            if not self._pending:
                return 0
            future, part, length = self._pending.popleft()
            future.result()
            self._held, self._current = part, part[:length]
            self._submit()
        count = min(len(view), len(self._current))
        view[:count] = self._current[:count]
        self._current = self._current[count:]
        return count

    def close(self) -> None:
        if not self.closed:
            for future, _buffer, _length in self._pending:
                future.cancel()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pending.clear()
        super().close()
