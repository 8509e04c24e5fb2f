"""The custom-format pass: a ``pg_dump -Fc`` archive downloaded to a temporary file while the throwaway
server starts, checked (:func:`~opscheck.restore.dumpcustom.verify_custom`), then restored with
``pg_restore --exit-on-error -j N``, owners and privileges included: every role the dump needs is created
first (so the data restore is tested; whether the recovery procedure creates those roles is a check of
its own).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from opscheck.errors import CheckFailed, OpscheckError
from opscheck.restore.backups import Backup
from opscheck.restore.dumpcustom import verify_custom
from opscheck.restore.dumps import DumpFacts
from opscheck.restore.passes import (
    CHUNK,
    DrillPass,
    PassRequest,
    Restored,
    create_roles,
    with_advice,
)
from opscheck.restore.servers.base import ThrowawayPostgres

__all__ = ["cpu_jobs", "download", "restore_custom_file", "restore_custom_pass"]


def download(stream: IO[bytes], directory: Path, name: str) -> Path:
    """The backup's bytes into ``directory/name`` (a custom dump: pg_restore -j needs a file it can seek)."""
    path = directory / name
    with path.open("wb") as out:
        shutil.copyfileobj(stream, out, CHUNK)
    return path


def restore_custom_pass(
    request: PassRequest, *, jobs: int, min_major: Callable[[DumpFacts], int]
) -> DrillPass:
    """A custom dump: downloaded to a file while the server starts, checked, then ``pg_restore -j``.

    This keeps a separate pass over the file before the restore (``verify_custom``): ``pg_restore -j``
    restores in parallel jobs that each commit on their own, so it cannot be held back until the stream is
    proven complete the way one psql transaction can; the pass (``pg_restore -l`` and ``-f -``, no server)
    also reads the roles the archive's owners and grants name, which must exist before the jobs start.
    ``min_major(facts)`` is the oldest server major that may restore it (the server is started before
    the archive says which; a too-old one is replaced by a start that says why none fits).
    """
    backup = request.backup
    began = time.monotonic()
    server_start = request.starting(0)
    workdir = Path(tempfile.mkdtemp(prefix="opscheck-restore-"))
    try:
        try:
            path = download(request.stream, workdir, backup.name)
        except OSError as exc:
            error = CheckFailed(f"download of {backup.name}", "a readable stream", exc.strerror or str(exc))
            return DrillPass(None, error, None, error)
        except OpscheckError as exc:
            return DrillPass(None, exc, None, exc)
        try:
            facts = verify_custom(path, shutil.which("pg_restore") or "pg_restore")
        except OpscheckError as exc:
            return DrillPass(None, exc, None, exc)
        try:
            server, chosen, why = server_start.wait()
            floor = min_major(facts)
            if server.major < floor:
                server_start.stop_server()
                server_start = request.starting(floor)  # raises, saying why no server fits
                server, chosen, why = server_start.wait()
            request.guard.check(server)
            server.create_database("restored")
            created = create_roles(server, set(request.roles) | set(facts.roles))
            restore_custom_file(server, "restored", path, backup, jobs=jobs, deadline_s=request.deadline_s)
        except OpscheckError as exc:
            return DrillPass(facts, None, None, exc, None, server_start.seconds)
        size = path.stat().st_size
        restored = Restored(backup, facts, "restored", time.monotonic() - began, size, created)
        return DrillPass(facts, None, restored, None, (chosen, why), server_start.seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def restore_custom_file(
    server: ThrowawayPostgres, dbname: str, path: Path, backup: Backup, *, jobs: int, deadline_s: float
) -> None:
    """``pg_restore --exit-on-error -j N`` of a custom-format dump file into ``dbname``."""
    target = server.copy_in(path)
    command = server.client_command("pg_restore", dbname, "--exit-on-error", "-j", str(max(1, jobs)), target)
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=deadline_s, check=False)
    except subprocess.TimeoutExpired:
        raise CheckFailed(
            f"restore of {backup.name}", f"done within {deadline_s:g} s", "still running"
        ) from None
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        first = next((line for line in lines if "error" in line.lower()), lines[0] if lines else "?")
        raise CheckFailed(
            f"restore of {backup.name}", "pg_restore without errors", with_advice(first.strip())
        )


def cpu_jobs() -> int:
    """How many parallel ``pg_restore`` jobs: one per CPU, at most four."""
    return max(1, min(4, os.cpu_count() or 1))
