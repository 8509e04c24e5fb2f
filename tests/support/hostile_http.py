"""HTTP servers that misbehave on purpose, on 127.0.0.1, stopped (and every connection closed) on exit.

``DribblingServer`` answers every request one byte at a time, ``interval_s`` apart: its status line and
headers (``stage="headers"``) or, after prompt headers, its body (``stage="body"``); no single read ever
waits long, so only a deadline on the request as a whole ends it. ``HugeBodyServer`` answers every
request with 200 and a body of ``size`` bytes produced by a generator as it is sent (never held in
memory), with a ``Content-Length``, as a large page would be served. ``StallingServer`` sends the start
of an answer (possibly nothing) and then goes silent, the connection held open::

    with DribblingServer(stage="body") as server:
        OpsClient(server.url, timeout_s=2).get("/")   # fails after 2 s, not after an hour
"""

from __future__ import annotations

import contextlib
import gzip
import random
import socket
import threading
import zlib
from collections.abc import Iterator
from types import TracebackType
from typing import Self

__all__ = [
    "STALLS",
    "DribblingProxy",
    "DribblingServer",
    "HugeBodyServer",
    "StallingServer",
    "gzip_bomb",
    "html_chunks",
]

LOOPBACK = "127.0.0.1"


class _RawServer:
    """A listening socket with one thread per connection; ``serve(conn)`` does the talking."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._stop = threading.Event()
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.requests = 0
        #: the path of every request received, in order
        self.paths: list[str] = []

    @property
    def port(self) -> int:
        port: int = self._listener.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def __enter__(self) -> Self:
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        accept = threading.Thread(target=self._accept, daemon=True, name=f"{type(self).__name__}-accept")
        accept.start()
        self._threads.append(accept)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._connections.append(conn)
                self.requests += 1
            thread = threading.Thread(target=self._talk, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _talk(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(10)
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(65536)
                if not data:
                    return
                request += data
            path = request.split(b" ", 2)[1].decode("ascii", errors="replace")
            with self._lock:
                self.paths.append(path)
            self.serve(conn, path)
        with contextlib.suppress(OSError):
            conn.close()

    def serve(self, conn: socket.socket, path: str) -> None:
        raise NotImplementedError

    def stopped(self, wait_s: float) -> bool:
        return self._stop.wait(wait_s)


class DribblingServer(_RawServer):
    """200 with a ``body_size``-byte HTML body, ``stage`` ("headers" or "body") sent a byte per ``interval_s``;
    the paths in ``prompt`` get their own body at once instead (a home page that links the slow ones)."""

    def __init__(
        self,
        stage: str = "body",
        interval_s: float = 0.2,
        body_size: int = 10_000,
        prompt: dict[str, bytes] | None = None,
    ) -> None:
        super().__init__()
        if stage not in ("headers", "body"):
            raise ValueError(stage)
        self.stage = stage
        self.interval_s = interval_s
        self.body_size = body_size
        self.prompt = prompt or {}

    def serve(self, conn: socket.socket, path: str) -> None:
        if path in self.prompt:
            page = self.prompt[path]
            conn.sendall(
                f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(page)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + page
            )
            return
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {self.body_size}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        body = b"x" * self.body_size
        if self.stage == "body":
            conn.sendall(head)
            slow = body
        else:
            slow = head + body
        for i in range(len(slow)):
            if self.stopped(self.interval_s):
                return
            conn.sendall(slow[i : i + 1])


def html_chunks(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """``size`` bytes of an ordinary-looking HTML page, made a chunk at a time."""
    block = (b"<p>" + b"all is well " * 5 + b"</p>\n") * (chunk // 68 + 1)
    block = block[:chunk]
    sent = 0
    while sent < size:
        part = block[: min(chunk, size - sent)]
        sent += len(part)
        yield part


def gzip_bomb(decoded_size: int, *, wbits: int = zlib.MAX_WBITS | 16) -> bytes:
    """A real gzip stream (``wbits``: 31 gzip, 15 zlib, -15 raw deflate) of ``decoded_size`` zero bytes:
    about a thousandth of that on the wire. Compressed a megabyte at a time, never held decoded."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(decoded_size >> 20)]
    parts.append(compressor.compress(bytes(decoded_size % (1 << 20))))
    parts.append(compressor.flush())
    return b"".join(parts)


class StallingServer(_RawServer):
    """Reads each request, sends ``answer`` (any prefix of a response, or nothing) and then goes silent with
    the connection open until the server stops: a receiver that hangs at that point of its answer."""

    def __init__(self, answer: bytes) -> None:
        super().__init__()
        self.answer = answer

    def serve(self, conn: socket.socket, path: str) -> None:
        conn.sendall(self.answer)
        self.stopped(60)


class HugeBodyServer(_RawServer):
    """200 with a ``size``-byte HTML page from :func:`html_chunks` (never stored)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.sent: list[int] = []

    def serve(self, conn: socket.socket, path: str) -> None:
        conn.sendall(
            f"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {self.size}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        sent = 0
        try:
            for part in html_chunks(self.size):
                if self._stop.is_set():
                    return
                conn.sendall(part)
                sent += len(part)
        finally:
            self.sent.append(sent)


class DribblingProxy:
    """A TCP forwarder from 127.0.0.1:``port`` to 127.0.0.1:``upstream_port`` whose upstream answers reach
    the client a byte every ``interval_s`` once ``dribbling`` is set (at once, unless ``start=False``: then
    a client can first connect and log in at full speed, and the test sets ``dribbling`` when it wants the
    next answer to crawl). What the client sends is forwarded at once. Every connection is closed on exit."""

    def __init__(self, upstream_port: int, *, interval_s: float = 0.1, start: bool = True) -> None:
        self.upstream_port = upstream_port
        self.interval_s = interval_s
        self.dribbling = threading.Event()
        if start:
            self.dribbling.set()
        self._server = _Forwarder(self)

    @property
    def port(self) -> int:
        return self._server.port

    def __enter__(self) -> Self:
        self._server.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.__exit__(exc_type, exc, tb)


class _Forwarder(_RawServer):
    def __init__(self, owner: DribblingProxy) -> None:
        super().__init__()
        self.owner = owner

    def _talk(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            upstream = socket.create_connection((LOOPBACK, self.owner.upstream_port), timeout=10)
            with self._lock:
                self._connections.append(upstream)
            upstream.settimeout(None)
            conn.settimeout(None)
            up = threading.Thread(target=self._copy, args=(conn, upstream), daemon=True)
            up.start()
            self._threads.append(up)
            while not self._stop.is_set():
                data = upstream.recv(65536)
                if not data:
                    break
                if not self.owner.dribbling.is_set():
                    conn.sendall(data)
                    continue
                for i in range(len(data)):
                    if self.stopped(self.owner.interval_s):
                        return
                    conn.sendall(data[i : i + 1])
        with contextlib.suppress(OSError):
            conn.close()

    @staticmethod
    def _copy(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)


#: what the receiver sends before it goes silent (the connection stays open), per point of the answer
STALLS = {
    "before the status line": b"",
    "in the headers": b"HTTP/1.1 200 OK\r\nContent-Ty",
    "in the body": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n<p>all is",
    "in a chunked body": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n<p>all is\r\n"
    ),
    "in a gzip body": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nContent-Length: 2000\r\n\r\n"
        + gzip.compress(random.Random(0).randbytes(4000))[:1000]  # half of it
    ),
    "instead of closing": (  # a body that ends when the connection closes, which never comes
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<p>all is well</p>"
    ),
    "in the TLS handshake": b"",  # an https URL: the receiver never answers the ClientHello
}
