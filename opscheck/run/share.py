"""Work done once per run, whatever the number of pytest-xdist workers.

Some steps must not run once per worker: the restore drill (N full restores of a production backup in
parallel, with an RTO measured under self-made contention) and the smoke probes (every page of
production hit N times). :meth:`RunShare.once` runs such a step in the first process that needs it and
hands its result to every other worker of the same run:

* without xdist, results are memoised in this process;
* under xdist, a file lock per step in the run's shared directory (made by the controller, removed at
  its end) lets the first worker compute the result while the others wait; the result, or the
  :class:`~opscheck.errors.OpscheckError` the step raised, is pickled there, and every later caller, on
  any worker, gets the same value (or the same error again).

The files live in a private (0700) directory of the run and are removed when the run ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from opscheck.errors import OpscheckError

__all__ = ["RunShare"]

T = TypeVar("T")

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class _Failure:
    """An OpscheckError as stored for other workers: rebuilt without calling its ``__init__``."""

    cls: type[OpscheckError]
    args: tuple[Any, ...]
    attributes: dict[str, Any]

    @classmethod
    def of(cls, exc: OpscheckError) -> _Failure:
        return cls(type(exc), exc.args, dict(vars(exc)))

    def rebuild(self) -> OpscheckError:
        exc = self.cls.__new__(self.cls, *self.args)
        exc.args = self.args
        vars(exc).update(self.attributes)
        return exc


@dataclass(frozen=True)
class _Outcome:
    value: Any = None
    failure: _Failure | None = None

    def result(self) -> Any:
        if self.failure is not None:
            raise self.failure.rebuild()
        return self.value


class RunShare:
    """Results of steps that run once per run; ``directory`` is the run's shared directory under xdist
    (None: this process is the whole run)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._memo: dict[str, _Outcome] = {}

    @property
    def shared(self) -> bool:
        """True when other processes (xdist workers) share these results."""
        return self.directory is not None

    def once(self, key: str, produce: Callable[[], T]) -> T:
        """``produce()``'s result for ``key``, computed once per run; an OpscheckError it raised is raised
        again to every caller. Anything else it raises (a bug, KeyboardInterrupt) is not remembered."""
        if key not in self._memo:
            with self._locked(key):
                stored = self._load(key)
                if stored is None:
                    stored = self._run(produce)
                    self._store(key, stored)
                self._memo[key] = stored
        result: T = self._memo[key].result()
        return result

    @staticmethod
    def _run(produce: Callable[[], Any]) -> _Outcome:
        try:
            return _Outcome(value=produce())
        except OpscheckError as exc:
            return _Outcome(failure=_Failure.of(exc))

    def _path(self, key: str, suffix: str) -> Path:
        assert self.directory is not None
        return self.directory / (_UNSAFE.sub("-", key).strip("-") + suffix)

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        if self.directory is None:
            yield
            return
        with self._path(key, ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the holder ends, also when it is killed
            yield

    def _load(self, key: str) -> _Outcome | None:
        if self.directory is None:
            return None
        try:
            data = self._path(key, ".pickle").read_bytes()
        except FileNotFoundError:
            return None
        outcome = pickle.loads(data)  # noqa: S301 - written by this run's own processes, in a 0700 dir
        assert isinstance(outcome, _Outcome)
        return outcome

    def _store(self, key: str, outcome: _Outcome) -> None:
        if self.directory is None:
            return
        try:
            data = pickle.dumps(outcome)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            data = pickle.dumps(
                _Outcome(
                    failure=_Failure.of(
                        OpscheckError(f"the result of {key!r} cannot be shared between xdist workers: {exc}")
                    )
                )
            )
        path = self._path(key, ".pickle")
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
