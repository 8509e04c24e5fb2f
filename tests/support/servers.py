"""Local network servers for tests: everything binds to 127.0.0.1 and is stopped on exit.

``LocalHTTPServer`` serves canned :class:`Route` responses (optionally over TLS) and records the
requests it received::

    with LocalHTTPServer({"/health": Route(body={"status": "ok"})}) as server:
        httpx.get(server.url + "/health", timeout=5)
        assert server.requests[0].path == "/health"

``silent_tcp_server()`` accepts TCP connections and never says a word (a hung TLS/HTTP peer);
``free_port()`` and ``closed_port()`` give port numbers for servers to come and for "connection refused".
``serving_process()`` runs a real server program (moto, Redis, a Pushgateway) on a free port until the
block ends.
"""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "LocalHTTPServer",
    "RecordedRequest",
    "Route",
    "closed_port",
    "free_port",
    "serving_process",
    "silent_tcp_server",
    "stop_process",
]

LOOPBACK = "127.0.0.1"

#: seconds a connection may sit idle (TLS handshake, reading the request) before the server drops it
CONNECTION_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (another process could still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def closed_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening: connecting to it is refused."""
    return free_port()


@contextmanager
def silent_tcp_server(backlog: int = 8) -> Iterator[int]:
    """Listen on 127.0.0.1 and yield the port; connections are accepted but never answered.

    The kernel completes the TCP handshake for queued connections, so a client connects fine and then
    waits forever for a TLS ServerHello or an HTTP response. The socket is closed on exit.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(backlog)
        yield listener.getsockname()[1]


@dataclass
class Route:
    """A canned response.

    ``body`` may be bytes (sent as is), str (UTF-8 text) or any JSON-able object (sent as JSON); a
    Content-Type matching the body is added unless ``headers`` sets one. ``delay_s`` sleeps before
    answering (only the request's own thread waits).
    """

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    def render(self) -> tuple[bytes, dict[str, str]]:
        """The body as bytes and the headers to send, Content-Type included."""
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            payload, content_type = self.body, "application/octet-stream"
        elif isinstance(self.body, str):
            payload, content_type = self.body.encode(), "text/plain; charset=utf-8"
        else:
            payload, content_type = json.dumps(self.body).encode(), "application/json"
        if payload and not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = content_type
        return payload, headers


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received. Header names are lower-cased (repeated headers joined by ", ")."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = CONNECTION_TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        request = RecordedRequest(self.command, path, query, headers, body)
        self.server.owner._record(request)

        gate = self.server.owner.gate
        route = gate(request) if gate is not None else None
        if route is None:
            route = self.server.owner.routes.get(path)
        if route is None:
            route = Route(status=404, body=f"no route for {path}\n")
        if route.delay_s > 0:
            time.sleep(route.delay_s)
        payload, response_headers = route.render()

        self.close_connection = True
        self.send_response(route.status)
        for name, value in response_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    # listen() backlog: socketserver's default of 5 drops the SYNs of a burst of concurrent clients (the
    # smoke suite probes every page at once), and the kernel retries them only after a second
    request_queue_size = 128

    def __init__(self, owner: LocalHTTPServer, port: int, ssl_context: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.ssl_context = ssl_context
        super().__init__((LOOPBACK, port), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread, so a client that never completes
        # it cannot stall the accept loop.
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(CONNECTION_TIMEOUT_S)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()  # client gave up or rejected our certificate: nothing to serve
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-response (timeouts in tests) are expected; don't print tracebacks.
        pass


class LocalHTTPServer:
    """A threaded HTTP(S) server on 127.0.0.1 serving the mutable ``routes`` mapping.

    Use as a context manager: ``__enter__`` binds and starts serving in a daemon thread, ``__exit__``
    always shuts the server down and closes its socket. ``routes`` may be changed while it runs; the
    path is matched without the query string and an unknown path gets 404. ``gate`` sees every request
    first and may answer it instead of the routes (e.g. a login wall); None lets it through. With ``ssl_context`` (a
    server-side context holding a certificate) it speaks HTTPS and ``url`` uses ``hostname`` (default
    ``localhost``, the name test certificates are issued for); it always listens on 127.0.0.1 only.
    """

    def __init__(
        self,
        routes: Mapping[str, Route] | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        hostname: str | None = None,
        port: int = 0,
        gate: Callable[[RecordedRequest], Route | None] | None = None,
    ) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.gate = gate
        self.ssl_context = ssl_context
        self.hostname = hostname or ("localhost" if ssl_context is not None else LOOPBACK)
        self._requested_port = port
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("server already started")
        self._server = _Server(self, self._requested_port, self.ssl_context)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"LocalHTTPServer-{self.port}",
            daemon=True,
        )
        try:
            self._thread.start()
        except BaseException:
            self._server.server_close()
            self._server = None
            raise
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket. Safe to call more than once."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        try:
            if thread is not None and thread.is_alive():
                server.shutdown()
                thread.join(timeout=5)
        finally:
            server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server is not running")
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        """Base URL without trailing slash, e.g. ``http://127.0.0.1:40123``."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.hostname}:{self.port}"

    # -- recorded requests --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 5.0) -> None:
    """Terminate a server process started by a test, killing it if it does not exit in ``timeout_s``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout_s)


@contextmanager
def serving_process(
    command: Callable[[int], Sequence[str]],
    answers: Callable[[int], bool],
    *,
    name: str,
    log: Path,
    start_timeout_s: float,
    stop_timeout_s: float = 5.0,
    attempts: int = 3,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[int]:
    """Start the server ``command(port)`` on a free port (its output into ``log``), yield the port once
    ``answers(port)``, always stop it. One that exits or stays silent (most likely another process took the
    port in the meantime) is tried on another port, ``attempts`` times in all; then RuntimeError with the
    tail of its log."""
    for attempt in range(attempts):
        port = free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                list(command(port)),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
            )
        try:
            _wait_until_answering(proc, partial(answers, port), name=name, log=log, timeout_s=start_timeout_s)
        except RuntimeError:
            stop_process(proc, stop_timeout_s)
            if attempt == attempts - 1:
                raise
            continue
        try:
            yield port
        finally:
            stop_process(proc, stop_timeout_s)
        return


def _wait_until_answering(
    proc: subprocess.Popen[bytes], answers: Callable[[], bool], *, name: str, log: Path, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while not answers():
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not answer within {timeout_s:g} s")
        time.sleep(0.1)
