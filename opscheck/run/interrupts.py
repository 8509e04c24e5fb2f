"""Ctrl-C and SIGTERM end a run within a second, xdist workers and their cleanup included.

Where the time went (measured with checks that only sleep, ``-n 2``, before this module):

* a signal sent to the controller alone (``kill -TERM``, a CI runner cancelling a job) reached no worker.
  The controller interrupted itself, then xdist asked each worker to exit and waited; a worker busy in a
  check only hears that request between checks, so execnet interrupted it after 5 s and xdist killed it
  after 10 s, skipping the worker's teardown (its servers were left running);
* every interrupted process then spent 1 to 2 s (more under load) rendering the long traceback of the
  KeyboardInterrupt, parsing the source of each of its ~40 frames (pytest, pluggy, xdist, execnet), only
  to print its last line unless ``--full-trace`` is given;
* a worker died on the spot on SIGTERM sent to the whole process group, skipping its teardown;
* two signals arriving together (SIGTERM to the process group plus the controller's forwarded SIGINT)
  could both be taken by a thread other than the main one (execnet's I/O thread); Python runs handlers
  in the main thread only, so a check sleeping there was not interrupted until execnet's 5 s fallback.

So: the controller forwards the signal as SIGINT to each local worker the moment it arrives, then lets its
own handler interrupt it as before; the workers interrupt their check at once, tear down their fixtures
(servers stopped, directories removed) and exit, so xdist's wait for them ends promptly. The traceback of
the interrupt is cut to the frame pytest prints anyway. A worker takes SIGTERM as an interrupt too, and
only its first signal interrupts it: the same Ctrl-C often reaches a worker twice (the terminal signals the
whole process group, and the controller forwards it), and the second must not cut its teardown short.
Whichever thread takes a signal, a relay thread fed by :func:`signal.set_wakeup_fd` re-sends it to the
main thread if its handler has not run shortly after, so the main thread wakes up.

The handlers take no lock. Python runs a handler between two bytecodes of the main thread, and that
includes the bytecodes of a handler already running: the second signal of a Ctrl-C to the process group
(the terminal's SIGTERM, then the controller's SIGINT a moment later) can run the handler again inside the
first. While a :class:`threading.Event` recorded that a signal was taken, the inner handler waited for the
lock the outer one held inside ``Event.set()``, on the same thread, for ever: the worker never exited,
and xdist killed it 10 s later, skipping its teardown (once in a few hundred runs under load).

Signal handlers can only be changed in the main thread; elsewhere nothing is changed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from opscheck.run import shield

__all__ = ["Interrupts", "SignalTaken"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: how long the relay lets the main thread take a signal itself before sending it again
_RELAY_AFTER_S = 0.02
#: how long a worker, just started and idle, may take to say its pid
_ASK_PID_TIMEOUT_S = 30.0
Handler = Callable[[int, FrameType | None], Any]


class SignalTaken:
    """Whether a SIGINT/SIGTERM handler has run: set by the handler, read by the relay thread. A plain
    attribute, not a :class:`threading.Event`, whose lock a handler re-entered by a second signal would
    wait for on its own thread (see the module doc)."""

    def __init__(self) -> None:
        self._taken = False

    def set(self) -> None:
        self._taken = True

    def is_set(self) -> bool:
        return self._taken


def _worker_pid(gateway: Any) -> int:
    """The pid of a local worker, asked through execnet's public ``remote_exec`` while the worker's main
    thread is still free (xdist starts its own ``remote_exec`` there right after ``pytest_configure_node``)."""
    channel = gateway.remote_exec("import os; channel.send(os.getpid())")
    try:
        return int(channel.receive(timeout=_ASK_PID_TIMEOUT_S))
    finally:
        channel.waitclose(timeout=_ASK_PID_TIMEOUT_S)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class Interrupts:
    """Registered by the plugin in an active run, on the controller and in each xdist worker."""

    def __init__(self, config: pytest.Config, *, is_worker: bool) -> None:
        self.config = config
        self.worker_pids: set[int] = set()
        self._forwarding = False
        self.handled = SignalTaken()
        if is_worker and _interrupt_once(config, self.handled):
            _relay_to_main_thread(config, self.handled)

    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Keep only the frame pytest prints: rendering all of them took seconds (see the module doc)."""
        if self.config.option.fulltrace:
            return
        entries = excinfo.traceback
        for index in range(len(entries) - 1, -1, -1):
            if not entries[index].ishidden(excinfo):
                excinfo.traceback = entries[index : index + 1]
                return

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist, on the controller, as each worker is set up (its process already runs)."""
        gateway = node.gateway
        if not gateway.spec.popen or gateway.spec.via:
            return  # a remote worker: its process is not ours to signal
        self.worker_pids.add(_worker_pid(gateway))
        if not self._forwarding:
            self._forwarding = self._forward_signals()
            if self._forwarding:
                _relay_to_main_thread(self.config, self.handled)

    def forward(self) -> None:
        """Send SIGINT to every local worker (one that is already gone is skipped)."""
        for pid in sorted(self.worker_pids):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGINT)

    def _forward_signals(self) -> bool:
        """Wrap the controller's SIGINT/SIGTERM handlers so the workers hear the signal first."""
        if not _main_thread():
            return False
        for signum in _SIGNALS:
            previous = signal.getsignal(signum)
            if not callable(previous):
                continue  # ignored, or the default action: not a run that ends by an interrupt

            def forward_then(sig: int, frame: FrameType | None, handler: Handler = previous) -> None:
                self.handled.set()
                self.forward()
                handler(sig, frame)

            signal.signal(signum, forward_then)
            self.config.add_cleanup(functools.partial(_restore, signum, previous, forward_then))
        return True


