"""Killed runs leave nothing behind for long: records, the start-up reaper, ``opscheck cleanup``, signals.

Every test uses a state directory of its own (``OPSCHECK_STATE_DIR``), so it only ever sees the servers it
started itself; the servers other runs on this machine have running are never looked at. The restore runs
are the real ``suites/restore`` in a subprocess, killed with a real SIGKILL or hit by a train of SIGTERMs
while the drill restores into a real local cluster or a real container.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from opscheck.restore.servers.local import LocalCluster
from opscheck.restore.servers.owner import run_owner
from tests.support.docker_engine import labelled_containers, remove_container
from tests.support.processes import is_alive
from tests.support.restore_run import (
    DRILL,
    PROVIDERS,
    RPO,
    backup_dir,
    daily,
    descendant_argvs,
    restore_client,
    restore_config,
)
from tests.support.suite_run import ENV, REPO, RESTORE_SUITE

#: a private TMPDIR per test that must be empty afterwards
pytestmark = pytest.mark.usefixtures("run_tmpdir")

STATE_ENV = "OPSCHECK_STATE_DIR"
OPSCHECK = [sys.executable, "-m", "opscheck.cli"]
RUN_TIMEOUT_S = 120


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own state directory (servers recorded anywhere else are invisible to it)."""
    path = tmp_path / "state"
    monkeypatch.setenv(STATE_ENV, str(path))
    return path


def _records(state: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((state / "servers").glob("*.json"))]


def _postmaster(cluster_dir: Path) -> int | None:
    with contextlib.suppress(OSError):
        first = (cluster_dir / "data" / "postmaster.pid").read_text().split("\n", 1)[0]
        return int(first) if first.isdigit() else None
    return None


# ------------------------------------------------------------------------------------- running a drill


