"""The restore drill's restore, in one call: :func:`restore_backup` restores a backup into a new database on
a running throwaway PostgreSQL, through the pass its format needs (:mod:`~opscheck.restore.plain_pass` for
``.sql.gz``/``.sql``, :mod:`~opscheck.restore.custom_pass` for ``.dump``), timed.

A :class:`~opscheck.restore.passes.RestoreGuard` refuses every target that is not a throwaway server this
process started.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

from opscheck.errors import CheckFailed
from opscheck.restore.backups import Backup
from opscheck.restore.custom_pass import restore_custom_pass
from opscheck.restore.dumps import DumpFacts
from opscheck.restore.passes import (
    FRESH_SERVER_DATABASES,
    PassRequest,
    Restored,
    RestoreGuard,
    ServerStart,
    creates_fresh_database,
)
from opscheck.restore.plain_pass import restore_plain_pass
from opscheck.restore.servers.base import ThrowawayPostgres

__all__ = ["restore_backup"]


def restore_backup(
    server: ThrowawayPostgres,
    guard: RestoreGuard,
    backup: Backup,
    stream: IO[bytes],
    *,
    roles: Iterable[str] = (),
    deadline_s: float,
    jobs: int = 2,
    verified: DumpFacts | None = None,
) -> Restored:
    """Restore ``backup`` (read from ``stream``) into a new database on the running ``server``, timed.

    ``roles`` are created first (NOLOGIN); the roles the dump names as they come. ``verified`` are the
    facts of an earlier integrity pass, if any: a ``pg_dump -C`` dump of a database every fresh server
    has is refused before anything is read.
    """
    guard.check(server)
    creates = verified.create_database if verified is not None and backup.format != "custom" else None
    if creates in FRESH_SERVER_DATABASES:
        raise creates_fresh_database(backup, creates)

    def running(_floor: int) -> ServerStart:
        return ServerStart.started(server)

    request = PassRequest(running, guard, backup, stream, deadline_s, roles)
    if backup.format == "custom":
        outcome = restore_custom_pass(request, jobs=jobs, min_major=lambda _facts: 0)
    elif backup.format in ("plain-gzip", "plain"):
        outcome = restore_plain_pass(request)
    else:
        raise CheckFailed(
            f"format of {backup.name}", "a plain dump (.sql or .sql.gz) or a custom dump", backup.format
        )
    if outcome.restore_error is not None:
        raise outcome.restore_error
    assert outcome.restored is not None
    return outcome.restored
