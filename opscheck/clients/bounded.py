"""Bounds on every HTTP request opscheck sends: a deadline for the request as a whole, a cap on its body.

httpx's timeouts apply to each socket operation: a server that dribbles one byte a second never lets a
single read time out, so a request can last forever. :class:`BoundedTransport` gives every request one
deadline (``timeout_s`` after it starts) covering connect, TLS, sending, the response headers, every
retry and the full body, however the body is read (``client.get``, ``client.stream``). Each socket
operation waits at most until that deadline; past it the request fails with a timeout that says so.

:func:`concurrently` runs requests in worker threads that an interrupt (Ctrl-C, SIGTERM) ends within a
fraction of a second: queued ones never start, reads under way give up at the next slice.

It also caps the body: more than ``max_body_bytes`` raises :class:`BodyTooLarge` (an *error*, "could
not be verified": a check never passes on a body it did not read in full). The cap counts the body as the
check sees it: a gzip or deflate body is decoded here, a step of at most 64 KB at a time, and its *decoded*
size is capped too (a gzip bomb of a few hundred KB on the wire would otherwise expand to gigabytes); such a
response reaches httpx without its ``Content-Encoding`` and ``Content-Length`` (they described the wire).
A compressed body that cannot be decoded (corrupt, or ended before its compressed stream) raises
:class:`BodyUndecodable`, an error like the cap's, not a short page. Code that
only needs a prefix streams it and stops early (see :meth:`opscheck.clients.http.OpsClient.probe`).
"""

from __future__ import annotations

import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from dataclasses import dataclass
from typing import Any, TypeVar

import httpcore
import httpx

from opscheck.errors import OpscheckError
from opscheck.secrets import mask_url

__all__ = [
    "BodyTooLarge",
    "BodyUndecodable",
    "BoundedTransport",
    "DeadlinePassed",
    "bounded_client",
    "bounded_http_transport",
    "concurrently",
    "describe_size",
    "finish_within",
]

T = TypeVar("T")
R = TypeVar("R")

#: how long a read in a worker thread waits before looking whether the run was interrupted
_SLICE_S = 0.2
#: the most a compressed body is decoded in one step (what a single read may expand to in memory)
_DECODE_STEP = 64 * 1024
#: the content codings decoded (and capped) here; they are the ones ``Accept-Encoding`` offers
_DECODED = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class BodyTooLarge(OpscheckError):
    """A response body is larger than the configured cap (``max_body_mb``): it was not read in full."""

    def __init__(self, checked: str, cap_bytes: int) -> None:
        self.checked = checked
        self.cap_bytes = cap_bytes
        super().__init__(
            f"{checked}: could not be verified (the response body is larger than max_body_mb = "
            f"{describe_size(cap_bytes)}; raise max_body_mb if it is legitimately that big)"
        )


class BodyUndecodable(OpscheckError, httpx.DecodingError):
    """A gzip or deflate body that cannot be decoded (corrupt, or ended before its compressed stream did):
    it was not read in full. Also an ``httpx.DecodingError``, for callers that catch httpx's errors."""

    def __init__(self, checked: str, reason: str) -> None:
        self.checked = checked
        self.reason = reason
        super().__init__(f"{checked}: could not be verified ({reason})")


def describe_size(size: int) -> str:
    """``10 MB``, ``512 KB`` or ``100 bytes`` (decimal units, as ``max_body_mb`` counts)."""
    if size >= 1_000_000:
        return f"{size / 1_000_000:g} MB"
    if size >= 1000:
        return f"{size / 1000:g} KB"
    return f"{size} bytes"


@dataclass(frozen=True)
class _Deadline:
    at: float
    total_s: float

    def left(self) -> float:
        return self.at - time.monotonic()

    def message(self) -> str:
        return f"the request as a whole took longer than timeout_s = {self.total_s:g} s"


_DEADLINE: ContextVar[_Deadline | None] = ContextVar("opscheck_request_deadline", default=None)
#: set by :func:`concurrently` for its workers: the caller was interrupted, stop reading
_CANCELLED: ContextVar[threading.Event | None] = ContextVar("opscheck_cancelled", default=None)


