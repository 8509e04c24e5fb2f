"""The restore drill as the suite runs it: one pass over the backup that verifies and restores it, shared
by every check, then one verification of the restored database.

Each step runs once per session; a step that fails is remembered, so the check that owns it fails with
the reason while the checks that depend on it error with "see that check", never pass. The stream check
and the restore are two verdicts of the same pass (:class:`~opscheck.restore.passes.DrillPass`): the backup is
downloaded and read once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from opscheck.config import Environment
from opscheck.errors import OpscheckError
from opscheck.restore.backups import Backup, BackupStore
from opscheck.restore.custom_pass import cpu_jobs, restore_custom_pass
from opscheck.restore.dumps import DumpFacts
from opscheck.restore.passes import DrillPass, PassRequest, Restored, RestoreGuard, ServerStart, start_server
from opscheck.restore.plain_pass import restore_plain_pass
from opscheck.restore.policy import select_backup
from opscheck.restore.stores import open_store
from opscheck.restore.verification import Verification, verify_restored
from opscheck.run.context import CheckRecord
from opscheck.run.share import RunShare

__all__ = ["DRILL_CHECK", "STREAM_CHECK", "Drill", "StepFailed"]

#: the check that owns the integrity pass
STREAM_CHECK = "suites/restore/test_backup_stream_is_complete.py::test_backup_stream_is_complete"

#: the check that owns the restore step: checks that need the restored database point at it
DRILL_CHECK = "suites/restore/test_restore_drill_succeeds.py::test_restore_drill_succeeds_within_rto"


class StepFailed(OpscheckError):
    """A step the check depends on failed; the check that owns that step reports why."""

    def __init__(self, step: str, owner: str) -> None:
        super().__init__(f"{step} failed, so this cannot be verified: see {owner}")


def _floor(facts: DumpFacts) -> int:
    """The oldest server major that may restore a dump: its source's, and its client tools' pg_dump's."""
    return max(facts.source_major or 0, facts.pg_dump_major or 0)


@dataclass
class Drill:
    """Lazily does, once each: list backups, pick one, read it once (verify + restore), verify the result."""

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
    _pass: DrillPass | None = None
    _facts: tuple[DumpFacts, set[str]] | None = None
    _restored: Restored | None = None
    _verification: Verification | None = None
    _starting: ServerStart | None = None
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
        """The stream check's verdict: integrity, versions, referenced roles (from the one pass)."""
        if self._facts is None:
            self._facts = self._remember("verifying the backup stream", self._stream_facts)
        return self._facts

    def restored(self) -> Restored:
        if self._restored is None:
            self._restored = self._remember("restoring the backup", self._restore)
        return self._restored

    def read_once(self) -> DrillPass:
        """The one pass over the backup: its stream verdict and its restore (started on first need)."""
        if self._pass is None:
            self._pass = self._remember("reading the backup", self._read_and_restore)
            self.provider = self._pass.provider
        return self._pass

    def verification(self, owner: str = DRILL_CHECK) -> Verification:
        """The restored database's tables, row counts and amcheck, queried in parallel once."""
        try:
            restored = self.restored()
        except OpscheckError:
            raise StepFailed("restoring the backup", owner) from None
        if self._verification is None:
            exact = set(self.env.restore.min_rows)
            self._verification = self._remember(
                "verifying the restored database", lambda: verify_restored(self._dsn(restored), exact)
            )
        return self._verification

    def _remember(self, step: str, make: Any) -> Any:
        if step in self._errors:
            raise self._errors[step]
        try:
            return make() if self.share is None else self.share.once(f"drill {step}", make)
        except OpscheckError as exc:
            self._errors[step] = exc
            raise

    def _stream_facts(self) -> tuple[DumpFacts, set[str]]:
        outcome = self.read_once()
        if outcome.stream_error is not None:
            raise outcome.stream_error
        assert outcome.facts is not None
        return outcome.facts, set(outcome.facts.roles)

    def _restore(self) -> Restored:
        outcome = self.read_once()
        if outcome.restore_error is not None:
            raise outcome.restore_error
        assert outcome.restored is not None
        return outcome.restored

    def roles(self) -> tuple[list[str], list[str]]:
        """(roles the dump needs, those of them ``restore.roles`` does not declare), sorted."""
        try:
            _facts, needed = self.facts()
        except OpscheckError:
            raise StepFailed("verifying the backup stream", STREAM_CHECK) from None
        declared = set(self.env.restore.roles)
        return sorted(needed), sorted(needed - declared)

    def _read_and_restore(self) -> DrillPass:
        """Download and read the backup once: checked and restored in the same stream, the throwaway
        server booting meanwhile (see :func:`~opscheck.restore.plain_pass.restore_plain_pass`)."""
        backup = self.backup()
        restore = self.env.restore

        def starting(floor: int) -> ServerStart:
            self._starting = ServerStart(lambda: start_server(restore.provider, restore.image, floor))
            return self._starting

        guard = RestoreGuard(self.protected_urls)
        deadline = self.env.backups.rto_minutes * 60
        with contextlib.closing(self.store.open(backup)) as stream:
            request = PassRequest(starting, guard, backup, stream, deadline, set(restore.roles))
            if backup.format == "custom":
                outcome = restore_custom_pass(request, jobs=cpu_jobs(), min_major=_floor)
            else:
                outcome = restore_plain_pass(request)
        server = self._starting.server if self._starting is not None else None
        if outcome.restored is not None and server is not None:  # for every worker that shares it
            outcome.dsn = server.dsn(outcome.restored.dbname)
        return outcome

    def _dsn(self, restored: Restored) -> str:
        dsn = self.read_once().dsn
        assert dsn is not None, restored
        return dsn

    @contextlib.contextmanager
    def connect(self, owner: str = DRILL_CHECK) -> Iterator[psycopg.Connection[Any]]:
        """A connection to the restored database, for checks that verify it (they error if the restore did)."""
        try:
            restored = self.restored()
        except OpscheckError:
            raise StepFailed("restoring the backup", owner) from None
        with psycopg.connect(self._dsn(restored), autocommit=True, connect_timeout=10) as conn:
            yield conn

    def close(self) -> None:
        """Stop the throwaway server (waiting for a start still under way); a server shared with other
        xdist workers is left to the run's controller, which stops it when every worker is done."""
        starting, self._starting = self._starting, None
        if starting is None:
            return
        if self.share is not None and self.share.shared:
            server = starting.finished()
            if server is not None:
                server.detach(kept=False)
        else:
            starting.stop_server()

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
        if self._pass is not None and self._pass.server_seconds is not None:
            check.metric("server_start_seconds", round(self._pass.server_seconds, 2))
        if self._restored is not None:
            check.metric("restore_seconds", round(self._restored.seconds, 2))
            check.metric("restore_mb_per_s", self._restored.mb_per_s)
        if self._verification is not None:
            check.metric("verification_seconds", round(self._verification.seconds, 2))
        if self.provider is not None:
            check.metric("restore_provider", self.provider[0])
