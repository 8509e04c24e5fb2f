"""Running the shipped restore suite (``suites/restore``) and judging what it gives: its check names and
runbook sections, backups written at chosen times (a directory or S3), the config a run writes, the
``provider`` fixture (local or testcontainers), the assertions on a run, and ``run_tmpdir``, a private
``TMPDIR`` per test that must be empty afterwards (``pytest.mark.usefixtures("run_tmpdir")``).

Fixtures here are registered in ``tests/conftest.py``::

    run = restore_run(pytester, tmp_path, restore_config(tmp_path, str(backup_dir(tmp_path, daily(), dumps.gz))))
    assert_check(run, DRILL, "passed")
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opscheck.restore.servers.engine import DEFAULT_IMAGE
from tests.support.moto import MotoServer, client_for
from tests.support.processes import descendants
from tests.support.reference_dumps import APP_TABLES, Dumps
from tests.support.suite_run import RESTORE_SUITE, SuiteRun, run_suite, write_opscheck_toml

__all__ = [
    "ALL_CHECKS",
    "AMCHECK",
    "BACKUP_STRATEGY",
    "CONTRACT_METRICS",
    "DATA_RECOVERY",
    "DRILL",
    "ENCRYPTED",
    "MIGRATIONS",
    "PREFIX",
    "PROVIDERS",
    "RESTORED",
    "RETENTION",
    "ROLES",
    "ROWS",
    "RPO",
    "SEE_DRILL",
    "SIZE",
    "STREAM",
    "SYSTEM_RECOVERY",
    "TABLES",
    "assert_check",
    "assert_contract_metrics",
    "assert_restored_checks_error",
    "backup_dir",
    "backup_name",
    "daily",
    "descendant_argvs",
    "get_only_user",
    "passed",
    "provider",
    "provider_param",
    "put_backups",
    "remove_leftovers",
    "restore_client",
    "restore_config",
    "restore_run",
    "run_tmpdir",
    "s3_bucket",
    "write_backup",
]

# -- the checks of suites/restore ---------------------------------------------------------------------------
ENCRYPTED = "test_backup_is_encrypted_at_rest"
SIZE = "test_backup_size_is_plausible"
STREAM = "test_backup_stream_is_complete"
RETENTION = "test_backups_cover_retention_window"
RPO = "test_newest_backup_is_within_rpo"
DRILL = "test_restore_drill_succeeds_within_rto"
TABLES = "test_expected_tables_exist"
ROWS = "test_tables_have_minimum_rows"
MIGRATIONS = "test_migrations_are_complete"
AMCHECK = "test_indexes_pass_amcheck"
ROLES = "test_restore_roles_are_declared"
ALL_CHECKS = (ENCRYPTED, SIZE, STREAM, RETENTION, RPO, DRILL, ROLES, TABLES, ROWS, MIGRATIONS, AMCHECK)
#: the checks that need the restored database: they error (never pass) when the drill did not restore
RESTORED = (TABLES, ROWS, MIGRATIONS, AMCHECK)
SEE_DRILL = "see suites/restore/test_restore_drill_succeeds.py::test_restore_drill_succeeds_within_rto"

# -- runbook sections (headings of examples/RUNBOOK.md) ------------------------------------------------------
BACKUP_STRATEGY = "Backup Strategy"
DATA_RECOVERY = "Data Recovery"
SYSTEM_RECOVERY = "Complete System Recovery"

#: the metrics the contract promises on restore checks
CONTRACT_METRICS = (
    "backup_key",
    "backup_age_hours",
    "backup_bytes",
    "restore_seconds",
    "restore_mb_per_s",
    "rpo_hours",
    "rto_minutes",
)

PREFIX = "backups/database/"

# ------------------------------------------------------------------------------------------- backups


def backup_name(taken: datetime, ext: str = "sql.gz") -> str:
    return f"backup_{taken:%Y%m%d_%H%M%S}.{ext}"


def daily(
    days: int = 30, newest_age: timedelta = timedelta(hours=1), missing: Sequence[int] = ()
) -> list[datetime]:
    """Backup times, oldest → newest: one a day, the newest ``newest_age`` ago; ``missing`` are the ages
    in days (0 = newest) of the days without a backup."""
    newest = (datetime.now(UTC) - newest_age).replace(microsecond=0)
    return [newest - timedelta(days=age) for age in range(days - 1, -1, -1) if age not in missing]


def write_backup(directory: Path, taken: datetime, body: bytes, ext: str = "sql.gz") -> Path:
    """A backup file named after ``taken``, with its mtime set to match."""
    path = directory / backup_name(taken, ext)
    path.write_bytes(body)
    os.utime(path, (taken.timestamp(), taken.timestamp()))
    return path


def backup_dir(
    tmp_path: Path, times: Sequence[datetime], body: bytes, *, newest: bytes | None = None
) -> Path:
    """A directory of backups at ``times``, all ``body`` except the newest (``newest`` if given)."""
    directory = tmp_path / "backups"
    directory.mkdir()
    for taken in times[:-1]:
        write_backup(directory, taken, body)
    write_backup(directory, times[-1], body if newest is None else newest)
    return directory


def restore_config(
    tmp_path: Path,
    location: str,
    *,
    provider: str = "local",
    endpoint: str | None = None,
    expect_tables: Sequence[str] = APP_TABLES,
    min_rows: Mapping[str, int] | None = None,
    rpo_hours: float = 24,
    rto_minutes: float = 10,
    retention_days: float = 30,
    timeout_s: float = 5,
    roles: Sequence[str] = ("app",),
) -> Path:
    backups: dict[str, Any] = {
        "location": location,
        "rpo_hours": rpo_hours,
        "rto_minutes": rto_minutes,
        "retention_days": retention_days,
    }
    if endpoint is not None:
        backups["s3_endpoint_url"] = endpoint
    restore: dict[str, Any] = {
        "provider": provider,
        "image": DEFAULT_IMAGE,
        "expect_tables": list(expect_tables),
        "min_rows": dict(min_rows or {"User": 1}),
        "roles": list(roles),
    }
    return write_opscheck_toml(tmp_path, top={"timeout_s": timeout_s}, backups=backups, restore=restore)


def restore_run(pytester: pytest.Pytester, tmp_path: Path, config: Path, *args: str) -> SuiteRun:
    return run_suite(pytester, RESTORE_SUITE, config, tmp_path / "reports", *args)


# ---------------------------------------------------------------------------------------------- S3


def s3_bucket(endpoint: str) -> tuple[str, Any]:
    """A new bucket like production's: versioning, default encryption, a 30-day expiry on the prefix."""
    client = client_for(endpoint)
    bucket = f"opscheck-restore-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    client.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "retention",
                    "Status": "Enabled",
                    "Filter": {"Prefix": PREFIX},
                    "Expiration": {"Days": 30},
                }
            ]
        },
    )
    return bucket, client


