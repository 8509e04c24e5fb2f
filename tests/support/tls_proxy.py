"""A TCP forwarder in front of a local server: terminates TLS (optional) and records what passes.

Put it in front of the reference app to serve it over https with a test certificate (the app itself only
speaks http), and to learn which session cookies and CSRF tokens went over the wire, so a test can scan the
reports for them::

    pki = LocalPKI(tmp_path)
    with RecordingProxy(ssl_context=pki.valid().server_context) as proxy:
        app_url = start_app(NEXTAUTH_URL=proxy.url, ...)    # the proxy's port is known before the app starts
        proxy.upstream_port = app_port
        ...
        proxy.wire_secrets()   # session/CSRF cookie values and csrfToken values seen in responses

It runs an asyncio loop in a daemon thread, listens on 127.0.0.1 only, and each connection is piped to the
upstream port byte for byte (HTTP keep-alive included).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import threading
from types import TracebackType
from typing import Self
from urllib.parse import unquote

__all__ = ["RecordingProxy"]

LOOPBACK = "127.0.0.1"
_SET_COOKIE = re.compile(rb"(?im)^set-cookie:\s*([^=;\s]+)=([^;\r\n]*)")
_CSRF_TOKEN = re.compile(rb'"csrfToken"\s*:\s*"([^"]+)"')
#: session and CSRF cookies, also under a custom name (the reference app's ``custom-cookie`` fault: acme.sid)
_SECRET_COOKIE = re.compile(r"session|csrf|sid", re.IGNORECASE)


class RecordingProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``upstream_port``; with ``ssl_context`` it speaks https."""

    def __init__(self, upstream_port: int = 0, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.upstream_port = upstream_port
        self.ssl_context = ssl_context
        self.port = 0
        self._responses: list[bytes] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://{LOOPBACK}:{self.port}"

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> Self:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            self._server = await asyncio.start_server(
                self._handle,
                LOOPBACK,
                0,
                ssl=self.ssl_context,
                ssl_handshake_timeout=10 if self.ssl_context else None,
            )
            self.port = self._server.sockets[0].getsockname()[1]

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(serve())
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="RecordingProxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- forwarding ------------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(LOOPBACK, self.upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            self._pipe(reader, up_writer, record=False), self._pipe(up_reader, writer, record=True)
        )

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, record: bool) -> None:
        try:
            while data := await source.read(65536):
                if record:
                    await self._answered(data)
                sink.write(data)
                await sink.drain()
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.close()

    async def _answered(self, data: bytes) -> None:
        """A chunk the upstream sent, before it is passed on: recorded."""
        with self._lock:
            self._responses.append(data)

    # -- what went over the wire ---------------------------------------------------------------------
    def response_bytes(self) -> bytes:
        with self._lock:
            return b"".join(self._responses)

    def wire_secrets(self) -> set[str]:
        """Session and CSRF cookie values (raw and URL-decoded, and the parts of a ``token|hash`` value) and
        csrfToken values the upstream has sent so far."""
        data = self.response_bytes()
        found: set[str] = set()
        for name, value in _SET_COOKIE.findall(data):
            text = value.decode("latin-1").strip('"')
            if text and _SECRET_COOKIE.search(name.decode("latin-1")):
                decoded = unquote(text)
                found.update({text, decoded, *decoded.split("|")})
        found.update(token.decode("latin-1") for token in _CSRF_TOKEN.findall(data))
        return {value for value in found if len(value) >= 8}
