"""Throwaway databases in a test's PostgreSQL server (a local cluster or a container), dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from opscheck.restore.servers.base import ThrowawayPostgres

__all__ = ["fresh_database"]


@contextmanager
def fresh_database(server: ThrowawayPostgres, prefix: str = "test") -> Iterator[str]:
    """The name of a new, uniquely named database in ``server``; dropped when the block ends, also on failure."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    server.create_database(name)
    try:
        yield name
    finally:
        server.drop_database(name)