def put_backups(client: Any, bucket: str, times: Sequence[datetime], body: bytes) -> list[str]:
    names = []
    for taken in times:
        name = backup_name(taken)
        client.put_object(Bucket=bucket, Key=PREFIX + name, Body=body, ServerSideEncryption="AES256")
        names.append(name)
    return names


def provider_param(provider: str) -> Any:
    """A ``provider`` parameter; testcontainers runs share an xdist group (they start containers)."""
    if provider == "testcontainers":
        return pytest.param(provider, marks=pytest.mark.xdist_group("restore"), id=provider)
    return pytest.param(provider, id=provider)


PROVIDERS = [provider_param("local"), provider_param("testcontainers")]


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> str:
    chosen: str = request.param
    if chosen == "testcontainers":
        request.getfixturevalue("docker_ready")
    return chosen


# ----------------------------------------------------------------------------------------- assertions


def assert_check(
    run: SuiteRun,
    name: str,
    outcome: str,
    *,
    severity: str | None = None,
    section: str | None = None,
    says: Sequence[str] = (),
) -> dict[str, Any]:
    check = run.check(name)
    assert check["outcome"] == outcome, f"{name}: {check['outcome']} ({check['message']})\n{run.output}"
    if severity is not None:
        assert check["severity"] == severity, name
    if section is not None:
        assert check["runbook_section"] == section, name
    for text in says:
        assert text in (check["message"] or ""), f"{name}: {text!r} not in {check['message']!r}"
    return check


