"""A real S3 endpoint on 127.0.0.1 for tests: ``moto_server`` in a subprocess (no fixtures here).

``running_moto()`` starts ``moto_server -H 127.0.0.1 -p PORT`` on a free port, waits until it answers
HTTP and always stops it (terminate, then kill) when the block ends. ``MotoServer.auth_disabled()``
lifts IAM enforcement of a server started with ``INITIAL_NO_AUTH_ACTION_COUNT=0`` for the setup of
users, keys and buckets (moto's ``/moto-api/reset-auth``). The fixtures are in ``tests.support.s3_server``.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.support.servers import LOOPBACK, serving_process

__all__ = [
    "TEST_ACCESS_KEY",
    "TEST_SECRET_KEY",
    "MotoServer",
    "client_for",
    "cutting_proxy",
    "moto_executable",
    "running_moto",
]

#: credentials the permissive server accepts; the secret is distinctive so leak checks can find it
TEST_ACCESS_KEY = "AKIAOPSCHECKTEST0001"
TEST_SECRET_KEY = "opscheck-test-secret-Zq8vN3kR7w"

_START_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = 5.0
_HTTP_TIMEOUT_S = 5.0


def moto_executable() -> str | None:
    beside = Path(sys.executable).parent / "moto_server"
    return str(beside) if beside.exists() else shutil.which("moto_server")


@dataclass(frozen=True)
class MotoServer:
    """A running moto_server: its endpoint URL and a way to switch its IAM enforcement."""

    port: int

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def _post(self, path: str, body: bytes) -> bytes:
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=_HTTP_TIMEOUT_S)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "text/plain"})
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise RuntimeError(f"moto {path} answered {response.status}: {data[:200]!r}")
            return data
        finally:
            conn.close()

    def set_auth_free_actions(self, count: float) -> None:
        """Let the next ``count`` requests through unchecked (0: enforce IAM from now on)."""
        self._post("/moto-api/reset-auth", str(count).encode())

    @contextmanager
    def auth_disabled(self) -> Iterator[None]:
        """IAM checks off inside the block (for setting up users and buckets), back on afterwards."""
        self.set_auth_free_actions(float("inf"))
        try:
            yield
        finally:
            self.set_auth_free_actions(0)


def answers(port: int) -> bool:
    """Whether a moto_server answers HTTP on ``port``."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=1)
    try:
        conn.request("GET", "/moto-api/")
        conn.getresponse().read()
    except OSError:
        return False
    finally:
        conn.close()
    return True


@contextmanager
def running_moto(
    extra_env: Mapping[str, str] | None = None, *, command: Sequence[str] | None = None
) -> Iterator[MotoServer]:
    """Start moto_server on 127.0.0.1, yield it once it answers HTTP, always stop it. ``command`` runs
    another launcher of moto's server (it is given ``-H HOST -p PORT``), ``moto_server`` by default."""
    if command is None:
        executable = moto_executable()
        if executable is None:
            raise FileNotFoundError("moto_server is not installed (pip install 'moto[server]')")
        command = [executable]
    launcher = list(command)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(extra_env or {})
    with (
        tempfile.TemporaryDirectory(prefix="opscheck-moto-") as workdir,
        serving_process(
            lambda port: [*launcher, "-H", LOOPBACK, "-p", str(port)],
            answers,
            name="moto_server",
            log=Path(workdir) / "moto.log",
            start_timeout_s=_START_TIMEOUT_S,
            stop_timeout_s=_STOP_TIMEOUT_S,
            env=env,
            cwd=Path(workdir),
        ) as port,
    ):
        yield MotoServer(port)


def client_for(
    endpoint: str, access_key: str = TEST_ACCESS_KEY, secret_key: str = TEST_SECRET_KEY, service: str = "s3"
) -> Any:
    """A boto3 client for test setup, with explicit credentials and short timeouts."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 1}),
    )


@contextmanager
def cutting_proxy(upstream_port: int, limit: int) -> Iterator[int]:
    """A TCP proxy on 127.0.0.1 to ``upstream_port`` that drops each connection after relaying ``limit``
    response bytes (a network failure in the middle of a download). Yields the proxy's port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOOPBACK, 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def pump(source: socket.socket, target: socket.socket, budget: int | None) -> None:
        sent = 0
        try:
            while not stop.is_set():
                data = source.recv(65536)
                if not data:
                    break
                if budget is not None:
                    data = data[: budget - sent]
                target.sendall(data)
                sent += len(data)
                if budget is not None and sent >= budget:
                    break
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection((LOOPBACK, upstream_port), timeout=_HTTP_TIMEOUT_S)
            client.settimeout(_HTTP_TIMEOUT_S)
            for args in ((client, upstream, None), (upstream, client, limit)):
                threading.Thread(target=pump, args=args, daemon=True).start()
            connections.extend((client, upstream))

    connections: list[socket.socket] = []
    thread = threading.Thread(target=serve, name="cutting-proxy", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for sock in connections:
            sock.close()
