"""Once per run, whatever the worker count: the restore drill and the smoke probes under ``-n 2``.

The real suites run in a subprocess with two xdist workers against real targets (a local HTTP app that
counts the requests it gets; real backups restored into a real local cluster or container). Both workers
must run checks that use the shared results, and the target must see the work done once.
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from opscheck.errors import CheckFailed
from opscheck.restore.expectations import amcheck_indexes
from opscheck.restore.servers.local import LocalCluster
from opscheck.run.share import RunShare
from tests.support.docker_engine import labelled_containers
from tests.support.reference_dumps import Dumps
from tests.support.restore_run import (
    DRILL,
    PROVIDERS,
    RESTORED,
    backup_dir,
    daily,
    descendant_argvs,
    restore_client,
    restore_config,
    restore_run,
)
from tests.support.servers import LocalHTTPServer
from tests.support.smoke_run import healthy_routes, html_page, run_smoke, write_config
from tests.support.suite_run import ENV, RESTORE_SUITE

#: a private TMPDIR per test that must be empty afterwards
pytestmark = pytest.mark.usefixtures("run_tmpdir")

XDIST = ("-n", "2", "--dist", "load", "-v")
#: every check on both workers: both need the shared results, whatever the scheduling
EACH = ("-n", "2", "--dist", "each", "-v")
PAGES = ["/", "/login", "/pricing", "/docs", "/blog", "/about"]


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("OPSCHECK_STATE_DIR", str(path))
    return path


def _workers_running(output: str, test_name: str) -> set[str]:
    """The xdist workers that ran ``test_name`` (``-v`` prints ``[gwN] ... PASSED path::test``)."""
    return set(re.findall(rf"\[(gw\d+)\][^\n]*(?:PASSED|FAILED|ERROR|SKIPPED)[^\n]*::{test_name}", output))


# ============================================================================================= smoke


def test_smoke_probes_hit_each_page_once_per_run_under_xdist(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    routes = healthy_routes(extra={page: html_page(page) for page in PAGES if page not in {"/", "/login"}})
    with LocalHTTPServer(routes) as app:
        config = write_config(tmp_path, app.url, pages=PAGES)
        run = run_smoke(pytester, config, tmp_path / "reports", *EACH)
        hits = collections.Counter(r.path for r in app.requests if r.method == "GET")
    output = "\n".join(run.result.outlines)
    workers = _workers_running(output, "test_page_answers") | _workers_running(output, "test_security_header")
    assert workers == {"gw0", "gw1"}, f"both workers must judge probed pages:\n{output[-3000:]}"
    assert run.ret == 0, run.output
    assert {page: hits[page] for page in PAGES} == dict.fromkeys(PAGES, 1), hits


# =========================================================================================== restore


@pytest.mark.parametrize("provider", PROVIDERS, indirect=True)
def test_the_restore_drill_runs_once_per_run_under_xdist(
    pytester: pytest.Pytester, tmp_path: Path, dumps: Dumps, state_dir: Path, provider: str
) -> None:
    directory = backup_dir(tmp_path, daily(), dumps.gz)
    config = restore_config(tmp_path, directory.as_uri(), provider=provider)
    run = restore_run(pytester, tmp_path, config, *EACH, "--basetemp", str(tmp_path / "basetemp"))
    output = "\n".join(run.result.outlines)
    assert run.ret == 0, run.output

    users = {name: run.check(name) for name in (DRILL, *RESTORED)}
    workers = set().union(*(_workers_running(output, name) for name in users))
    assert workers == {"gw0", "gw1"}, f"both workers must use the restored database:\n{output[-3000:]}"
    measured = {name: check["metrics"].get("restore_seconds") for name, check in users.items()}
    assert None not in measured.values(), measured
    assert len(set(measured.values())) == 1, f"the backup was restored more than once: {measured}"
    ages = {check["metrics"]["backup_age_hours"] for check in run.summary["checks"] if check["metrics"]}
    assert len(ages) == 1, f"the drill's clock differs between workers: {ages}"
    # the shared server and the run's shared directory are gone with the run (run_tmpdir checks the rest)
    assert list((state_dir / "servers").glob("*.json")) == []


@pytest.mark.xdist_group("restore")
@pytest.mark.parametrize("provider", PROVIDERS, indirect=True)
def test_sigterm_to_an_xdist_run_mid_restore_leaves_no_server(
    tmp_path: Path, slow_dump: bytes, run_tmpdir: Path, state_dir: Path, provider: str
) -> None:
    directory = backup_dir(tmp_path, daily(3), slow_dump)
    config = restore_config(
        tmp_path, directory.as_uri(), provider=provider, expect_tables=["ledger"], retention_days=2
    )
    argv = [
        sys.executable, "-m", "pytest", str(RESTORE_SUITE), "--env", ENV, "--opscheck-config", str(config),
        "--opscheck-reports", str(tmp_path / "reports"), "-p", "no:cacheprovider", *XDIST,
        "--basetemp", str(tmp_path / "basetemp"),
    ]  # fmt: skip
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    container = None
    try:
        deadline = time.monotonic() + 90
        client = None
        while client is None:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
            client = restore_client(descendant_argvs(proc.pid))
        container = client[client.index("psql") - 1] if provider == "testcontainers" else None
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    output = log.read_text(errors="replace")
    time.sleep(0.5)
    if container is not None:
        assert container not in labelled_containers(), f"container left running:\n{output[-3000:]}"
    assert list((state_dir / "servers").glob("*.json")) == [], output[-3000:]
    summary = json.loads((tmp_path / "reports" / "opscheck-summary.json").read_text())
    assert summary["interrupted"] is True
    # run_tmpdir (autouse) then fails the test if a cluster directory or the shared directory is left


# ============================================================================ RunShare across processes

_RACE = """
import sys, time
from pathlib import Path
from opscheck.errors import CheckFailed
from opscheck.restore.servers.local import LocalCluster
from opscheck.restore.expectations import amcheck_indexes
from opscheck.run.share import RunShare
share = RunShare(Path(sys.argv[1]))
def produce():
    with open(sys.argv[2], "a") as log:
        log.write("produced\\n")
    time.sleep(0.5)
    return {"restore_seconds": time.time()}