def assert_restored_checks_error(run: SuiteRun) -> None:
    """The checks that need the restored database error, pointing at the drill."""
    for name in RESTORED:
        assert_check(run, name, "error", says=(SEE_DRILL,))


def passed(run: SuiteRun) -> set[str]:
    return {name for name, outcome in run.outcomes().items() if outcome == "passed"}


def assert_contract_metrics(metrics: Mapping[str, Any], backup_key: str, backup_bytes: int) -> None:
    missing = [name for name in CONTRACT_METRICS if name not in metrics]
    assert not missing, f"missing metrics {missing} in {metrics}"
    assert metrics["backup_key"] == backup_key
    assert metrics["backup_bytes"] == backup_bytes
    assert metrics["restore_seconds"] > 0
    assert metrics["restore_mb_per_s"] > 0


# ------------------------------------------------------------------------------ every run cleans up


def remove_leftovers(directory: Path) -> list[str]:
    """Stop any PostgreSQL still running from ``directory`` (a run's TMPDIR), empty it; return what was there."""
    left = sorted(entry.name for entry in directory.iterdir())
    for pidfile in directory.glob("opscheck-pg-*/data/postmaster.pid"):
        first = pidfile.read_text(errors="replace").split("\n", 1)[0].strip()
        if first.isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(first), signal.SIGKILL)
    for entry in directory.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return left


@pytest.fixture
def run_tmpdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A TMPDIR of its own for the suite runs a test starts (subprocesses read it; this process has
    cached its own): afterwards it must be empty, so a run that leaves a server directory or a restore
    temp dir behind fails here, and whatever it left is stopped and removed."""
    # mkdtemp before setenv: this process's tempfile has cached the usual temp dir (and keeps it)
    path = Path(tempfile.mkdtemp(prefix="opscheck-test-tmp-"))
    path.chmod(0o755)  # the postgres OS user must reach the clusters a run creates in it
    monkeypatch.setenv("TMPDIR", str(path))
    try:
        yield path
        left = remove_leftovers(path)
        assert not left, f"the suite run left {left} in its TMPDIR"
    finally:
        remove_leftovers(path)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def get_only_user(s3_iam_server: MotoServer, dumps: Dumps) -> dict[str, str]:
    """A bucket holding one real backup and a user allowed nothing but s3:GetObject on its objects."""
    bucket = f"opscheck-locked-{uuid.uuid4().hex[:8]}"
    user = f"backup-reader-{uuid.uuid4().hex[:8]}"
    with s3_iam_server.auth_disabled():
        s3 = client_for(s3_iam_server.endpoint)
        iam = client_for(s3_iam_server.endpoint, service="iam")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=PREFIX + backup_name(daily(1)[0]), Body=dumps.gz)
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
            ],
        }
        iam.put_user_policy(UserName=user, PolicyName="get-only", PolicyDocument=json.dumps(policy))
    return {"bucket": bucket, "key_id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def descendant_argvs(root: int) -> dict[int, list[str]]:
    """The command line of every descendant of ``root``, by pid."""
    return {pid: process.argv for pid, process in descendants(root).items()}


def restore_client(processes: Mapping[int, list[str]]) -> list[str] | None:
    """The argv of the drill's psql restoring into database ``restored`` (direct or via docker exec)."""
    for argv in processes.values():
        if any(Path(arg).name == "psql" for arg in argv) and any(
            a == "-d" and b == "restored" for a, b in itertools.pairwise(argv)
        ):
            return argv
    return None
