"""Which process owns a throwaway server, and whether that process is still alive.

A process id alone is not an identity: pids are reused. An :class:`Owner` is a pid plus the process's
start time (clock ticks since boot, from ``/proc/<pid>/stat``) plus the machine and boot it ran on, so a
new process that happens to get the same pid is never mistaken for the owner, and an owner recorded
before a reboot or on another machine is judged accordingly.

The *run owner* is the process whose lifetime a run's shared servers follow: pytest itself, or under
pytest-xdist the controller (a worker that started the run's restore server may finish before the
others stop using it). :func:`set_run_owner` is called on xdist workers with the controller's identity.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Owner", "machine_id", "run_owner", "set_run_owner", "stop_child", "stop_process_group"]

_STOP_TIMEOUT_S = 10.0

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@functools.cache
def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip()
    except OSError:
        return ""


@functools.cache
def machine_id() -> str:
    """This machine's name for owner records: the host name (containers of a shared daemon carry it)."""
    return socket.gethostname()


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` from the state field on (field 3), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return stat.rpartition(")")[2].split()


def _start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return None
    return int(fields[19])  # field 22, starttime


@dataclass(frozen=True)
class Owner:
    """A process identity that survives pid reuse: pid, start time, boot and machine."""

    pid: int
    start_ticks: int
    boot_id: str
    machine: str

    @classmethod
    def of(cls, pid: int) -> Owner | None:
        """The identity of the running process ``pid`` (None when there is none)."""
        ticks = _start_ticks(pid)
        if ticks is None:
            return None
        return cls(pid, ticks, _boot_id(), machine_id())

    @classmethod
    def current(cls) -> Owner:
        me = cls.of(os.getpid())
        return me if me is not None else cls(os.getpid(), 0, _boot_id(), machine_id())

    def on_this_machine(self) -> bool:
        return self.machine == machine_id()

    def alive(self) -> bool:
        """True while the very process recorded runs (not a zombie, not a newer one with its pid).

        Only meaningful for owners on this machine; an owner from an earlier boot is gone.
        """
        if self.boot_id != _boot_id():
            return False
        fields = _stat_fields(self.pid)
        if fields is None or len(fields) < 20:
            return False
        return fields[0] not in {"Z", "X"} and int(fields[19]) == self.start_ticks

    def as_text(self) -> str:
        """``pid:start_ticks:boot_id:machine``, as stored in records and Docker labels."""
        return f"{self.pid}:{self.start_ticks}:{self.boot_id}:{self.machine}"

    @classmethod
    def from_text(cls, text: str) -> Owner | None:
        pid, _, rest = text.partition(":")
        ticks, _, rest = rest.partition(":")
        boot, _, machine = rest.partition(":")
        if not (pid.isdigit() and ticks.isdigit()):
            return None
        return cls(int(pid), int(ticks), boot, machine)

    def describe(self) -> str:
        return f"pid {self.pid}" + ("" if self.on_this_machine() else f" on {self.machine}")


_run_owner: Owner | None = None


def set_run_owner(owner: Owner | None) -> None:
    """Make ``owner`` (the xdist controller) the owner of servers this process starts for the run."""
    global _run_owner  # noqa: PLW0603 - one per process, set once by the plugin
    _run_owner = owner


def run_owner() -> Owner:
    """The owner new throwaway servers record: the run's controller under xdist, else this process."""
    return _run_owner if _run_owner is not None else Owner.current()


def stop_process_group(pid: int, timeout_s: float = _STOP_TIMEOUT_S) -> None:
    """SIGTERM the process group ``pid`` leads, SIGKILL it when it outlives the grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)


def stop_child(process: subprocess.Popen[Any], timeout_s: float = _STOP_TIMEOUT_S) -> None:
    """Stop a child started in a session of its own (``start_new_session=True``): its whole process group,
    as :func:`stop_process_group` does, then collect its exit status."""
    stop_process_group(process.pid, timeout_s)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=1)
