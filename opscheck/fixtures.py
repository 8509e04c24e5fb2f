"""Public fixtures for checks: the shipped suites use them, and so can a team's own checks."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from opscheck.config import Environment
from opscheck.context import CheckRecord, current
from opscheck.http import OpsClient
from opscheck.postgres import connect_readonly
from opscheck.session import state

__all__ = ["check", "db", "http", "opscheck_env", "remediation"]


@pytest.fixture(scope="session")
def opscheck_env(pytestconfig: pytest.Config) -> Environment:
    """The selected environment's typed settings (``--env``): ``opscheck_env.smoke.pages``, ..."""
    ops = state(pytestconfig)
    if ops is None or ops.environment is None:
        raise pytest.UsageError("no opscheck environment is selected: give --env NAME")
    return ops.environment


@pytest.fixture(scope="session")
def http(opscheck_env: Environment) -> Iterator[OpsClient]:
    """An httpx client on ``base_url`` with the environment's timeout, CA bundle, retries and redaction.

    A target that cannot be reached raises ``TargetUnreachable`` (the check errors); transient failures
    are retried and make the check flaky.
    """
    with OpsClient(
        opscheck_env.base_url,
        timeout_s=opscheck_env.timeout_s,
        ca_bundle=opscheck_env.ca_bundle,
        attempts=int(opscheck_env.retries),
    ) as client:
        yield client


@pytest.fixture(scope="session")
def db(opscheck_env: Environment) -> Iterator[psycopg.Connection]:
    """A read-only psycopg connection to the environment's database (skips when none is configured)."""
    conn = connect_readonly(opscheck_env.database.url.reveal(), timeout_s=opscheck_env.timeout_s)
    try:
        yield conn
    finally:
        conn.close()


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