def fail():
    raise CheckFailed("restore of backup_1.sql.gz", "a complete dump", "it ends early")
print(share.once("value", produce)["restore_seconds"])
try:
    share.once("failure", fail)
except CheckFailed as exc:
    print(type(exc).__name__, exc.checked, "|", exc)
"""


def test_two_processes_get_one_result_and_the_same_error(tmp_path: Path) -> None:
    log = tmp_path / "produced.log"
    argv = [sys.executable, "-c", _RACE, str(tmp_path), str(log)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [proc.communicate(timeout=60)[0].splitlines() for proc in procs]
    assert log.read_text().count("produced") == 1
    assert len({lines[0] for lines in outputs}) == 1, outputs
    expected = "CheckFailed restore of backup_1.sql.gz | restore of backup_1.sql.gz: expected a complete dump, saw it ends early"
    assert [lines[1] for lines in outputs] == [expected] * 3


def test_in_one_process_results_and_errors_are_memoised() -> None:
    share = RunShare()
    calls: list[int] = []
    assert share.once("k", lambda: calls.append(1) or len(calls)) == 1
    assert share.once("k", lambda: calls.append(1) or len(calls)) == 1

    def fail() -> None:
        calls.append(1)
        raise CheckFailed("x", "y", "z")

    for _ in range(2):
        with pytest.raises(CheckFailed, match="x: expected y, saw z"):
            share.once("bad", fail)
    assert len(calls) == 2
    assert not share.shared


def test_workers_sharing_the_restored_database_can_amcheck_it_at_the_same_time(
    pg_cluster: LocalCluster,
) -> None:
    """Two workers' ``test_indexes_pass_amcheck`` run at once on the one restored database: their
    ``CREATE EXTENSION IF NOT EXISTS amcheck`` used to collide (duplicate key in pg_extension)."""
    errors: list[str] = []
    for _ in range(8):
        name = f"shared_{uuid.uuid4().hex[:10]}"
        pg_cluster.create_database(name)

        def check(dbname: str = name) -> None:
            try:
                with psycopg.connect(pg_cluster.dsn(dbname), autocommit=True, connect_timeout=10) as conn:
                    amcheck_indexes(conn)
            except psycopg.Error as exc:
                errors.append(str(exc).splitlines()[0])

        threads = [threading.Thread(target=check) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        pg_cluster.drop_database(name)
    assert errors == []
