"""Cleanup that a second Ctrl-C or SIGTERM cannot cut short.

The first SIGINT/SIGTERM ends a run (pytest and ``opscheck demo`` turn it into KeyboardInterrupt) and
starts the cleanup: servers stopped, directories removed. A second signal used to interrupt that cleanup
half-way and leave a directory or a container behind. Two rules prevent it:

* :func:`shielded` wraps every stop of a throwaway server: SIGINT and SIGTERM arriving inside it are held
  until it ends, then delivered, unless the process is already stopping;
* :func:`stopping` is called once the first signal has been taken as "stop": from then on SIGINT and SIGTERM
  only print that cleanup is under way (SIGKILL still ends the process; the next run reaps what it left).

Signal handlers can only be changed in the main thread; elsewhere both are no-ops.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["interrupt_once", "is_stopping", "say_from_handler", "shielded", "stopping"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_state = {"stopping": False}


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def say_from_handler(text: str) -> None:
    """Write ``text`` (which names no secret) to standard error from a signal handler, straight to the file
    descriptor: a handler runs between two bytecodes of the main thread, possibly while it is inside a write
    to ``sys.stderr``, and neither Python's buffered writers nor the redactor's lock behind them can be
    entered again by the thread that holds them."""
    with contextlib.suppress(OSError):
        os.write(2, text.encode())


def _say_cleaning_up(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    say_from_handler(f"opscheck: {name} ignored: cleaning up what this run started (SIGKILL skips that)\n")


def is_stopping() -> bool:
    return _state["stopping"]


def stopping() -> None:
    """The process is ending because of a signal: later SIGINT/SIGTERM no longer interrupt anything."""
    _state["stopping"] = True
    if _main_thread():
        for sig in _SIGNALS:
            signal.signal(sig, _say_cleaning_up)


def interrupt_once(signum: int, frame: FrameType | None) -> None:
    """A SIGINT/SIGTERM handler: the first signal raises KeyboardInterrupt (``signal 15`` for SIGTERM),
    and from that moment on the process is :func:`stopping`, so no later signal cuts its cleanup short."""
    stopping()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the block runs; deliver a held one afterwards (unless stopping)."""
    if not _main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    for sig in _SIGNALS:
        signal.signal(sig, hold)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if held:
            if _state["stopping"]:
                _say_cleaning_up(held[0], None)
            else:
                signal.raise_signal(held[0])
