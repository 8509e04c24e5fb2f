"""An owner is a process, not a pid: a reused pid, an earlier boot or a zombie is not the owner."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opscheck.demo.backups import LocalS3
from opscheck.demo.pushgateway import LocalPushgateway
from opscheck.restore.servers.owner import Owner


def test_owner_is_a_process_not_a_pid() -> None:
    me = Owner.current()
    assert me.alive()
    assert Owner.from_text(me.as_text()) == me
    # the same pid with another start time is a newer process that reused the pid: not the owner
    assert not Owner(me.pid, me.start_ticks + 1, me.boot_id, me.machine).alive()
    assert not Owner(me.pid, me.start_ticks, "an-earlier-boot", me.machine).alive()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        owner = Owner.of(child.pid)
        assert owner is not None
        assert owner.alive()
        child.kill()
        time.sleep(0.2)  # now a zombie until waited for: gone all the same
        assert not owner.alive()
    finally:
        child.kill()
        child.wait()
    assert not owner.alive()
    assert Owner.from_text("garbage") is None


@pytest.mark.parametrize("stack_process", ["s3", "pushgateway"])
def test_stopping_a_demo_process_whose_leader_exited_stops_what_it_left_running(
    tmp_path: Path, stack_process: str
) -> None:
    """The demo's processes stop through one helper (``owner.stop_child``): the local S3 and Pushgateway
    used to stop their process group only while its leader still ran, leaving what it had started."""
    started = subprocess.Popen(
        ["sh", "-c", "sleep 30 & echo $!; exit 0"], stdout=subprocess.PIPE, start_new_session=True
    )
    assert started.stdout is not None
    left = int(started.stdout.readline())
    started.stdout.close()
    try:
        started.wait(timeout=5)
        server: LocalS3 | LocalPushgateway = (
            LocalS3(0, tmp_path / "s3.log")
            if stack_process == "s3"
            else LocalPushgateway(0, tmp_path / "pg.log")
        )
        server.process = started
        server.stop()
        assert server.process is None
        assert not _running(left), "the process the leader left is still running"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(started.pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for init to collect it has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in {"Z", "X"}