def _start_drill(tmp_path: Path, dump: bytes, provider: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    directory = backup_dir(tmp_path, daily(3), dump)
    config = restore_config(
        tmp_path, directory.as_uri(), provider=provider, expect_tables=["ledger"], retention_days=2
    )
    argv = [
        sys.executable, "-m", "pytest", str(RESTORE_SUITE), "--env", ENV, "--opscheck-config", str(config),
        "--opscheck-reports", str(tmp_path / "reports"), "-p", "no:cacheprovider", "-p", "no:xdist",
    ]  # fmt: skip
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return proc, config, log


def _wait_mid_restore(proc: subprocess.Popen[bytes], log: Path) -> list[str]:
    """Block until the drill's psql is restoring (then a second more); its argv."""
    deadline = time.monotonic() + 90
    client = None
    while client is None:
        assert proc.poll() is None, f"the run ended before the restore started:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"the restore never started:\n{log.read_text()[-3000:]}"
        time.sleep(0.05)
        client = restore_client(descendant_argvs(proc.pid))
    time.sleep(1.0)  # well inside the ~10 s restore
    assert restore_client(descendant_argvs(proc.pid)) is not None, "the restore ended too early"
    return client


@contextlib.contextmanager
def _killed_at_exit(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


def _server_of(client: list[str], provider: str, run_tmpdir: Path) -> tuple[str, Path | None]:
    """(container id, None) or ("", the local cluster's directory) the drill restores into."""
    if provider == "testcontainers":
        return client[client.index("psql") - 1], None
    clusters = [p for p in run_tmpdir.iterdir() if p.name.startswith("opscheck-pg-")]
    assert len(clusters) == 1, clusters
    return "", clusters[0]


def _server_runs(container: str, cluster: Path | None) -> bool:
    if cluster is None:
        return container in labelled_containers()
    pid = _postmaster(cluster)
    return pid is not None and is_alive(pid)


# ==================================================================================== SIGKILL mid-drill


@pytest.mark.xdist_group("restore")
@pytest.mark.parametrize("provider", PROVIDERS, indirect=True)
def test_a_run_killed_mid_drill_is_reaped_by_the_next_run(
    tmp_path: Path, slow_dump: bytes, run_tmpdir: Path, state_dir: Path, provider: str
) -> None:
    proc, config, log = _start_drill(tmp_path, slow_dump, provider)
    container, cluster = "", None
    try:
        with _killed_at_exit(proc):
            client = _wait_mid_restore(proc, log)
            container, cluster = _server_of(client, provider, run_tmpdir)
            os.kill(proc.pid, signal.SIGKILL)  # only pytest: a CI job's hard timeout, the OOM killer
            proc.wait(timeout=10)
        time.sleep(0.5)
        assert _server_runs(container, cluster), "the server died with the run: nothing to reap"
        assert len(_records(state_dir)) == 1, "the killed run's server is not recorded"

        # any later run, here a quick check of the same environment, reaps it and says so in its header
        started = time.monotonic()
        later = subprocess.run(
            [sys.executable, "-m", "pytest", str(RESTORE_SUITE), "--env", ENV, "--opscheck-config",
             str(config), "--opscheck-reports", str(tmp_path / "reports2"), "-k", RPO,
             "-p", "no:cacheprovider", "-p", "no:xdist"],
            cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
        )  # fmt: skip
        took = time.monotonic() - started
        header = later.stdout.split("collected", 1)[0]
        assert "servers left by killed runs" in header, later.stdout[-3000:]
        what = f"container {container[:12]}" if cluster is None else f"local cluster {cluster}"
        assert f"reaped {what}" in header, header
        assert f"owner pid {proc.pid} is gone" in header, header
        assert later.returncode == 0, later.stdout[-3000:]
        print(f"the next run reaped the {provider} server and finished in {took:.1f} s")

        assert not _server_runs(container, cluster), "the orphaned server still runs"
        if cluster is not None:
            assert not cluster.exists(), "the orphaned cluster's directory is still there"
        assert _records(state_dir) == []
    finally:
        if container and container in labelled_containers():
            remove_container(container)


# ======================================================================== SIGTERMs during the cleanup


@pytest.mark.xdist_group("restore")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("provider", PROVIDERS, indirect=True)
def test_signals_in_a_row_during_cleanup_leave_nothing_behind(
    tmp_path: Path, slow_dump: bytes, state_dir: Path, provider: str, *, sig: signal.Signals, run_tmpdir: Path
) -> None:
    proc, _config, log = _start_drill(tmp_path, slow_dump, provider)
    container, cluster = "", None
    sent = 0
    try:
        with _killed_at_exit(proc):
            client = _wait_mid_restore(proc, log)
            container, cluster = _server_of(client, provider, run_tmpdir)
            # the first signal starts the cleanup; the others arrive while it runs (every 50 ms)
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline:
                proc.send_signal(sig)
                sent += 1
                time.sleep(0.05)
            assert proc.poll() is not None, (
                f"still running after {sent} {sig.name}s:\n{log.read_text()[-3000:]}"
            )
        output = log.read_text(errors="replace")
        print(f"{sent} {sig.name}s; the run exited with {proc.returncode}")
        assert sent >= 2, output[-2000:]
        time.sleep(0.5)
        assert not _server_runs(container, cluster), f"the server was left running:\n{output[-3000:]}"
        if cluster is not None:
            assert not cluster.exists(), f"the cluster directory was left behind:\n{output[-3000:]}"
        assert _records(state_dir) == [], output[-3000:]
        summary = json.loads((tmp_path / "reports" / "opscheck-summary.json").read_text())
        assert summary["interrupted"] is True
        drill = next(c for c in summary["checks"] if c["nodeid"].endswith("::" + DRILL))
        assert drill["outcome"] == "error"
    finally:
        if container and container in labelled_containers():
            remove_container(container)
    # run_tmpdir (autouse) then fails the test if anything of the run is left in its TMPDIR


# ============================================================================ opscheck cleanup, reaper

_START_AND = """
import os, signal, sys
from opscheck.restore.servers.owner import run_owner
from opscheck.restore.servers.local import LocalCluster
cluster = LocalCluster().start()
print(cluster.socket_dir, flush=True)
if sys.argv[1] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
cluster.detach()
"""


def _cluster_in_subprocess(how: str) -> tuple[Path, int]:
    """A local cluster started by another process that then dies (``die``) or keeps it (``keep``)."""
    proc = subprocess.run(
        [sys.executable, "-c", _START_AND, how], capture_output=True, text=True, timeout=60, check=False
    )
    directory = Path(proc.stdout.strip().splitlines()[0])
    pid = _postmaster(directory)
    assert pid is not None, proc.stderr
    assert is_alive(pid), proc.stderr
    return directory, pid


def _opscheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OPSCHECK, *args], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False, cwd=REPO
    )


