"""Shared fixtures for opscheck's own tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from opscheck.pgcluster import LocalCluster

pytest_plugins = ["pytester", "tests.support.reference_apps"]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[LocalCluster]:
    """A running throwaway PostgreSQL cluster, shared by the session and removed at its end."""
    with LocalCluster() as cluster:
        yield cluster


@pytest.fixture
def pg_database(pg_cluster: LocalCluster) -> Iterator[str]:
    """The superuser DSN of a fresh, uniquely named database in ``pg_cluster``, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    pg_cluster.create_database(name)
    try:
        yield pg_cluster.dsn(dbname=name)
    finally:
        pg_cluster.drop_database(name)