def _restore(signum: int, handler: Handler, installed: Handler) -> None:
    """Put ``handler`` back, unless the signal's handler changed since (a run that is stopping keeps the
    handler that ignores further signals until the process has cleaned up)."""
    if _main_thread() and signal.getsignal(signum) is installed:
        signal.signal(signum, handler)


def _interrupt_once(config: pytest.Config, handled: SignalTaken) -> bool:
    """In a worker: the first SIGINT or SIGTERM raises KeyboardInterrupt, later ones are ignored (also one
    that runs this handler again while it runs)."""
    if not _main_thread():
        return False
    previous = {signum: signal.getsignal(signum) for signum in _SIGNALS}
    if (
        previous[signal.SIGINT] is not signal.default_int_handler
        or previous[signal.SIGTERM] is not signal.SIG_DFL
    ):
        return False  # someone else handles these signals here: leave them to them

    def interrupt_once(signum: int, frame: FrameType | None) -> None:
        if handled.is_set():  # entered again, inside itself: the outer call raises the interrupt
            return
        handled.set()
        for sig in _SIGNALS:
            signal.signal(sig, _ignore_while_cleaning_up)
        raise KeyboardInterrupt(f"signal {signum}")

    for signum in _SIGNALS:
        signal.signal(signum, interrupt_once)

    def restore() -> None:
        if handled.is_set():
            return  # interrupted: further signals stay ignored until the worker has exited
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    config.add_cleanup(restore)
    return True


def _relay_to_main_thread(config: pytest.Config, handled: SignalTaken) -> None:
    """Re-send SIGINT/SIGTERM to the main thread when another thread took it and the handler never ran."""
    receiver, sender = socket.socketpair()
    sender.setblocking(False)
    try:
        previous_fd = signal.set_wakeup_fd(sender.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread
        receiver.close()
        sender.close()
        return
    main = threading.main_thread().ident
    assert main is not None

    def relay() -> None:
        with contextlib.suppress(OSError):  # the socket closed at the end of the run
            while data := receiver.recv(64):
                received = [signum for signum in data if signum in _SIGNALS]
                if not received:
                    continue
                time.sleep(_RELAY_AFTER_S)
                if not handled.is_set():
                    signal.pthread_kill(main, received[0])  # the same signal: a pending one absorbs it

    threading.Thread(target=relay, name="opscheck-signal-relay", daemon=True).start()

    def stop() -> None:
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(previous_fd)
        sender.close()
        receiver.close()

    config.add_cleanup(stop)


def _ignore_while_cleaning_up(signum: int, frame: FrameType | None) -> None:
    shield.say_from_handler(
        f"opscheck: {signal.Signals(signum).name} ignored: this xdist worker is cleaning up\n"
    )
