"""The ``db`` fixture's database session: it can only read, whatever the check sends.

A psycopg connection opened read-only can be switched back by its user (``SET TRANSACTION READ WRITE``,
``SET default_transaction_read_only = off``, ``RESET ALL``, ``BEGIN READ WRITE``, ``autocommit = True``,
several statements in one ``execute``, ...). :class:`ReadOnlyDatabase` closes each of those doors:

* the psycopg connection is private: no ``autocommit``, ``read_only``, ``set_session``, ``pgconn``,
  ``commit`` or raw cursor is exposed; only :meth:`ReadOnlyDatabase.execute` and its cursor;
* every statement runs in its own transaction, begun ``READ ONLY`` and sealed by a first query (after that
  PostgreSQL refuses ``SET TRANSACTION READ WRITE`` and ``set_config('transaction_read_only', ...)``),
  then rolled back, which also undoes any setting the statement changed;
* the statement is sent as a prepared statement (the extended query protocol), so one call is exactly one
  statement: ``COMMIT; BEGIN READ WRITE; INSERT ...`` is refused by the server as a whole; a procedure or
  ``DO`` block cannot ``COMMIT`` inside the sealed transaction block.

This is a guard against accidents and careless checks, not a security boundary: the real guarantee is a
database role that cannot write (see :func:`write_privileges`, used by the credentials suite to warn when
the configured role can). A function that opens its own connection (``dblink``) is beyond any client.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, Self

import psycopg
from psycopg import sql

from opscheck.clients.postgres import answered_within

__all__ = ["ReadOnlyCursor", "ReadOnlyDatabase", "Rows", "write_privileges"]

Query = str | bytes | sql.SQL | sql.Composed
Params = Sequence[Any] | Mapping[str, Any] | None

#: begins the statement's transaction read-only and takes its first snapshot, after which PostgreSQL
#: rejects any switch to read-write ("transaction read-write mode must be set before any query")
_SEAL: Final = "BEGIN TRANSACTION READ ONLY; SELECT 1"


class Rows:
    """The result of one statement, fetched in full before its transaction was rolled back."""

    def __init__(
        self, rows: list[tuple[Any, ...]], description: Any, rowcount: int, statusmessage: str | None
    ) -> None:
        self._rows = rows
        self._next = 0
        self.description = description
        self.rowcount = rowcount
        self.statusmessage = statusmessage

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        found = self._rows[self._next : self._next + size]
        self._next += len(found)
        return found

    def fetchall(self) -> list[tuple[Any, ...]]:
        found = self._rows[self._next :]
        self._next = len(self._rows)
        return found

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while (row := self.fetchone()) is not None:
            yield row


class ReadOnlyDatabase:
    """A read-only session: ``db.execute(query, params).fetchall()`` or ``with db.cursor() as cur: ...``.

    Thread-safe (one statement at a time). See the module docstring for what it guarantees and what not.
    """

    __slots__ = ("__conn", "__lock", "__timeout_s")

    def __init__(self, conn: psycopg.Connection[Any], timeout_s: float | None = None) -> None:
        conn.autocommit = True  # the transactions are ours: begun read-only and sealed per statement
        self.__conn = conn
        self.__lock = threading.Lock()
        self.__timeout_s = timeout_s

    def execute(self, query: Query, params: Params = None) -> Rows:
        """Run one statement in a sealed read-only transaction and return its rows.

        With ``timeout_s``, a server that has not answered a second after it (the server's own
        ``statement_timeout`` comes first) ends the statement with TargetUnreachable."""
        bound = (
            answered_within(self.__conn, self.__timeout_s + 1, "a statement on the database")
            if self.__timeout_s is not None
            else contextlib.nullcontext()
        )
        with self.__lock, bound, self.__conn.cursor() as cursor:
            cursor.execute(_SEAL)
            try:
                cursor.execute(query, params, prepare=True)  # one statement only (extended protocol)
                rows = cursor.fetchall() if cursor.description is not None else []
                return Rows(rows, cursor.description, cursor.rowcount, cursor.statusmessage)
            finally:
                self.__conn.execute("ROLLBACK")

    def cursor(self) -> ReadOnlyCursor:
        return ReadOnlyCursor(self)

    def rollback(self) -> None:
        """Nothing to do: every statement's transaction is already rolled back (kept for psycopg's spelling)."""

    def commit(self) -> None:
        """Nothing to do: nothing can have been written (kept for psycopg's spelling)."""

    @property
    def server_version(self) -> int:
        return self.__conn.info.server_version

    @property
    def closed(self) -> bool:
        return self.__conn.closed

    def close(self) -> None:
        self.__conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ReadOnlyDatabase {'closed' if self.closed else 'open'}>"


class ReadOnlyCursor:
    """psycopg's cursor spelling over :meth:`ReadOnlyDatabase.execute`."""

    def __init__(self, database: ReadOnlyDatabase) -> None:
        self._database = database
        self._rows: Rows | None = None

    def execute(self, query: Query, params: Params = None) -> Self:
        self._rows = self._database.execute(query, params)
        return self

    def _result(self) -> Rows:
        if self._rows is None:
            raise psycopg.ProgrammingError("no result available: execute() a statement first")
        return self._rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._result().fetchone()

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        return self._result().fetchmany(size)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._result().fetchall()

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._result())

    @property
    def description(self) -> Any:
        return self._rows.description if self._rows is not None else None

    @property
    def rowcount(self) -> int:
        return self._rows.rowcount if self._rows is not None else -1

    def close(self) -> None:
        self._rows = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: what the current role may change: superuser, table privileges that write, CREATE on the database or a
#: schema (the login role's own name is never returned: it is part of a secret URL)
_WRITE_PRIVILEGES_SQL: Final = """
SELECT 'it is a superuser' FROM pg_catalog.pg_roles WHERE rolname = current_user AND rolsuper
UNION ALL
SELECT 'it can ' || string_agg(DISTINCT p.privilege, ', ') || ' on ' || count(DISTINCT c.oid) || ' table(s), e.g. '
       || min(quote_ident(n.nspname) || '.' || quote_ident(c.relname))
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN (VALUES ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE')) AS p(privilege)
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
  AND n.nspname NOT LIKE 'pg\\_temp%'
  AND pg_catalog.has_table_privilege(c.oid, p.privilege)
HAVING count(*) > 0
UNION ALL
SELECT 'it can CREATE in schema ' || string_agg(quote_ident(nspname), ', ')
FROM pg_catalog.pg_namespace
WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%'
  AND pg_catalog.has_schema_privilege(oid, 'CREATE')
HAVING count(*) > 0
"""


def write_privileges(database: ReadOnlyDatabase) -> list[str]:
    """What the session's role could write or create, were the session not read-only (empty: nothing)."""
    return [str(row[0]) for row in database.execute(_WRITE_PRIVILEGES_SQL).fetchall()]
