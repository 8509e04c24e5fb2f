"""An owner is a process, not a pid: a reused pid, an earlier boot or a zombie is not the owner."""

from __future__ import annotations

import subprocess
import sys
import time

from opscheck.owner import Owner


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
