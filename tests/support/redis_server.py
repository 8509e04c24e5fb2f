"""A throwaway Redis server on 127.0.0.1 for tests, and the session fixture that provides it.

``running_redis()`` starts ``redis-server`` on a free port with persistence off and a password, waits
until it answers PING and always stops it (terminate, then kill) when the block ends. The
``redis_server`` fixture wraps it for a whole test session and skips, with the reason, when
``redis-server`` is not installed (``apt-get install -y redis-server``). Use it from a test module with
``pytest_plugins = ["tests.support.redis_server"]`` (or list it in a conftest's ``pytest_plugins``).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.support.servers import LOOPBACK, free_port, stop_process

__all__ = ["RedisServer", "redis_server", "running_redis"]

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0
_PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class RedisServer:
    """A running test Redis: where it listens and the password it requires."""

    port: int
    password: str

    def url(self, password: str | None = None, db: int = 0) -> str:
        """``redis://`` URL with this server's password, or ``password`` instead (e.g. a wrong one)."""
        chosen = self.password if password is None else password
        return f"redis://:{chosen}@{LOOPBACK}:{self.port}/{db}"


def _wait_until_ready(proc: subprocess.Popen[bytes], server: RedisServer, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    client = redis.Redis(host=LOOPBACK, port=server.port, password=server.password, socket_timeout=1)
    try:
        while True:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
                raise RuntimeError(f"redis-server exited with {proc.returncode}:\n{tail}")
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer PING within {_START_TIMEOUT_S:g} s")
            time.sleep(0.05)
    finally:
        client.close()


@contextmanager
def running_redis(password: str | None = None) -> Iterator[RedisServer]:
    """Start ``redis-server`` on 127.0.0.1 (no persistence), yield it once it answers, always stop it."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise FileNotFoundError("redis-server is not on PATH (apt-get install -y redis-server)")
    password = password or secrets.token_hex(12)
    with tempfile.TemporaryDirectory(prefix="opscheck-redis-") as workdir:
        log = Path(workdir) / "redis.log"
        for attempt in range(_PORT_ATTEMPTS):
            server = RedisServer(free_port(), password)
            command = [
                executable,
                "--port", str(server.port),
                "--bind", LOOPBACK,
                "--save", "",
                "--appendonly", "no",
                "--requirepass", password,
                "--dir", workdir,
                "--logfile", str(log),
                "--daemonize", "no",
            ]  # fmt: skip
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            try:
                _wait_until_ready(proc, server, log)
            except RuntimeError:
                stop_process(proc, _STOP_TIMEOUT_S)
                if attempt == _PORT_ATTEMPTS - 1:
                    raise
                continue  # most likely another process took the port in the meantime
            try:
                yield server
            finally:
                stop_process(proc, _STOP_TIMEOUT_S)
            return


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A password-protected Redis on 127.0.0.1 for the session; skips if redis-server is missing."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH: install it with `apt-get install -y redis-server`")
    with running_redis() as server:
        yield server
