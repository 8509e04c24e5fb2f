"""The restored database verified once, its independent queries side by side.

Table names, ANALYZE with the planner's row estimates, exact ``count(*)`` of the tables ``min_rows`` names
and amcheck of every btree index each run on a connection of their own, in parallel (the server runs one
backend per connection, so on more than one core they overlap). The checks of ``suites/restore`` read the
results; their time is reported as the ``verification_seconds`` metric, apart from the restore's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

from opscheck.errors import CheckFailed
from opscheck.restore.expectations import (
    amcheck_indexes,
    estimated_counts,
    exact_counts,
    merge_counts,
    parse_table_name,
    table_names,
)

__all__ = ["Verification", "verify_restored"]

T = TypeVar("T")
CONNECT_TIMEOUT_S = 10


@dataclass
class Verification:
    """What the restored database showed. ``amcheck_failure`` is the first index amcheck rejected."""

    tables: set[tuple[str, str]]
    counts: dict[str, int]
    uncounted: dict[str, str]
    indexes_checked: int
    amcheck_failure: CheckFailed | None
    seconds: float

    def missing(self, expected: Iterable[str]) -> list[str]:
        """The names of ``expected`` (``[schema.]table``) the database lacks, as written."""
        return [name for name in expected if parse_table_name(name) not in self.tables]

    def amcheck(self) -> int:
        """How many indexes amcheck passed; CheckFailed naming the first it rejected."""
        if self.amcheck_failure is not None:
            raise self.amcheck_failure
        return self.indexes_checked


def _amcheck(conn: psycopg.Connection[Any]) -> tuple[int, CheckFailed | None]:
    try:
        return amcheck_indexes(conn), None
    except CheckFailed as exc:
        return 0, exc


def verify_restored(dsn: str, exact: set[str]) -> Verification:
    """Verify the database at ``dsn``: names, estimates, exact counts of ``exact`` and amcheck, in parallel."""
    began = time.monotonic()

    def on_connection(query: Callable[[psycopg.Connection[Any]], T]) -> T:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            return query(conn)

    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="opscheck-verify") as pool:
        estimated = pool.submit(on_connection, lambda conn: (table_names(conn), estimated_counts(conn)))
        counted = pool.submit(on_connection, lambda conn: exact_counts(conn, exact))
        checked = pool.submit(on_connection, _amcheck)
        tables, estimates = estimated.result()
        counts, uncounted = merge_counts(estimates, *counted.result())
        indexes, failure = checked.result()
    return Verification(tables, counts, uncounted, indexes, failure, time.monotonic() - began)
