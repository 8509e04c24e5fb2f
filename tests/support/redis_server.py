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
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.support.servers import LOOPBACK, serving_process

__all__ = ["RedisServer", "redis_server", "running_redis"]

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RedisServer:
    """A running test Redis: where it listens and the password it requires."""

    port: int
    password: str

    def url(self, password: str | None = None, db: int = 0) -> str:
        """``redis://`` URL with this server's password, or ``password`` instead (e.g. a wrong one)."""
        chosen = self.password if password is None else password
        return f"redis://:{chosen}@{LOOPBACK}:{self.port}/{db}"


def _answers_ping(port: int, password: str) -> bool:
    client = redis.Redis(host=LOOPBACK, port=port, password=password, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


@contextmanager
def running_redis(password: str | None = None) -> Iterator[RedisServer]:
    """Start ``redis-server`` on 127.0.0.1 (no persistence), yield it once it answers, always stop it."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise FileNotFoundError("redis-server is not on PATH (apt-get install -y redis-server)")
    secret = password or secrets.token_hex(12)
    with tempfile.TemporaryDirectory(prefix="opscheck-redis-") as workdir:
        command = [
            executable,
            "--bind", LOOPBACK,
            "--save", "",
            "--appendonly", "no",
            "--requirepass", secret,
            "--dir", workdir,
            "--daemonize", "no",
        ]  # fmt: skip
        with serving_process(
            lambda port: [*command, "--port", str(port)],
            lambda port: _answers_ping(port, secret),
            name="redis-server",
            log=Path(workdir) / "redis.log",
            start_timeout_s=_START_TIMEOUT_S,
            stop_timeout_s=_STOP_TIMEOUT_S,
        ) as port:
            yield RedisServer(port, secret)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A password-protected Redis on 127.0.0.1 for the session; skips if redis-server is missing."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH: install it with `apt-get install -y redis-server`")
    with running_redis() as server:
        yield server