def test_every_run_reaps_only_orphans_and_cleanup_removes_everything_of_its_state_dir(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_state = tmp_path / "other-state"
    orphan, orphan_pid = _cluster_in_subprocess("die")
    kept, kept_pid = _cluster_in_subprocess("keep")
    with LocalCluster() as live:  # owned by this (running) test process
        monkeypatch.setenv(STATE_ENV, str(other_state))
        foreign, foreign_pid = _cluster_in_subprocess("die")  # another state directory's orphan
        monkeypatch.setenv(STATE_ENV, str(state_dir))
        try:
            assert len(_records(state_dir)) == 3

            listed = _opscheck("cleanup", "--dry-run")
            assert listed.returncode == 0, listed.stderr
            print(listed.stdout)
            assert f"3 throwaway server(s) recorded in {state_dir}" in listed.stdout
            assert f"would remove: local cluster {orphan}" in listed.stdout
            assert f"would remove: local cluster {kept}" in listed.stdout
            assert "kept (opscheck demo --keep)" in listed.stdout
            assert f"would remove: local cluster {live.socket_dir}" in listed.stdout
            assert f"owner pid {run_owner().pid} is running" in listed.stdout  # the xdist controller, or us
            assert str(foreign) not in listed.stdout
            assert all(is_alive(pid) for pid in (orphan_pid, kept_pid, live.pid or 0, foreign_pid))

            # a run (any pytest run) reaps the orphan only: never a kept server or one whose owner runs
            empty = tmp_path / "empty"
            empty.mkdir()
            run = subprocess.run(
                [sys.executable, "-m", "pytest", str(empty), "-p", "no:cacheprovider"],
                capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False, cwd=empty,
            )  # fmt: skip
            assert f"reaped local cluster {orphan}" in run.stdout, run.stdout
            assert not orphan.exists()
            assert not is_alive(orphan_pid)
            assert is_alive(kept_pid)
            assert is_alive(live.pid or 0)
            assert is_alive(foreign_pid)
            assert str(kept) not in run.stdout
            assert str(live.socket_dir) not in run.stdout

            removed = _opscheck("cleanup")
            assert removed.returncode == 0, removed.stdout + removed.stderr
            assert f"removed: local cluster {kept}" in removed.stdout
            assert f"removed: local cluster {live.socket_dir}" in removed.stdout
            assert not is_alive(kept_pid)
            assert not kept.exists()
            assert not is_alive(live.pid or 0)
            assert not live.socket_dir.exists()
            assert _records(state_dir) == []
            assert is_alive(foreign_pid), "cleanup touched another state dir's server"
            assert foreign.exists(), "cleanup touched another state dir's server"
            assert "0 throwaway server(s)" in _opscheck("cleanup", "--dry-run").stdout
        finally:
            monkeypatch.setenv(STATE_ENV, str(other_state))
            _opscheck("cleanup")
            monkeypatch.setenv(STATE_ENV, str(state_dir))
            _opscheck("cleanup")
    assert not foreign.exists()


_START_CONTAINER_AND_DIE = """
import os, signal
from opscheck.restore.servers.container import ContainerCluster
cluster = ContainerCluster().start()
print(cluster.container_id, os.getpid(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.xdist_group("restore")
@pytest.mark.usefixtures("docker_ready")
def test_cleanup_finds_an_orphaned_container_by_its_labels_even_without_a_record(
    state_dir: Path,
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _START_CONTAINER_AND_DIE], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    container, _, owner_pid = proc.stdout.strip().partition(" ")
    try:
        assert container in labelled_containers(), proc.stderr[-2000:]
        for record in (state_dir / "servers").glob("*.json"):
            record.unlink()  # the record is lost: only the container's labels are left

        listed = _opscheck("cleanup", "--dry-run")
        assert f"would remove: container {container[:12]}" in listed.stdout, listed.stdout + listed.stderr
        assert f"owner pid {owner_pid} is gone" in listed.stdout, listed.stdout
        assert container in labelled_containers()

        removed = _opscheck("cleanup")
        assert f"removed: container {container[:12]}" in removed.stdout, removed.stdout + removed.stderr
        assert container not in labelled_containers()
    finally:
        if container in labelled_containers():
            remove_container(container)


# ==================================================================================== the demo's stack

DEMO = [sys.executable, "-m", "opscheck.cli", "demo", "--suites", "smoke"]


def _refused(url: str) -> bool:
    host, _, port = url.split("://", 1)[1].partition(":")
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, int(port.split("/", 1)[0]))) != 0


def _stack(workdir: Path) -> tuple[str, str]:
    """The app's and the local S3's URLs the demo wrote into its config."""
    text = (workdir / "opscheck.toml").read_text()
    app = re.search(r'base_url = "([^"]+)"', text)
    s3 = re.search(r's3_endpoint_url = "([^"]+)"', text)
    assert app is not None
    assert s3 is not None
    return app.group(1), s3.group(1)


@pytest.mark.xdist_group("reference-app")
def test_cleanup_removes_a_kept_demo_stack_and_a_run_reaps_a_killed_demo(
    tmp_path: Path, state_dir: Path
) -> None:
    kept_dir, killed_dir = tmp_path / "kept", tmp_path / "killed"
    # each demo stack: its PostgreSQL, S3 and app, and a Pushgateway where one is installed
    parts = 4 if shutil.which("prometheus-pushgateway") else 3
    kept = subprocess.run(
        [*DEMO, "--keep", "--workdir", str(kept_dir)], cwd=REPO, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert kept.returncode == 0, kept.stdout[-3000:] + kept.stderr[-3000:]
    kept_app, kept_s3 = _stack(kept_dir)

    log = tmp_path / "killed.log"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [*DEMO, "--workdir", str(killed_dir)], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    with _killed_at_exit(demo):
        deadline = time.monotonic() + 600
        while "demo: PostgreSQL via" not in log.read_text(errors="replace"):
            assert demo.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.02)
        # the demo and the pytest it is starting die (a CI job's hard timeout kills its process group);
        # the stack's servers run in sessions of their own and are left behind
        os.killpg(demo.pid, signal.SIGKILL)
        demo.wait(timeout=10)
        killed_app, killed_s3 = _stack(killed_dir)
        assert not _refused(killed_app)
        assert not _refused(killed_s3)

        listed = _opscheck("cleanup", "--dry-run")
        print(listed.stdout)
        assert listed.stdout.count("kept (opscheck demo --keep)") == parts, listed.stdout
        assert listed.stdout.count(f"owner pid {demo.pid} is gone") == parts, listed.stdout

        empty = tmp_path / "empty"
        empty.mkdir()
        run = subprocess.run(
            [sys.executable, "-m", "pytest", str(empty), "-p", "no:cacheprovider"],
            capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False, cwd=empty,
        )  # fmt: skip
        assert "reaped process" in run.stdout, run.stdout
        assert run.stdout.count(f"owner pid {demo.pid} is gone") == parts, run.stdout
        assert _refused(killed_app)
        assert _refused(killed_s3)
        assert not _refused(kept_app), "a run reaped the kept stack"

        removed = _opscheck("cleanup")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        assert removed.stdout.count("removed:") == parts, removed.stdout
        assert _refused(kept_app)
        assert _refused(kept_s3)
        assert _records(state_dir) == []
    assert _opscheck("demo", "--stop", "--workdir", str(kept_dir)).returncode == 0  # nothing left to stop
