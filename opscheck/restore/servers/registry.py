"""The record of every throwaway server opscheck started on this machine and has not removed yet.

Each server writes ``<state dir>/servers/<id>.json`` *before* it creates anything (directory, container)
and deletes it only after everything is gone, so a process killed at any point leaves a record that a
later run can act on. A record names the kind of server (a local cluster, a container, or a server process such as the
demo's app), what :func:`opscheck.restore.servers.reaper.remove` needs
to remove it, and its owner (see :mod:`opscheck.restore.servers.owner`); a server kept on purpose (``opscheck demo
--keep``) has no owner and is only removed by ``opscheck demo --stop`` or ``opscheck cleanup``.

The state directory is ``$OPSCHECK_STATE_DIR``, else ``$XDG_STATE_HOME/opscheck``, else
``~/.local/state/opscheck``. Containers also carry their owner and this directory as Docker labels
(:data:`NAMESPACE_LABEL`), so ``opscheck cleanup`` finds them even without a record and never touches
containers recorded under another state directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from opscheck.restore.servers.owner import Owner

__all__ = [
    "NAMESPACE_LABEL",
    "OWNER_LABEL",
    "STATE_DIR_ENV",
    "ServerRecord",
    "forget",
    "keep_ledger",
    "namespace",
    "new_record_id",
    "record_process",
    "records",
    "state_dir",
    "write",
]

STATE_DIR_ENV = "OPSCHECK_STATE_DIR"
#: Docker label: the state directory (namespace) a container was recorded under
NAMESPACE_LABEL = "org.opscheck.state-dir"
#: Docker label: the owner process of a container (``Owner.as_text()``; empty when kept)
OWNER_LABEL = "org.opscheck.owner"


def state_dir() -> Path:
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return (base / "opscheck").resolve()


def namespace() -> str:
    """The value of :data:`NAMESPACE_LABEL` for containers started now."""
    return str(state_dir())


def _servers_dir() -> Path:
    return state_dir() / "servers"


def new_record_id() -> str:
    return secrets.token_hex(8)


@dataclass
class ServerRecord:
    """One throwaway server: ``kind`` is ``local`` or ``testcontainers``; ``state`` is what stopping it needs."""

    id: str
    kind: str
    owner: Owner | None
    state: dict[str, str] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def kept(self) -> bool:
        return self.owner is None

    def describe(self) -> str:
        if self.kind == "process":
            return f"process {self.state.get('pid', '?')} ({self.state.get('what', '?')}), started {self.created_at}"
        if self.kind == "testcontainers":
            where = f"container {self.state.get('container_id', '')[:12] or self.state.get('label', '?')}"
            where += f" ({self.state.get('image', 'unknown image')})"
        else:
            where = f"local cluster {self.state.get('tmpdir', '?')}"
        return f"{where}, started {self.created_at}"

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "kind": self.kind,
                "owner": self.owner.as_text() if self.owner else None,
                "state": self.state,
                "created_at": self.created_at,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ServerRecord:
        data = json.loads(text)
        owner = Owner.from_text(data["owner"]) if data.get("owner") else None
        state = {str(k): str(v) for k, v in dict(data.get("state") or {}).items()}
        return cls(str(data["id"]), str(data["kind"]), owner, state, str(data.get("created_at", "")))


_ledger: dict[str, Path] = {}


def keep_ledger(directory: Path | None) -> None:
    """Also record every server this process starts in ``directory`` (an xdist run's shared directory),
    so the run's controller can stop what its workers started (see :mod:`opscheck.run.scope`)."""
    if directory is None:
        _ledger.pop("dir", None)
    else:
        _ledger["dir"] = directory


def _write_into(directory: Path, record: ServerRecord) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{record.id}.json"
    temporary = directory / f".{record.id}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(record.to_json())
    os.replace(temporary, path)


def record_process(pid: int, what: str, owner: Owner | None) -> ServerRecord:
    """Record a server process opscheck started (the demo's app, its local S3) by its identity (pid and
    start time: a later process with the same pid is never taken for it); returns the written record."""
    me = Owner.of(pid)
    state = {"pid": str(pid), "start_ticks": str(me.start_ticks if me else ""), "what": what}
    record = ServerRecord(new_record_id(), "process", owner, state)
    write(record)
    return record


def write(record: ServerRecord) -> None:
    """Create or replace ``record``'s file atomically (never a half-written record)."""
    _write_into(_servers_dir(), record)
    if "dir" in _ledger:
        _write_into(_ledger["dir"], record)


def forget(record_id: str) -> None:
    for directory in (_servers_dir(), _ledger.get("dir")):
        if directory is not None:
            with contextlib.suppress(FileNotFoundError):
                (directory / f"{record_id}.json").unlink()


def records(directory: Path | None = None) -> list[ServerRecord]:
    """Every readable record (in the state directory, or ``directory``), oldest first; unreadable files
    are skipped (and left alone)."""
    found: list[ServerRecord] = []
    try:
        paths = sorted((directory or _servers_dir()).glob("*.json"))
    except OSError:
        return found
    for path in paths:
        try:
            found.append(ServerRecord.from_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    found.sort(key=lambda r: r.created_at)
    return found
