"""The restore drill as the suite runs it: one integrity pass, one restore, shared by every check.

Each step runs once per session; a step that fails is remembered, so the check that owns it fails with
the reason while the checks that depend on it error with "see that check", never pass.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from opscheck.backups import Backup, BackupStore, open_store, select_backup
from opscheck.config import Environment
from opscheck.context import CheckRecord
from opscheck.dumps import DumpFacts, stream_verifier, verify_custom
from opscheck.errors import OpscheckError
from opscheck.restore import (
    Restored,
    RestoreGuard,
    Server,
    cpu_jobs,
    restore_backup,
    start_server,
)
from opscheck.runshare import RunShare

__all__ = ["DRILL_CHECK", "STREAM_CHECK", "Drill", "StepFailed"]

#: the check that owns the integrity pass
STREAM_CHECK = "suites/restore/test_backup_stream_is_complete.py::test_backup_stream_is_complete"

#: the check that owns the restore step: checks that need the restored database point at it
DRILL_CHECK = "suites/restore/test_restore_drill_succeeds.py::test_restore_drill_succeeds_within_rto"


class StepFailed(OpscheckError):
    """A step the check depends on failed; the check that owns that step reports why."""

    def __init__(self, step: str, owner: str) -> None:
        super().__init__(f"{step} failed, so this cannot be verified: see {owner}")


@dataclass
class Drill:
    """Lazily does, once each: list backups, pick one, verify its stream, restore it."""

    env: Environment
    backup_spec: str
    protected_urls: list[str]
    provider: tuple[str, str] | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: under xdist: every step runs once per run, its result shared by all workers (None: this process)
    share: RunShare | None = None
    _store: BackupStore | None = None
    _catalog: list[Backup] | None = None
    _backup: Backup | None = None
    _facts: tuple[DumpFacts, set[str]] | None = None
    _restored: Restored | None = None
    _server: Server | None = None
    _dsn: str | None = None
    _errors: dict[str, BaseException] = field(default_factory=dict)

    # -- steps -------------------------------------------------------------------------------------
    @property
    def store(self) -> BackupStore:
        if self._store is None:
            self._store = open_store(self.env.backups, timeout_s=self.env.timeout_s)
        return self._store

    def catalog(self) -> list[Backup]:
        if self._catalog is None:
            self._catalog = self._remember("listing backups", self.store.list)
        return self._catalog

    def backup(self) -> Backup:
        if self._backup is None:
            self._backup = self._remember(
                "selecting the backup",
                lambda: self.store.details(select_backup(self.catalog(), self.backup_spec)),
            )
        return self._backup

    def facts(self) -> tuple[DumpFacts, set[str]]:
        """One full pass over the selected backup: stream integrity, versions, referenced roles."""
        if self._facts is None:
            self._facts = self._remember("verifying the backup stream", self._verify)
        return self._facts

    def restored(self) -> Restored:
        if self._restored is None:
            self._restored, self.provider, self._dsn = self._remember("restoring the backup", self._restore)
        return self._restored

    def _remember(self, step: str, make: Any) -> Any:
        if step in self._errors:
            raise self._errors[step]
        try:
            return make() if self.share is None else self.share.once(f"drill {step}", make)
        except OpscheckError as exc:
            self._errors[step] = exc
            raise

    def failed_step(self, step: str) -> BaseException | None:
        return self._errors.get(step)

    def _verify(self) -> tuple[DumpFacts, set[str]]:
        backup = self.backup()
        with contextlib.closing(self.store.open(backup)) as stream:
            if backup.format == "custom":
                workdir = Path(tempfile.mkdtemp(prefix="opscheck-verify-"))
                try:
                    path = workdir / backup.name
                    with path.open("wb") as out:
                        shutil.copyfileobj(stream, out, 1 << 20)
                    facts = verify_custom(path, shutil.which("pg_restore") or "pg_restore")
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
            else:
                verifier = stream_verifier(backup.format, backup.name)
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    for _piece in verifier.pieces(chunk):
                        pass
                facts = verifier.finish()
        return facts, set(facts.roles)

    def roles(self) -> tuple[list[str], list[str]]:
        """(roles the dump needs, those of them ``restore.roles`` does not declare), sorted."""
        try:
            _facts, needed = self.facts()
        except OpscheckError:
            raise StepFailed("verifying the backup stream", STREAM_CHECK) from None
        declared = set(self.env.restore.roles)
        return sorted(needed), sorted(needed - declared)

    def _restore(self) -> tuple[Restored, tuple[str, str], str]:
        """The restored backup, the provider that ran it, and the restored database's URL."""
        backup = self.backup()
        facts, roles = self.facts()
        restore = self.env.restore
        # the server must be at least the source's major, and its client tools at least pg_dump's
        floor = max(facts.source_major or 0, facts.pg_dump_major or 0)
        self._server, chosen, why = start_server(restore.provider, restore.image, floor)
        provider = self.provider = (chosen, why)
        guard = RestoreGuard(self.protected_urls)
        deadline = self.env.backups.rto_minutes * 60
        with contextlib.closing(self.store.open(backup)) as stream:
            restored = restore_backup(
                self._server,
                guard,
                backup,
                stream,
                roles=roles | set(restore.roles),
                deadline_s=deadline,
                jobs=cpu_jobs(),
                verified=facts,
            )
        return restored, provider, self._server.dsn(restored.dbname)

    @contextlib.contextmanager
    def connect(self, owner: str = DRILL_CHECK) -> Iterator[psycopg.Connection[Any]]:
        """A connection to the restored database, for checks that verify it (they error if the restore did)."""
        try:
            self.restored()
        except OpscheckError:
            raise StepFailed("restoring the backup", owner) from None
        assert self._dsn is not None
        with psycopg.connect(self._dsn, autocommit=True, connect_timeout=10) as conn:
            yield conn

    def close(self) -> None:
        """Stop the throwaway server; a server shared with other xdist workers is left to the run's
        controller, which stops it when every worker is done."""
        server, self._server = self._server, None
        if server is not None:
            if self.share is not None and self.share.shared:
                server.detach(kept=False)
            else:
                server.stop()

    # -- what every restore check reports ----------------------------------------------------------
    def record_metrics(self, check: CheckRecord) -> None:
        backups = self.env.backups
        check.metric("rpo_hours", backups.rpo_hours)
        check.metric("rto_minutes", backups.rto_minutes)
        with contextlib.suppress(OpscheckError):
            backup = self.backup()
            check.metric("backup_key", backup.key)
            check.metric("backup_age_hours", round(backup.age_hours(self.now), 2))
            check.metric("backup_bytes", backup.size)
        if self._restored is not None:
            check.metric("restore_seconds", round(self._restored.seconds, 2))
            check.metric("restore_mb_per_s", self._restored.mb_per_s)
        if self.provider is not None:
            check.metric("restore_provider", self.provider[0])
