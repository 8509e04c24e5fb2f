"""The shipped restore drill (``suites/restore``) against real backups: every verdict, proven.

The backups are real ``pg_dump`` output of a database shaped like the reference app (its schema and seed,
with a role ``app`` owning some tables), written the runbook's way (``backup_YYYYMMDD_HHMMSS.sql.gz`` /
``.dump``) into a directory or a real S3 endpoint (moto_server on 127.0.0.1). Each test runs the real suite
in a subprocess, as the weekly CI job does, and reads ``opscheck-summary.json``: outcome, severity, runbook
section, message and metrics of every check.

Broken inputs are made from the same real dump: emptied, gzip cut short, a valid gzip of a dump cut inside
``COPY`` data, a bogus statement in the middle, a header claiming a newer major, a custom archive cut short.

Docker-dependent cases skip with the reason when no daemon answers, and fail instead when
``OPSCHECK_REQUIRE_DOCKER=1`` (CI).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from opscheck.config import load_config
from opscheck.errors import CheckFailed, TargetUnreachable
from opscheck.restore import drill as drill_module
from opscheck.restore import verification
from opscheck.restore.backups import Backup
from opscheck.restore.drill import Drill
from opscheck.restore.dumpgzip import verify_plain_gzip
from opscheck.restore.load import restore_backup
from opscheck.restore.passes import DrillPass, RestoreGuard, RestoreRefused
from opscheck.restore.servers.engine import DEFAULT_IMAGE
from opscheck.restore.servers.local import LocalCluster
from opscheck.restore.stores import FileStore
from tests.support.docker_engine import labelled_containers, remove_container
from tests.support.moto import TEST_ACCESS_KEY, TEST_SECRET_KEY, MotoServer
from tests.support.pgdump import pg_dump
from tests.support.processes import kill_session, process_table, signal_and_wait
from tests.support.reference_dumps import (
    APP_TABLES,
    NEWER_MAJOR,
    Dumps,
    claiming_version,
    cut_inside_copy,
    gzip_bytes,
    psql_ok,
    with_bad_statement,
    with_missing_extension,
)
from tests.support.restore_run import (
    ALL_CHECKS,
    AMCHECK,
    BACKUP_STRATEGY,
    DATA_RECOVERY,
    DRILL,
    ENCRYPTED,
    MIGRATIONS,
    PREFIX,
    PROVIDERS,
    RESTORED,
    RETENTION,
    ROLES,
    ROWS,
    RPO,
    SIZE,
    STREAM,
    SYSTEM_RECOVERY,
    TABLES,
    assert_check,
    assert_contract_metrics,
    assert_restored_checks_error,
    backup_dir,
    backup_name,
    daily,
    descendant_argvs,
    passed,
    put_backups,
    restore_client,
    restore_config,
    restore_run,
    s3_bucket,
    write_backup,
)
from tests.support.servers import closed_port
from tests.support.suite_run import (
    ENV,
    RESTORE_SUITE,
)

pytest_plugins = ["tests.support.s3_server"]

#: a private TMPDIR per test that must be empty afterwards
pytestmark = pytest.mark.usefixtures("run_tmpdir")


# ============================================================================================= GOOD


def test_local_directory_of_plain_backups_restores_and_every_check_passes(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    times = daily()
    directory = backup_dir(tmp_path, times, dumps.gz)
    newest = directory / backup_name(times[-1])
    config = restore_config(tmp_path, directory.as_uri(), min_rows=dumps.counts)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 0, run.output
    assert run.outcomes() == {name: "skipped" if name == ENCRYPTED else "passed" for name in ALL_CHECKS}
    assert "is not S3" in run.check(ENCRYPTED)["message"]
    assert run.summary["interrupted"] is False
    assert "opscheck: restore provider local (configured); backup latest" in run.result.stdout.str()

    drill = run.check(DRILL)["metrics"]
    assert_contract_metrics(drill, str(newest), len(dumps.gz))
    assert drill["rpo_hours"] == 24
    assert drill["rto_minutes"] == 10
    assert 0.9 < drill["backup_age_hours"] < 1.2
    assert drill["restore_provider"] == "local"
    assert drill["server_start_seconds"] > 0  # reported apart from the pass (the server boots meanwhile)
    assert run.check(ROWS)["metrics"]["verification_seconds"] > 0  # reported apart from the restore
    for name in RESTORED:  # everything that ran after the restore carries the restore metrics too
        assert_contract_metrics(run.check(name)["metrics"], str(newest), len(dumps.gz))

    stream = run.check(STREAM)["metrics"]
    assert stream["dump_format"] == "plain-gzip"
    assert stream["uncompressed_bytes"] == len(dumps.plain)
    assert stream["roles_referenced"] == ["app"]
    assert stream["source_server_version"].startswith("15.")
    assert run.check(ROWS)["metrics"]["row_counts"] == dumps.counts
    assert run.check(RETENTION)["metrics"]["backups_in_store"] == 30
    assert run.check(RPO)["metrics"]["newest_backup"] == newest.name
    assert run.check(MIGRATIONS)["metrics"]["latest_migration"]
    assert run.check(AMCHECK)["metrics"]["indexes_checked"] >= 7


def test_backup_chosen_by_timestamp_restores_a_custom_format_dump(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    times = daily()
    directory = backup_dir(tmp_path, times, dumps.gz)
    chosen = times[-5] + timedelta(hours=2)  # between two daily plain dumps
    custom = write_backup(directory, chosen, dumps.custom, ext="dump")
    config = restore_config(tmp_path, directory.as_uri(), min_rows=dumps.counts)

    run = restore_run(pytester, tmp_path, config, "--backup", f"{chosen:%Y%m%d_%H%M%S}")

    assert run.ret == 0, run.output
    assert passed(run) == set(ALL_CHECKS) - {ENCRYPTED}, run.output
    drill = run.check(DRILL)["metrics"]
    assert_contract_metrics(drill, str(custom), len(dumps.custom))
    assert 4 * 24 - 2 < drill["backup_age_hours"] < 4 * 24
    assert run.check(STREAM)["metrics"]["dump_format"] == "custom"
    assert run.check(ROWS)["metrics"]["row_counts"] == dumps.counts
    assert f"backup {chosen:%Y%m%d_%H%M%S}" in run.result.stdout.str()


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize("provider", PROVIDERS, indirect=True)
def test_s3_backups_restore_by_name_and_every_check_passes(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps, s3_server: str, provider: str
) -> None:
    bucket, client = s3_bucket(s3_server)
    times = daily()
    names = put_backups(client, bucket, times, dumps.gz)
    chosen = names[-3]  # not the newest: --backup NAME picks it
    config = restore_config(
        tmp_path, f"s3://{bucket}/{PREFIX}", endpoint=s3_server, provider=provider, min_rows=dumps.counts
    )

    run = restore_run(pytester, tmp_path, config, "--backup", chosen)

    assert run.ret == 0, run.output
    assert passed(run) == set(ALL_CHECKS), run.output
    assert run.check(ENCRYPTED)["metrics"]["encryption"] == "AES256"
    drill = run.check(DRILL)["metrics"]
    assert_contract_metrics(drill, PREFIX + chosen, len(dumps.gz))
    assert 2 * 24 + 0.9 < drill["backup_age_hours"] < 2 * 24 + 1.2
    assert drill["restore_provider"] == provider
    assert run.check(RPO)["metrics"]["newest_backup"] == names[-1]
    retention = run.check(RETENTION)["metrics"]
    assert retention["bucket_versioning"] == "Enabled"
    assert retention["bucket_default_encryption"] == "AES256"
    assert retention["lifecycle_expiration_days"] == 30
    assert run.check(ROWS)["metrics"]["row_counts"] == dumps.counts
    text = run.all_text()
    assert TEST_SECRET_KEY not in text
    assert TEST_ACCESS_KEY not in text


# ========================================================================================= BAD INPUTS


def test_no_backups_at_the_location(pytester: pytest.Pytester, tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    directory.mkdir()
    (directory / "README.txt").write_text("backups go here\n")
    config = restore_config(tmp_path, directory.as_uri())

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    location = directory.as_uri() + "/"
    assert_check(
        run, RPO, "failed", severity="P1", section=BACKUP_STRATEGY, says=(location, "at least one backup")
    )
    for name in (SIZE, STREAM, ENCRYPTED):
        assert_check(run, name, "failed", says=(f"no backups at {location}", "'README.txt'"))
    assert_check(
        run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=(f"no backups at {location}",)
    )
    assert_check(run, RETENTION, "failed", section=BACKUP_STRATEGY, says=("1 gap(s)",))
    assert_restored_checks_error(run)
    assert passed(run) == set()


@pytest.mark.usefixtures("aws_env")
def test_unreachable_s3_endpoint_errors_naming_it(pytester: pytest.Pytester, tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    config = restore_config(tmp_path, f"s3://opscheck-nowhere/{PREFIX}", endpoint=endpoint, timeout_s=2)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    says = (f"S3 endpoint {endpoint}", "could not be reached")
    assert_check(run, RPO, "error", severity="P1", section=BACKUP_STRATEGY, says=(*says, "ListObjectsV2"))
    assert_check(run, DRILL, "error", severity="P0", section=SYSTEM_RECOVERY, says=says)
    for name in (SIZE, STREAM, RETENTION, ENCRYPTED):
        assert_check(run, name, "error", says=says)
    assert_restored_checks_error(run)
    assert passed(run) == set()
    assert run.wall_s < 60


@pytest.mark.usefixtures("aws_env")
def test_access_denied_names_bucket_and_permission_never_the_secret(
    pytester: pytest.Pytester,
    tmp_path: Path,
    s3_iam_server: MotoServer,
    get_only_user: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", get_only_user["key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", get_only_user["secret"])
    bucket = get_only_user["bucket"]
    config = restore_config(tmp_path, f"s3://{bucket}/{PREFIX}", endpoint=s3_iam_server.endpoint)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    says = (
        f"access to bucket {bucket} (ListObjectsV2)",
        f"s3:ListBucket on arn:aws:s3:::{bucket}",
        "AccessDenied",
    )
    assert_check(run, RPO, "failed", severity="P1", section=BACKUP_STRATEGY, says=says)
    assert_check(run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=says)
    assert_restored_checks_error(run)
    assert passed(run) == set()
    text = run.all_text()
    assert get_only_user["secret"] not in text
    assert get_only_user["key_id"] not in text


def test_stale_newest_backup_and_a_missing_week(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    times = daily(newest_age=timedelta(days=3), missing=range(10, 17))
    directory = backup_dir(tmp_path, times, dumps.gz)
    before_gap = next(t for t in reversed(times) if t < times[-1] - timedelta(days=16))
    after_gap = next(t for t in times if t > before_gap)
    config = restore_config(tmp_path, directory.as_uri())

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    assert_check(
        run,
        RPO,
        "failed",
        severity="P1",
        section=BACKUP_STRATEGY,
        says=(f"newest backup {backup_name(times[-1])}", "at most 24 h (RPO)", "saw 72."),
    )
    gap = f"{before_gap:%Y-%m-%d %H:%M} to {after_gap:%Y-%m-%d %H:%M} (192 h)"
    assert_check(
        run,
        RETENTION,
        "failed",
        severity="P2",
        section=BACKUP_STRATEGY,
        says=("2 gap(s)", gap, f"{times[-1]:%Y-%m-%d %H:%M} to "),
    )
    assert run.check(RETENTION)["metrics"]["backups_in_store"] == len(times) == 23
    # the stale backup itself is sound: the drill restores it
    assert passed(run) == {SIZE, STREAM, DRILL, ROLES, *RESTORED}, run.output
    assert 71.9 < run.check(DRILL)["metrics"]["backup_age_hours"] < 72.2


def test_empty_newest_backup_fails_size_and_stream(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    times = daily()
    directory = backup_dir(tmp_path, times, dumps.gz, newest=b"")
    config = restore_config(tmp_path, directory.as_uri())

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    assert_check(run, SIZE, "failed", severity="P1", section=BACKUP_STRATEGY, says=("empty (0 bytes)",))
    assert_check(
        run, STREAM, "failed", severity="P1", section=DATA_RECOVERY, says=("an empty file (0 bytes)",)
    )
    assert_check(
        run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=("an empty file (0 bytes)",)
    )
    assert run.check(DRILL)["metrics"]["backup_bytes"] == 0
    assert_restored_checks_error(run)
    assert passed(run) == {RPO, RETENTION}


def test_truncated_gzip_fails_the_stream_and_the_drill(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    times = daily()
    whole = dumps.gz
    directory = backup_dir(tmp_path, times, whole, newest=whole[: len(whole) * 6 // 10])
    config = restore_config(tmp_path, directory.as_uri())

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    says = ("truncated after", "compressed bytes")
    assert_check(run, STREAM, "failed", severity="P1", section=DATA_RECOVERY, says=says)
    assert_check(run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=says)
    assert_restored_checks_error(run)
    assert passed(run) == {SIZE, RPO, RETENTION}


def test_valid_gzip_of_a_dump_cut_inside_copy_is_caught(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    times = daily()
    cut = gzip_bytes(cut_inside_copy(dumps.plain))
    directory = backup_dir(tmp_path, times, dumps.gz, newest=cut)
    config = restore_config(tmp_path, directory.as_uri())

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    says = ("no 'PostgreSQL database dump complete' marker", 'cut inside the COPY data of public."User"')
    assert_check(run, STREAM, "failed", severity="P1", section=DATA_RECOVERY, says=says)
    assert_check(run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=says)
    assert_restored_checks_error(run)
    assert not {DRILL, STREAM, *RESTORED} & passed(run)


@pytest.mark.parametrize("provider", PROVIDERS, indirect=True)
def test_sql_error_in_the_middle_of_the_dump_fails_the_drill_at_its_line(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps, provider: str
) -> None:
    broken, line = with_bad_statement(dumps.plain)
    directory = backup_dir(tmp_path, daily(), dumps.gz, newest=gzip_bytes(broken))
    config = restore_config(tmp_path, directory.as_uri(), provider=provider)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    assert_check(run, STREAM, "passed")  # a complete dump: only the restore can find the bad statement
    assert_check(
        run,
        DRILL,
        "failed",
        severity="P0",
        section=SYSTEM_RECOVERY,
        says=(f"psql stopped at line {line} of the dump", 'ERROR: syntax error at or near "SELEC"'),
    )
    assert_restored_checks_error(run)
    assert passed(run) == {SIZE, STREAM, ROLES, RPO, RETENTION}


def test_a_backslash_command_inside_the_dumps_restrict_guard_fails_the_drill_at_its_line(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    """psql's own errors name their line too: inside pg_dump's ``\\restrict`` guard psql refuses every other
    backslash command (``error: backslash commands are restricted``), as an old psql refuses ``\\restrict``
    itself (``error: invalid command``)."""
    broken, line = with_bad_statement(dumps.plain, b"\\frobnicate now\n")
    directory = backup_dir(tmp_path, daily(), dumps.gz, newest=gzip_bytes(broken))
    config = restore_config(tmp_path, directory.as_uri(), provider="local")

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    says = (f"psql stopped at line {line} of the dump", "error: backslash commands are restricted")
    assert_check(run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=says)
    assert_restored_checks_error(run)


@pytest.mark.parametrize("provider", PROVIDERS, indirect=True)
def test_dump_from_a_newer_major_fails_with_advice(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps, provider: str
) -> None:
    major = NEWER_MAJOR  # newer than anything installed here, whatever this machine has
    newer = gzip_bytes(claiming_version(dumps.plain, f"{major}.4"))
    directory = backup_dir(tmp_path, daily(), dumps.gz, newest=newer)
    config = restore_config(tmp_path, directory.as_uri(), provider=provider)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    stream = assert_check(run, STREAM, "passed")["metrics"]
    assert stream["source_server_version"] == stream["pg_dump_version"] == f"{major}.4"
    if provider == "local":
        says: tuple[str, ...] = (f"major {major} or newer", f"PostgreSQL {major - 1}", f"postgresql-{major}")
    else:
        says = (f"restore image {DEFAULT_IMAGE}", f"PostgreSQL {major} or newer", f"postgres:{major}")
    assert_check(run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=says)
    assert_restored_checks_error(run)
    assert passed(run) == {SIZE, STREAM, ROLES, RPO, RETENTION}


def test_truncated_custom_dump_fails_the_drill_in_pg_restore(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    times = daily(7)
    directory = tmp_path / "backups"
    directory.mkdir()
    for taken in times[:-1]:
        write_backup(directory, taken, dumps.custom, ext="dump")
    write_backup(directory, times[-1], dumps.custom[: len(dumps.custom) * 6 // 10], ext="dump")
    config = restore_config(tmp_path, directory.as_uri(), retention_days=6)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    # pg_restore -l reads the table of contents at the start of the archive: the stream check cannot
    # see the cut (tests/restore/test_dumps.py pins that); the restore with --exit-on-error does
    assert_check(run, DRILL, "failed", severity="P0", section=SYSTEM_RECOVERY, says=("pg_restore",))
    assert_restored_checks_error(run)
    assert not {DRILL, *RESTORED} & passed(run)


def test_missing_table_and_too_few_rows_fail_data_recovery(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    directory = backup_dir(tmp_path, daily(), dumps.gz)
    config = restore_config(
        tmp_path,
        directory.as_uri(),
        expect_tables=[*APP_TABLES, "Orders"],
        min_rows={"User": 10_000_000, "Account": 1},
    )

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    assert_check(run, TABLES, "failed", severity="P0", section=DATA_RECOVERY, says=("missing Orders",))
    rows = assert_check(
        run, ROWS, "failed", severity="P0", section=DATA_RECOVERY, says=("User >= 10000000", "User: 3000")
    )
    assert "Account" not in rows["message"]  # enough accounts: only the short table is named
    assert rows["metrics"]["row_counts"]["User"] == 3000
    assert passed(run) == set(ALL_CHECKS) - {ENCRYPTED, TABLES, ROWS}


def test_configured_testcontainers_without_docker_errors_and_never_falls_back(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock_dir = Path(tempfile.mkdtemp(prefix="opscheck-nodocker-"))
    try:
        socket_path = sock_dir / "docker.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:  # bound, never listening
            bound.bind(str(socket_path))
            monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
            directory = backup_dir(tmp_path, daily(), dumps.gz)
            config = restore_config(tmp_path, directory.as_uri(), provider="testcontainers")
            run = restore_run(pytester, tmp_path, config)
    finally:
        shutil.rmtree(sock_dir, ignore_errors=True)

    assert run.ret == 1, run.output
    drill = assert_check(
        run, DRILL, "error", severity="P0", section=SYSTEM_RECOVERY, says=("start dockerd", str(socket_path))
    )
    assert "restore_provider" not in drill["metrics"]  # no local server was started instead
    assert_restored_checks_error(run)
    assert passed(run) == {SIZE, STREAM, ROLES, RPO, RETENTION}
    assert "restore provider testcontainers: cannot run" in run.result.stdout.str()


# ================================================================ the trap, shown directly, and the guard


def test_runbook_pipe_commits_a_cut_dump_that_restore_backup_refuses(
    pg_cluster: LocalCluster, pg_database: str, dumps: Dumps, tmp_path: Path
) -> None:
    path = tmp_path / "backup_20240110_020000.sql.gz"
    path.write_bytes(gzip_bytes(cut_inside_copy(dumps.plain, rows=1000)))

    # the runbook's own restore (Database Operations) into a scratch database: exit 0, partial data committed
    scratch = pg_database.rsplit("/", 1)[1]
    psql = pg_cluster.client_command(
        "psql", scratch, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"
    )
    pipe = f"gunzip -c {shlex.quote(str(path))} | {shlex.join(psql)}"
    proc = subprocess.run(["bash", "-c", pipe], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    with psycopg.connect(pg_database, connect_timeout=10) as conn:
        assert conn.execute('SELECT count(*) FROM "User"').fetchone() == (1000,)
        assert conn.execute('SELECT count(*) FROM "Session"').fetchone() == (dumps.counts["Session"],)

    # opscheck's restore of the same bytes: CheckFailed, and nothing committed in the target database
    (backup,) = FileStore(tmp_path).list()
    try:
        with open(path, "rb") as stream, pytest.raises(CheckFailed) as caught:
            restore_backup(pg_cluster, RestoreGuard([]), backup, stream, deadline_s=60)
        assert 'cut inside the COPY data of public."User"' in caught.value.seen
        with psycopg.connect(pg_cluster.dsn("restored"), connect_timeout=10) as conn:
            assert conn.execute("""SELECT to_regclass('public."User"')""").fetchone() == (None,)
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
            assert tables == (0,)
    finally:
        pg_cluster.drop_database("restored")


def test_restore_guard_refuses_anything_but_a_throwaway_server(pg_cluster: LocalCluster) -> None:
    guard = RestoreGuard([pg_cluster.dsn()])

    with pytest.raises(RestoreRefused, match="only a throwaway server"):
        guard.check(object())
    with psycopg.connect(pg_cluster.dsn(), connect_timeout=10) as conn, pytest.raises(RestoreRefused):
        guard.check(conn)  # a connection to a real database is not a target either
    with pytest.raises(RestoreRefused) as caught:
        guard.check(pg_cluster)  # a LocalCluster, but it is a configured environment's database
    assert f"127.0.0.1:{pg_cluster.port}" in str(caught.value)
    assert "configured environment's database" in str(caught.value)
    assert pg_cluster.password not in str(caught.value)

    with pytest.raises(RestoreRefused):  # the same server under the name localhost
        RestoreGuard([f"postgresql://app:secret@localhost:{pg_cluster.port}/app"]).check(pg_cluster)
    RestoreGuard([f"postgresql://app:secret@127.0.0.1:{closed_port()}/app"]).check(pg_cluster)  # another port


# ========================================================================================== SIGTERM


def _still_running(pid: int, argv: list[str]) -> bool:
    process = process_table().get(pid)
    return process is not None and process.argv == argv and process.alive


@pytest.mark.xdist_group("restore")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("provider", PROVIDERS, indirect=True)
def test_signal_during_the_restore_ends_promptly_and_leaves_nothing(
    tmp_path: Path, slow_dump: bytes, run_tmpdir: Path, provider: str, sig: signal.Signals
) -> None:
    directory = backup_dir(tmp_path, daily(3), slow_dump)
    config = restore_config(
        tmp_path, directory.as_uri(), provider=provider, expect_tables=["ledger"], retention_days=2
    )
    reports = tmp_path / "reports"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # TMPDIR: run_tmpdir
    argv = [
        sys.executable, "-m", "pytest", str(RESTORE_SUITE), "--env", ENV, "--opscheck-config", str(config),
        "--opscheck-reports", str(reports), "-p", "no:cacheprovider", "-p", "no:xdist",
    ]  # fmt: skip
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    container: str | None = None
    try:
        deadline = time.monotonic() + 90
        client: list[str] | None = None
        while client is None:
            assert proc.poll() is None, (
                f"the run ended before the restore started:\n{log.read_text()[-3000:]}"
            )
            assert time.monotonic() < deadline, f"the restore never started:\n{log.read_text()[-3000:]}"
            time.sleep(0.05)
            client = restore_client(descendant_argvs(proc.pid))
        time.sleep(1.0)  # well inside the ~10 s restore
        children = descendant_argvs(proc.pid)
        assert restore_client(children) is not None, "the restore ended before the signal"
        container = client[client.index("psql") - 1] if provider == "testcontainers" else None
        if container is None:  # the local server lives in the run's TMPDIR: its removal is checked below
            assert [p.name for p in run_tmpdir.iterdir() if p.name.startswith("opscheck-pg-")]
        else:
            assert container in labelled_containers()

        took = signal_and_wait(proc, sig, within_s=15, log=log)
    finally:
        kill_session(proc)
        if container is not None and container in labelled_containers():
            remove_container(container)

    output = log.read_text(errors="replace")
    print(f"the run ended {took:.1f} s after {sig.name}")
    assert took < 15, took

    # nothing of that run is left: no process it started, no server or temp directory, no container
    time.sleep(0.2)
    left = {pid: argv for pid, argv in children.items() if _still_running(pid, argv)}
    assert not left, f"processes left behind: {left}"
    running = [process.argv for process in process_table().values() if process.alive]
    assert not [argv for argv in running if any(str(run_tmpdir) in arg for arg in argv)]
    assert list(run_tmpdir.iterdir()) == [], "the run left files in its TMPDIR"
    if container is not None:
        assert container not in labelled_containers(), f"container {container[:12]} was left running"

    summary = json.loads((reports / "opscheck-summary.json").read_text())
    assert summary["interrupted"] is True, output[-3000:]
    assert summary["exit_status"] == pytest.ExitCode.INTERRUPTED
    assert ("KeyboardInterrupt: signal 15" if sig == signal.SIGTERM else "KeyboardInterrupt") in output
    assert "INTERRUPTED" in output
    # the backup is read once, checked and restored in the same pass: the first check that needs it (the
    # stream check) is the one the signal interrupts; neither it nor the drill is ever reported as passed
    checks = {c["nodeid"].split("::")[-1]: c for c in summary["checks"]}
    assert checks[STREAM]["outcome"] == "error", checks[STREAM]
    assert checks[STREAM]["message"] == "did not finish: the run was interrupted"
    assert checks.get(DRILL, {"outcome": "not run"})["outcome"] != "passed"


# ===================================================================================== ROLES, EXTENSIONS


@pytest.mark.parametrize("fmt", ["sql.gz", "dump"])
def test_roles_the_recovery_does_not_create_fail_their_own_check_naming_each_and_both_ways_out(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps, fmt: str
) -> None:
    """The drill still restores (it creates role app itself, owners and grants included, for custom dumps
    too); the P1 check says the recovery procedure would fail on a fresh server."""
    directory = tmp_path / "backups"
    directory.mkdir()
    write_backup(directory, daily(1)[0], dumps.gz if fmt == "sql.gz" else dumps.custom, ext=fmt)
    config = restore_config(tmp_path, directory.as_uri(), roles=(), retention_days=1)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    skip = "pg_restore --no-owner --no-acl" if fmt == "dump" else "a pg_dump --no-owner --no-acl dump"
    check = assert_check(
        run,
        ROLES,
        "failed",
        severity="P1",
        section=SYSTEM_RECOVERY,
        says=(
            "1 role(s) not in [restore] roles: 'app'",
            'CREATE ROLE "app" NOLOGIN;',
            skip,
            "GRANTs are lost",
        ),
    )
    assert check["metrics"]["roles_needed"] == ["app"]
    assert check["metrics"]["roles_undeclared"] == ["app"]
    assert passed(run) == set(ALL_CHECKS) - {ENCRYPTED, ROLES}, run.output


def test_an_extension_the_throwaway_server_lacks_fails_the_drill_with_the_image_advice(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps
) -> None:
    directory = tmp_path / "backups"
    directory.mkdir()
    write_backup(directory, daily(1)[0], gzip_bytes(with_missing_extension(dumps.plain)))
    config = restore_config(tmp_path, directory.as_uri(), retention_days=1)

    run = restore_run(pytester, tmp_path, config)

    assert run.ret == 1, run.output
    assert_check(
        run,
        DRILL,
        "failed",
        severity="P0",
        section=SYSTEM_RECOVERY,
        says=(
            'extension "opscheck_no_such_vector" is not available',
            "set [restore] image to a PostgreSQL image that ships it",
        ),
    )
    assert_restored_checks_error(run)


def test_a_create_dump_of_a_database_every_server_has_fails_before_restoring_with_advice(
    pg_cluster: LocalCluster, tmp_path: Path
) -> None:
    body = gzip_bytes(pg_dump(pg_cluster, "postgres", "-C"))
    path = write_backup(tmp_path, daily(1)[0], body)
    (backup,) = FileStore(tmp_path).list()
    facts = verify_plain_gzip(io.BytesIO(body), backup.name)
    assert facts.create_database == "postgres"
    with LocalCluster() as server, open(path, "rb") as stream, pytest.raises(CheckFailed) as caught:
        restore_backup(server, RestoreGuard([]), backup, stream, deadline_s=60, verified=facts)
    assert "it creates database 'postgres', which every fresh server already has" in caught.value.seen
    assert "take the backup without -C" in caught.value.seen


# ================================================================================= one pass over the backup


class _Watched(io.RawIOBase):
    """A backup file handed out 16 KiB per read; the read at half of it waits (up to 5 s) for ``go`` and
    records whether it came."""

    def __init__(self, path: str, go: Any) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._half = os.path.getsize(path) // 2
        self._go = go
        self.waited_for_the_server: bool | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._file.tell() >= self._half and self.waited_for_the_server is None:
            self.waited_for_the_server = self._go.wait(timeout=5)
        return self._file.readinto(memoryview(buffer)[: 16 * 1024])

    def close(self) -> None:
        self._file.close()
        super().close()


def test_the_drill_reads_the_backup_once_booting_the_server_meanwhile_and_verifies_in_parallel(
    tmp_path: Path, dumps: Dumps, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = backup_dir(tmp_path, daily(3), dumps.gz)
    config = restore_config(tmp_path, directory.as_uri(), retention_days=2, min_rows=dumps.counts)
    drill = Drill(load_config(config).environment(ENV), "latest", [])
    starting = threading.Event()
    real_start = drill_module.start_server

    def start_server(*args: Any) -> Any:
        starting.set()
        return real_start(*args)

    opened: list[_Watched] = []

    def open_backup(backup: Backup) -> Any:
        opened.append(_Watched(backup.key, starting))
        return opened[-1]

    monkeypatch.setattr(drill_module, "start_server", start_server)
    monkeypatch.setattr(drill.store, "open", open_backup)
    try:
        facts, roles = drill.facts()
        restored = drill.restored()
        verified = drill.verification()
    finally:
        drill.close()

    assert len(opened) == 1, "the backup was read more than once"
    assert opened[0].waited_for_the_server is True, "the server started only after the backup was read"
    # the stream check's verdict comes from the pass that restored it
    assert facts.uncompressed_bytes == restored.uncompressed_bytes == len(dumps.plain)
    assert roles == {"app"}
    assert restored.roles_created == ["app"]
    assert verified.counts == dumps.counts
    assert verified.indexes_checked >= 7
    assert verified.seconds > 0


def test_verification_queries_run_side_by_side(
    pg_cluster: LocalCluster, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    psql_ok(pg_cluster, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100)",
            dbname=pg_database.rsplit("/", 1)[1])  # fmt: skip

    def slowed(query: Any) -> Any:
        def run(*args: Any) -> Any:
            time.sleep(1.0)
            return query(*args)

        return run

    for name in ("estimated_counts", "exact_counts", "amcheck_indexes"):
        monkeypatch.setattr(verification, name, slowed(getattr(verification, name)))
    began = time.monotonic()
    verified = verification.verify_restored(pg_database, {"t"})
    took = time.monotonic() - began

    assert verified.counts == {"t": 100}
    assert verified.amcheck() == 1
    assert took < 2.5, f"three 1 s queries took {took:.1f} s: not side by side"


def test_a_drill_pass_with_its_errors_survives_pickling() -> None:
    """xdist workers share the drill's pass as a pickle: the errors in it must come back as they were."""
    stream = CheckFailed("gzip stream of b.sql.gz", "complete", "truncated after 10 compressed bytes")
    unreachable = TargetUnreachable("download of s3://b/k", "connection ended early")
    outcome = DrillPass(None, stream, None, unreachable)

    back = pickle.loads(pickle.dumps(outcome))  # noqa: S301 - our own bytes

    assert isinstance(back.stream_error, CheckFailed)
    assert (back.stream_error.checked, back.stream_error.expected, back.stream_error.seen) == (
        stream.checked, stream.expected, stream.seen,
    )  # fmt: skip
    assert str(back.stream_error) == str(stream)
    assert isinstance(back.restore_error, TargetUnreachable)
    assert back.restore_error.reason == "connection ended early"