def concurrently(work: Callable[[T], R], items: Iterable[T], max_workers: int) -> list[R]:
    """``work(item)`` for every item in up to ``max_workers`` threads (each in a copy of the caller's
    context), results in order. An exception in the caller while it waits (KeyboardInterrupt from Ctrl-C
    or SIGTERM) cancels the queued items and ends the requests under way within :data:`_SLICE_S`."""
    todo = list(items)
    if not todo:
        return []
    cancelled = threading.Event()
    token = _CANCELLED.set(cancelled)
    try:
        pool = ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(todo))))
        futures = [pool.submit(copy_context().run, work, item) for item in todo]
    finally:
        _CANCELLED.reset(token)
    try:
        return [future.result() for future in futures]
    except BaseException:
        cancelled.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class Interrupted(httpcore.ReadError):
    """A worker's read gave up because the run was interrupted."""


@contextmanager
def _within(deadline: _Deadline) -> Iterator[None]:
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _clamp(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """``timeout``, shortened to what is left of the running request's deadline (if any)."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline.left()
    if left <= 0:
        raise error(deadline.message())
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every operation ends by the running request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        cancelled = _CANCELLED.get()
        if cancelled is None:
            return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))
        # in a worker thread: wait in slices, looking in between whether the run was interrupted
        give_up = None if timeout is None else time.monotonic() + timeout
        while True:
            if cancelled.is_set():
                raise Interrupted("the run was interrupted")
            left = None if give_up is None else give_up - time.monotonic()
            if left is not None and left <= 0:
                raise httpcore.ReadTimeout("timed out")
            wait = _clamp(left, httpcore.ReadTimeout)
            try:
                return self._inner.read(max_bytes, _SLICE_S if wait is None else min(wait, _SLICE_S))
            except httpcore.ReadTimeout:
                continue

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend, with :class:`_DeadlineStream` streams."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        wait = _clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_tcp(host, port, wait, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        wait = _clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bounded_http_transport(verify: ssl.SSLContext) -> httpx.HTTPTransport:
    """An ``httpx.HTTPTransport`` whose sockets honour the running request's deadline."""
    transport = httpx.HTTPTransport(verify=verify)
    # httpx does not take a network backend; its pool is rebuilt with the same settings plus ours
    transport._pool = httpcore.ConnectionPool(
        ssl_context=verify, max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0,
        network_backend=_DeadlineBackend(),
    )  # fmt: skip
    return transport


class _Decoder:
    """A gzip or deflate body decoded in steps of at most :data:`_DECODE_STEP` bytes, so that no single read
    expands past that in memory. ``deflate`` is zlib-wrapped (RFC 9110) or, as some servers send it, raw."""

    def __init__(self, coding: str, checked: str) -> None:
        self.coding = coding
        self.checked = checked
        self._raw_fallback = coding == "deflate"
        self._zlib = zlib.decompressobj(_DECODED[coding])
        self._fed = False

    def decode(self, data: bytes) -> Iterator[bytes]:
        self._fed = self._fed or bool(data)
        while data and not self._zlib.eof:
            try:
                piece = self._zlib.decompress(data, _DECODE_STEP)
            except zlib.error as exc:
                if not self._raw_fallback:
                    raise BodyUndecodable(self.checked, f"the {self.coding} body is corrupt: {exc}") from None
                self._raw_fallback = False
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._raw_fallback = False
            data = self._zlib.unconsumed_tail
            if piece:
                yield piece

    def end(self) -> bytes:
        """What is left once the body has ended; an error if it ended inside the compressed stream (an
        empty body, as a HEAD request or a 204 gets, is empty whatever its headers say)."""
        if self._fed and not self._zlib.eof:
            raise BodyUndecodable(self.checked, f"the body ended before the end of its {self.coding} stream")
        return self._zlib.flush()


class _BoundedBody(httpx.SyncByteStream):
    """A response body read under the request's deadline (decoded by ``decoder`` if any) and cut off (with
    an error) past the cap, which applies to the bytes on the wire and to the decoded body alike."""

    def __init__(
        self,
        inner: httpx.SyncByteStream,
        deadline: _Deadline,
        cap_bytes: int,
        checked: str,
        decoder: _Decoder | None = None,
    ) -> None:
        self._inner = inner
        self._deadline = deadline
        self._cap = cap_bytes
        self._checked = checked
        self._decoder = decoder

    def __iter__(self) -> Iterator[bytes]:
        wire = read = 0
        chunks = iter(self._inner)
        while True:
            with _within(self._deadline), _timeouts_named(self._deadline):
                chunk = next(chunks, None)
            if chunk is None:
                pieces: Iterable[bytes] = [self._decoder.end()] if self._decoder else []
            else:
                wire += len(chunk)
                if wire > self._cap and self._decoder is not None:
                    raise BodyTooLarge(self._checked, self._cap)
                pieces = self._decoder.decode(chunk) if self._decoder else [chunk]
            for piece in pieces:
                if read + len(piece) > self._cap:
                    yield piece[: self._cap - read]  # up to the cap, for those who read only a prefix
                    raise BodyTooLarge(self._checked, self._cap)
                read += len(piece)
                yield piece
            if chunk is None:
                return

    def close(self) -> None:
        self._inner.close()


@contextmanager
def _timeouts_named(deadline: _Deadline) -> Iterator[None]:
    """A timeout that happened because the deadline passed says so (not just "timed out")."""
    try:
        yield
    except httpx.TimeoutException as exc:
        if deadline.left() > 0 or deadline.message() in str(exc):
            raise
        raise type(exc)(deadline.message()) from None


class BoundedTransport(httpx.BaseTransport):
    """Wraps a transport: one deadline of ``total_s`` per request (its retries and its body included) and
    at most ``max_body_bytes`` of body."""

    def __init__(self, inner: httpx.BaseTransport, *, total_s: float, max_body_bytes: int) -> None:
        self.inner = inner
        self.total_s = total_s
        self.max_body_bytes = max_body_bytes

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = _Deadline(time.monotonic() + self.total_s, self.total_s)
        if "accept-encoding" in request.headers:  # offer only what is decoded under the cap (not br, zstd)
            offered = [c.strip() for c in request.headers["accept-encoding"].split(",")]
            kept = [c for c in offered if c.split(";")[0].strip().lower() in {*_DECODED, "identity"}]
            request.headers["Accept-Encoding"] = ", ".join(kept) or "identity"
        with _within(deadline), _timeouts_named(deadline):
            response = self.inner.handle_request(request)
        checked = f"{request.method} {mask_url(str(request.url))}"
        assert isinstance(response.stream, httpx.SyncByteStream)
        coding = response.headers.get("content-encoding", "").strip().lower()
        decoder = _Decoder(coding, checked) if coding in _DECODED else None
        if decoder is not None:  # decoded here, under the cap: httpx must not decode it again
            del response.headers["content-encoding"]
            response.headers.pop("content-length", None)
        response.stream = _BoundedBody(response.stream, deadline, self.max_body_bytes, checked, decoder)
        return response

    def close(self) -> None:
        self.inner.close()


def bounded_client(*, timeout_s: float, max_body_bytes: int, verify: ssl.SSLContext) -> httpx.Client:
    """A plain httpx client (no base URL, no retries) whose every request is bounded as a whole."""
    return httpx.Client(
        transport=BoundedTransport(
            bounded_http_transport(verify), total_s=timeout_s, max_body_bytes=max_body_bytes
        ),
        timeout=httpx.Timeout(timeout_s),
    )


class DeadlinePassed(TimeoutError):
    """:func:`finish_within`'s action had not finished when its time was up (never a library's own timeout)."""


def finish_within(action: Callable[[], R], timeout_s: float) -> R:
    """``action()``'s result (or exception), or :class:`DeadlinePassed` when it has not finished after
    ``timeout_s``: for a client library whose timeouts apply to each read (redis-py, botocore). The daemon
    thread running ``action`` is then abandoned; the caller closes what it was using, which ends it (or the
    library's own per-read timeout does, once the server stops sending)."""
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, action()))
        except BaseException as exc:  # handed over to the caller's thread
            outcome.append((False, exc))

    thread = threading.Thread(target=copy_context().run, args=(run,), name="opscheck-bounded", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not outcome:
        raise DeadlinePassed(f"the call as a whole took longer than timeout_s = {timeout_s:g} s")
    finished, value = outcome[0]
    if finished:
        return value  # type: ignore[no-any-return]
    raise value
