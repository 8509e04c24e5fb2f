"""Finding and removing the throwaway servers opscheck left on this machine.

A run killed with SIGKILL (a CI job's hard timeout, the OOM killer) cannot stop what it started. Every
server therefore leaves a record (:mod:`opscheck.restore.servers.registry`) naming its owner process; :func:`reap_orphans`
(run at the start of every pytest run) removes those whose owner is gone, and :func:`survey` /
:func:`remove` back ``opscheck cleanup``, which lists and removes everything opscheck started here.

Nothing is touched that opscheck cannot prove it started: local clusters only through their records,
containers only through their records or the labels opscheck puts on them, and only those recorded under
this state directory and on this machine. A server whose owner still runs is never reaped.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from opscheck.errors import OpscheckError
from opscheck.restore.servers import local, registry
from opscheck.restore.servers.owner import Owner, stop_process_group
from opscheck.restore.servers.registry import ServerRecord
from opscheck.run.shield import shielded

__all__ = ["Found", "reap_orphans", "remove", "stop_recorded_process", "survey"]

Status = Literal["orphaned", "kept", "in use", "elsewhere"]

_DOCKER_TIMEOUT_S = 5.0


@dataclass
class Found:
    """A throwaway server opscheck started: what it is, who owns it, and whether that owner still runs."""

    kind: str
    status: Status
    description: str
    owner: Owner | None
    state: dict[str, str] = field(default_factory=dict)
    record_id: str | None = None

    def line(self) -> str:
        if self.status == "kept":
            whose = "kept (opscheck demo --keep)"
        elif self.owner is None:
            whose = "no owner recorded"
        else:
            whose = {
                "orphaned": f"owner {self.owner.describe()} is gone",
                "in use": f"owner {self.owner.describe()} is running",
                "elsewhere": f"owner {self.owner.describe()}: another machine, left alone",
            }[self.status]
        return f"{self.description}: {whose}"


def _status(owner: Owner | None) -> Status:
    if owner is None:
        return "kept"
    if not owner.on_this_machine():
        return "elsewhere"
    return "in use" if owner.alive() else "orphaned"


def _from_record(record: ServerRecord) -> Found:
    return Found(
        record.kind, _status(record.owner), record.describe(), record.owner, dict(record.state), record.id
    )


def _docker_socket_present() -> bool:
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        return True
    return Path(host.removeprefix("unix://") or "/var/run/docker.sock").exists()


def _labelled_containers(known: set[str]) -> list[Found]:
    """Containers labelled with this state directory that have no record (the record was lost)."""
    if not _docker_socket_present():
        return []
    from opscheck.restore.servers import engine  # noqa: PLC0415 - the Docker SDK only when needed (run start-up cost)

    found: list[Found] = []
    label_filter = f"{registry.NAMESPACE_LABEL}={registry.namespace()}"
    for labels, container_id, image in engine.list_labelled(label_filter, _DOCKER_TIMEOUT_S):
        token = labels.get(engine.LABEL, "")
        if not token or token in known:
            continue
        owner = Owner.from_text(labels.get(registry.OWNER_LABEL, ""))
        state = {
            "provider": "testcontainers",
            "container_id": container_id,
            "label": f"{engine.LABEL}={token}",
            "image": image,
        }
        status: Status = "orphaned" if owner is None else _status(owner)
        found.append(
            Found("testcontainers", status, f"container {container_id[:12]} ({image})", owner, state)
        )
    return found


def survey(*, docker: bool = True) -> tuple[list[Found], list[str]]:
    """Every throwaway server recorded under this state directory, plus (``docker``) containers that
    carry its label without a record; and the problems met while looking (Docker not answering)."""
    found = [_from_record(record) for record in registry.records()]
    problems: list[str] = []
    if docker:
        known = {f.state.get("label", "").partition("=")[2] for f in found if f.kind == "testcontainers"}
        try:
            found += _labelled_containers(known)
        except OpscheckError as exc:
            problems.append(f"containers without a record could not be listed: {exc}")
    return found, problems


def remove(server: Found) -> None:
    """Stop and remove ``server`` (and forget its record); OpscheckError when that fails."""
    state = dict(server.state)
    if server.record_id:
        state["record"] = server.record_id
    if server.kind == "testcontainers":
        from opscheck.restore.servers import container  # noqa: PLC0415 - the Docker SDK only when needed

        container.stop_detached(state)
    elif server.kind == "process":
        stop_recorded_process(state)
    elif server.kind == "local":
        if state.get("tmpdir"):
            local.stop_detached(state)
        elif server.record_id:
            registry.forget(server.record_id)
    else:
        raise OpscheckError(f"unknown kind of server {server.kind!r} in record {server.record_id}")


def stop_recorded_process(state: dict[str, str]) -> None:
    """Stop the process group of a recorded server process, only if that very process still runs (the
    same pid and start time: never a later process that got its pid), then forget its record."""
    with shielded():
        pid = state.get("pid", "")
        running = Owner.of(int(pid)) if pid.isdigit() else None
        if running is not None and str(running.start_ticks) == state.get("start_ticks"):
            stop_process_group(running.pid)
        if state.get("record"):
            registry.forget(state["record"])


@contextlib.contextmanager
def _exclusive() -> Iterator[None]:
    """One reaper at a time on this state directory (two runs starting together)."""
    directory = registry.state_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (directory / "reap.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def reap_orphans() -> list[str]:
    """Remove every recorded server whose owner is gone; one line per server, saying what was done.

    Only records are consulted (no Docker call unless an orphaned container is recorded), so this is
    cheap enough for the start of every run.
    """
    lines: list[str] = []
    if not any(True for _ in _record_files()):
        return lines
    with _exclusive():
        for server in survey(docker=False)[0]:
            if server.status != "orphaned":
                continue
            try:
                remove(server)
            except OpscheckError as exc:
                lines.append(f"could not reap {server.line()}: {exc}")
            else:
                lines.append(f"reaped {server.line()}")
    return lines


def _record_files() -> Iterator[Any]:
    directory = registry.state_dir() / "servers"
    with contextlib.suppress(OSError):
        yield from directory.glob("*.json")
