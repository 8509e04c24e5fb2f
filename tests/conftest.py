"""Shared fixtures for opscheck's own tests."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from opscheck.restore.servers.local import LocalCluster
from opscheck.secrets import redactor
from tests.support.databases import fresh_database
from tests.support.environment import is_caller_variable

# fixtures shared by many test modules; a module comes after the ones it imports (pytest rewrites the
# asserts of a plugin only when it imports it first)
pytest_plugins = [
    "pytester",
    "tests.support.reference_apps",
    "tests.support.reference_dumps",
    "tests.support.docker_engine",
    "tests.support.auth_run",
    "tests.support.restore_run",
]

# A run launched with SIGINT ignored (a background job of a shell without job control) would pass that on
# to every process the tests start, and the tests that interrupt a run with SIGINT would see it ignored.
# A handler (unlike SIG_IGN) is reset to the default in children: they get Ctrl-C as users do.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def _nowhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A path that does not exist (for AWS config files)."""
    return tmp_path_factory.getbasetemp() / "does-not-exist"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, _nowhere: Path) -> None:
    """Runs are configured by the test's files, options and the variables it sets, never by the caller's:
    no opscheck, CI, app, AWS or libpq variables, no AWS config files, no instance-metadata lookups."""
    for name in [key for key in os.environ if is_caller_variable(key)]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(_nowhere / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(_nowhere / "aws-credentials"))


@pytest.fixture(autouse=True)
def _isolated_redactor() -> Iterator[None]:
    """The process-wide redactor knows after a test exactly what it knew before: a secret one test
    registers neither hides text in a later test nor makes a later leak check pass by accident."""
    known = redactor().snapshot()
    yield
    redactor().restore(known)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[LocalCluster]:
    """A running throwaway PostgreSQL cluster, shared by the session and removed at its end."""
    with LocalCluster() as cluster:
        yield cluster


@pytest.fixture
def pg_database(pg_cluster: LocalCluster) -> Iterator[str]:
    """The superuser DSN of a fresh, uniquely named database in ``pg_cluster``, dropped afterwards."""
    with fresh_database(pg_cluster) as name:
        yield pg_cluster.dsn(dbname=name)
