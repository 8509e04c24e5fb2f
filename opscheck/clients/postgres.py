"""Read-only PostgreSQL sessions for an environment's database.

Production is sacred: every session opscheck opens for an environment is read-only twice over, by the
server setting ``default_transaction_read_only`` sent at connect time and by psycopg's ``read_only``
transaction attribute. A write attempt fails with "cannot execute ... in a read-only transaction".
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opscheck.errors import CheckFailed, TargetUnreachable
from opscheck.secrets import mask_url, redactor

if TYPE_CHECKING:
    import psycopg

__all__ = ["ProbeResult", "answered_within", "connect_readonly", "probe_database"]

_AUTH_FAILURES = ("password authentication failed", "no password supplied", 'role "', "pg_hba.conf")


# libpq's advice lines after the error itself ("Is the server running on that host ...?")
_HINT_LINES = ("Is the server running", "HINT:", "DETAIL:")
# libpq's "connection to server at "HOST", port N failed: WHY" (after psycopg's "connection failed: ")
_ATTEMPT_PREFIX = re.compile(r"^(?:connection failed: )?connection to server (?:at|on) .*? failed: ")


def _reason(exc: psycopg.Error) -> str:
    """libpq's own reason for the last failed attempt, e.g. "Connection refused", without its hints."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(_HINT_LINES)] or lines
    text = lines[-1] if lines else type(exc).__name__
    text = _ATTEMPT_PREFIX.sub("", text)
    text = text.removeprefix("FATAL:").strip()
    return redactor().scrub(text)


def connect_readonly(url: str, *, timeout_s: float, application_name: str = "opscheck") -> psycopg.Connection:
    """A read-only connection to ``url``; unreachable → TargetUnreachable, bad login → CheckFailed."""
    import psycopg  # noqa: PLC0415 - only runs that talk to PostgreSQL pay for importing psycopg

    from opscheck.clients.conninfo import isolated_conninfo  # noqa: PLC0415 - it imports psycopg

    where = f"PostgreSQL at {mask_url(url)}"
    try:
        conn = psycopg.connect(
            isolated_conninfo(url),  # no PG* variable fills what the URL leaves out
            connect_timeout=max(2, round(timeout_s)),
            application_name=application_name,
            options=f"-c default_transaction_read_only=on -c statement_timeout={round(timeout_s * 1000)}",
            autocommit=False,
        )
    except psycopg.OperationalError as exc:
        reason = _reason(exc)
        if any(marker in reason for marker in _AUTH_FAILURES):
            raise CheckFailed(
                f"login to {where}", "the configured credentials to be accepted", reason
            ) from None
        raise TargetUnreachable(where, reason) from None
    except psycopg.Error as exc:
        raise TargetUnreachable(where, _reason(exc)) from None
    conn.read_only = True
    return conn


@contextlib.contextmanager
def answered_within(conn: psycopg.Connection[Any], timeout_s: float, where: str) -> Iterator[None]:
    """End the block with TargetUnreachable if the server has not answered within ``timeout_s``.

    libpq has no client-side timeout once connected (``statement_timeout`` only bounds the server's own
    work): a server or network that stops answering, or crawls, would hang the check. At the deadline the
    connection's socket is shut down, which ends the wait; the connection is unusable afterwards.
    """
    import psycopg  # noqa: PLC0415 - see connect_readonly

    severed = threading.Event()

    def sever() -> None:
        severed.set()
        with contextlib.suppress(OSError, psycopg.Error):
            twin = socket.socket(fileno=os.dup(conn.pgconn.socket))
            try:
                twin.shutdown(socket.SHUT_RDWR)
            finally:
                twin.close()

    timer = threading.Timer(timeout_s, sever)
    timer.daemon = True
    timer.start()
    try:
        yield
    except psycopg.Error:
        if severed.is_set():
            raise TargetUnreachable(where, f"did not answer within {timeout_s:g} s") from None
        raise
    finally:
        timer.cancel()


@dataclass(frozen=True)
class ProbeResult:
    server_version: str
    connect_ms: float
    query_ms: float

    @property
    def total_ms(self) -> float:
        return round(self.connect_ms + self.query_ms, 1)


def probe_database(url: str, *, timeout_s: float) -> ProbeResult:
    """Connect read-only, run ``SELECT 1``, and time both."""
    import psycopg  # noqa: PLC0415 - see connect_readonly

    started = time.perf_counter()
    conn = connect_readonly(url, timeout_s=timeout_s)
    connected = time.perf_counter()
    try:
        with (
            answered_within(conn, timeout_s + 1, f"SELECT 1 on PostgreSQL at {mask_url(url)}"),
            conn.cursor() as cursor,
        ):
            cursor.execute("SELECT 1")
            row = cursor.fetchone()
            if row != (1,):
                raise CheckFailed(f"SELECT 1 on PostgreSQL at {mask_url(url)}", "(1,)", repr(row))
        finished = time.perf_counter()
        version = str(conn.info.parameter_status("server_version") or "unknown")
    except psycopg.Error as exc:
        raise TargetUnreachable(f"SELECT 1 on PostgreSQL at {mask_url(url)}", _reason(exc)) from None
    finally:
        conn.close()
    return ProbeResult(
        version, round((connected - started) * 1000, 1), round((finished - connected) * 1000, 1)
    )
