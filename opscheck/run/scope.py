"""Pytest hooks for what lives as long as a run: its throwaway servers and its once-per-run steps.

* At the start of every run (on the controller) servers left by killed runs are reaped
  (:func:`opscheck.restore.servers.reaper.reap_orphans`), and the report header says which.
* Under pytest-xdist the controller makes a private directory for the run and gives its path and its own
  identity to every worker: workers share once-per-run results there (:class:`~opscheck.run.share.RunShare`),
  the servers they start belong to the controller (a worker may finish while another still uses the
  restored database), and each is also recorded there, so the controller stops them all at the end of
  the run, also after a failure, an interrupt or a crashed worker.
* The first SIGINT (like SIGTERM, see the plugin) interrupts the run; later ones no longer cut its cleanup
  short (:mod:`opscheck.run.shield`).
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from opscheck.errors import OpscheckError
from opscheck.restore.servers import registry
from opscheck.restore.servers.owner import Owner, set_run_owner
from opscheck.restore.servers.reaper import Found, reap_orphans, remove
from opscheck.run import shield
from opscheck.run.share import RunShare

__all__ = ["RunScope", "run_scope"]

_DIR_KEY = "opscheck_run_dir"
_OWNER_KEY = "opscheck_run_owner"
_LEDGER = "servers"


@dataclass
class RunScope:
    """This process's view of the run: the shared results, and what the start-up reaper did."""

    share: RunShare
    reaped: list[str] = field(default_factory=list)
    directory: Path | None = None  # the controller's shared directory (made for xdist workers)


_SCOPE = pytest.StashKey[RunScope]()


def run_scope(config: pytest.Config) -> RunScope:
    scope = config.stash.get(_SCOPE, None)
    if scope is None:  # pragma: no cover - configured by pytest_configure below
        scope = config.stash[_SCOPE] = RunScope(RunShare())
    return scope


def pytest_configure(config: pytest.Config) -> None:
    _interrupt_once_on_sigint(config)
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None and workerinput.get(_DIR_KEY):
        directory = Path(workerinput[_DIR_KEY])
        set_run_owner(Owner.from_text(str(workerinput.get(_OWNER_KEY, ""))))
        registry.keep_ledger(directory / _LEDGER)
        config.stash[_SCOPE] = RunScope(RunShare(directory))
        return
    config.stash[_SCOPE] = RunScope(RunShare(), reaped=_reap() if workerinput is None else [])


def _interrupt_once_on_sigint(config: pytest.Config) -> None:
    """Ctrl-C still raises KeyboardInterrupt, but a second one no longer interrupts the cleanup."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return  # someone else handles Ctrl-C (or ignores it): leave it to them
    signal.signal(signal.SIGINT, shield.interrupt_once)

    def restore() -> None:
        if not shield.is_stopping():
            signal.signal(signal.SIGINT, signal.default_int_handler)

    config.add_cleanup(restore)


def _reap() -> list[str]:
    try:
        return reap_orphans()
    except (OSError, OpscheckError) as exc:
        return [f"could not look for servers left by killed runs in {registry.state_dir()}: {exc}"]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, on the controller, for each worker: the run's shared directory and the run's owner."""
    scope = run_scope(node.config)
    if scope.directory is None:
        scope.directory = Path(tempfile.mkdtemp(prefix="opscheck-run-"))  # 0700
        scope.share = RunShare(scope.directory)
    node.workerinput[_DIR_KEY] = str(scope.directory)
    node.workerinput[_OWNER_KEY] = Owner.current().as_text()


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = run_scope(config).reaped
    if not lines:
        return []
    return [f"opscheck: servers left by killed runs ({registry.state_dir()}):", *(f"  {x}" for x in lines)]


def pytest_keyboard_interrupt() -> None:
    shield.stopping()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """On the controller, after the workers are gone: stop every server they started for the run."""
    scope = run_scope(session.config)
    if scope.directory is None:
        return
    for record in registry.records(scope.directory / _LEDGER):
        server = Found(record.kind, "in use", record.describe(), record.owner, record.state, record.id)
        try:
            remove(server)
        except OpscheckError as exc:
            sys.stderr.write(f"opscheck: could not stop {server.description}: {exc}\n")


def pytest_unconfigure(config: pytest.Config) -> None:
    scope = run_scope(config)
    if hasattr(config, "workerinput"):
        registry.keep_ledger(None)
        set_run_owner(None)
        return
    if scope.directory is not None:
        shutil.rmtree(scope.directory, ignore_errors=True)
