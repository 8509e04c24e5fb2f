"""Public fixtures for checks: the shipped suites use them, and so can a team's own checks.

The plugin loads this module on every pytest run, so the libraries behind the fixtures (httpx, psycopg,
boto3, the Docker SDK) are imported inside the fixtures that use them, not here: a run that needs no
database never pays for importing a database driver.

PYTEST_DONT_REWRITE: the plugin imports this module (for the list of check fixtures) before pytest loads
it as a plugin; without this marker pytest warned "Module already imported so cannot be rewritten".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from opscheck.config import Environment
from opscheck.errors import OpscheckError
from opscheck.run.context import CheckRecord, current
from opscheck.run.session import state

if TYPE_CHECKING:
    import psycopg

    from opscheck.auth.client import NextAuth
    from opscheck.clients.http import OpsClient
    from opscheck.clients.readonly_db import ReadOnlyDatabase
    from opscheck.restore.backups import Backup
    from opscheck.restore.drill import Drill
    from opscheck.run.share import RunShare

__all__ = [
    "check",
    "db",
    "http",
    "latest_backup",
    "nextauth",
    "opscheck_env",
    "remediation",
    "restore_drill",
    "restored_db",
    "run_share",
    "s3",
]

#: a test that uses one of these is one of opscheck's checks (``run_share`` is plumbing, not a check's target)
CHECK_FIXTURES: frozenset[str] = frozenset(__all__) - {"run_share"}


@pytest.fixture(scope="session")
def opscheck_env(pytestconfig: pytest.Config) -> Environment:
    """The selected environment's typed settings (``--env``): ``opscheck_env.smoke.pages``, ..."""
    ops = state(pytestconfig)
    if ops is None or ops.environment is None:
        raise pytest.UsageError("no opscheck environment is selected: give --env NAME")
    return ops.environment


@pytest.fixture(scope="session")
def http(opscheck_env: Environment) -> Iterator[OpsClient]:
    """An httpx client on ``base_url`` with the environment's timeout, CA bundle, retries, extra request
    ``headers`` and redaction.

    ``timeout_s`` bounds each request as a whole (retries and body included); a body larger than
    ``max_body_mb`` raises ``BodyTooLarge`` (the check errors: it could not be verified).

    A target that cannot be reached raises ``TargetUnreachable`` (the check errors); transient failures
    are retried and make the check flaky.
    """
    from opscheck.clients.http import OpsClient

    with OpsClient.for_environment(opscheck_env) as client:
        yield client


@pytest.fixture(scope="session")
def db(opscheck_env: Environment) -> Iterator[ReadOnlyDatabase]:
    """A read-only session on the environment's database (skips when none is configured).

    psycopg's spelling (``db.execute(q, params).fetchone()``, ``with db.cursor() as cur: ...``), but the
    connection itself is not exposed and every statement runs alone in a sealed read-only transaction:
    the check cannot switch it to read-write. A read-only database role is the real guarantee.
    """
    from opscheck.clients.postgres import connect_readonly
    from opscheck.clients.readonly_db import ReadOnlyDatabase

    timeout_s = opscheck_env.timeout_s
    with ReadOnlyDatabase(
        connect_readonly(opscheck_env.database.url.reveal(), timeout_s=timeout_s), timeout_s=timeout_s
    ) as database:
        yield database


def _record() -> CheckRecord:
    record = current()
    if record is None:  # pragma: no cover - the plugin always sets one while a check runs
        record = CheckRecord()
    return record


@pytest.fixture
def check() -> CheckRecord:
    """The running check's record: ``check.metric(name, value)``, ``check.note(text)``."""
    return _record()


class Remediation:
    """Extra remediation text for the running check, shown after its runbook section when it fails."""

    def __init__(self, record: CheckRecord) -> None:
        self._record = record

    def add(self, text: str) -> None:
        self._record.add_remediation(text)


@pytest.fixture
def remediation() -> Remediation:
    """Records extra remediation text for the current check: ``remediation.add("Page the DBA")``."""
    return Remediation(_record())


def _protected_database_urls(config: pytest.Config) -> list[str]:
    """Every configured environment's database URL that can be resolved: never a restore target."""
    ops = state(config)
    urls: list[str] = []
    if ops is None or ops.config_file is None:
        return urls
    for name in ops.config_file.environments:
        with contextlib.suppress(OpscheckError):
            urls.append(ops.config_file.environment(name).database.url.reveal())
    return urls


@pytest.fixture(scope="session")
def run_share(pytestconfig: pytest.Config) -> RunShare:
    """Steps that must run once per run, also under xdist: ``run_share.once("key", produce)`` returns
    ``produce()``'s result, computed by the first worker that asks and shared with every other worker
    (an OpscheckError it raised is raised to each). For anything that must not hit production N times."""
    from opscheck.run.scope import run_scope

    return run_scope(pytestconfig).share


@pytest.fixture(scope="session")
def restore_drill(
    opscheck_env: Environment, pytestconfig: pytest.Config, run_share: RunShare
) -> Iterator[Drill]:
    """The run's restore drill: backups listed, one selected (``--backup``), verified and restored once
    per run, also under xdist (every worker uses the same throwaway PostgreSQL and the same measurements),
    into a throwaway PostgreSQL that is removed at the end of the run (also on failure and Ctrl-C)."""
    from datetime import UTC, datetime

    from opscheck.restore.drill import Drill

    ops = state(pytestconfig)
    drill = Drill(
        opscheck_env,
        ops.backup if ops else "latest",
        _protected_database_urls(pytestconfig),
        now=run_share.once("drill clock", lambda: datetime.now(UTC)),
        share=run_share,
    )
    try:
        yield drill
    finally:
        drill.close()


@pytest.fixture(scope="session")
def latest_backup(restore_drill: Drill) -> Backup:
    """The backup the drill uses (``--backup latest|TIMESTAMP|NAME``): key, time, size, format, version."""
    return restore_drill.backup()


@pytest.fixture(scope="session")
def restored_db(restore_drill: Drill) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the throwaway PostgreSQL holding the restored backup, e.g. to assert that yesterday's
    orders are there. Errors (never passes) when the restore itself failed."""
    with restore_drill.connect() as conn:
        yield conn


@pytest.fixture(scope="session")
def s3(opscheck_env: Environment) -> Any:
    """A boto3 S3 client for the backup location (endpoint, region and the standard credentials chain)."""
    from opscheck.clients.aws import s3_client

    return s3_client(opscheck_env.backups, timeout_s=opscheck_env.timeout_s)


@pytest.fixture(scope="session")
def nextauth(opscheck_env: Environment) -> Iterator[NextAuth]:
    """A NextAuth client for ``base_url`` (next-auth v4 or Auth.js v5, detected from the server's answers).

    ``nextauth.sign_in()`` signs in as the environment's smoke user (``auth.username``/``auth.password``) in a
    fresh cookie jar and returns the signed-in httpx client; ``nextauth.attempt_sign_in(user, password)``
    returns the attempt without judging it. Session and CSRF values are registered as secrets on arrival.
    """
    from opscheck.auth.client import NextAuth

    with NextAuth.for_environment(opscheck_env) as client:
        yield client
