"""A second signal that arrives while the handler of the first one is still running (opscheck.run.interrupts).

Python runs a signal handler between two bytecodes of the main thread, those of a running handler included,
so a Ctrl-C sent to the whole process group (the terminal's signal, then the controller's forwarded SIGINT
a moment later) can run a worker's handler again inside itself. Once in a few hundred interrupted runs
under load, a worker then waited for ever on a lock its own outer handler held, and xdist killed it 10 s
later, skipping its teardown. Here the second signal is raised at each line the first handler runs (and
each line of what it calls), one line per attempt: every attempt must end in exactly one
KeyboardInterrupt, after which both signals are ignored.

Each case runs in a fresh interpreter: a handler that deadlocks hangs that process, not the test run.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.processes import kill_session
from tests.support.suite_run import REPO

#: the handlers under test, installed as the plugin installs them, then signalled by the script below
SECOND_SIGNAL_INSIDE_THE_FIRST = """
import os, signal, subprocess, sys, time
from types import SimpleNamespace

from opscheck.run import shield
from opscheck.run.interrupts import Interrupts

role = sys.argv[1]
# on the controller, a local worker whose pid the signal is forwarded to: one that ignores SIGINT
IGNORES_SIGINT = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(60)"
worker = subprocess.Popen([sys.executable, "-c", IGNORES_SIGINT])


class Channel:
    def receive(self, timeout):
        return worker.pid

    def waitclose(self, timeout):
        pass


def install():
    cleanups = []
    config = SimpleNamespace(add_cleanup=cleanups.append, option=SimpleNamespace(fulltrace=False))
    if role == "worker":
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        Interrupts(config, is_worker=True)
    else:  # the controller: the plugin's SIGTERM and scope's SIGINT handler, then the forwarding
        signal.signal(signal.SIGINT, shield.interrupt_once)
        signal.signal(signal.SIGTERM, shield.interrupt_once)
        spec = SimpleNamespace(popen=True, via=None)
        gateway = SimpleNamespace(spec=spec, remote_exec=lambda source: Channel())
        Interrupts(config, is_worker=False).pytest_configure_node(SimpleNamespace(gateway=gateway))
    return cleanups


def attempt(at_line):
    cleanups = install()
    handler = signal.getsignal(signal.SIGTERM).__code__
    seen = {"inside": False, "lines": 0, "raised": False}

    def trace(frame, event, arg):
        if frame.f_code is handler and event in ("call", "return"):
            seen["inside"] = event == "call"  # lines of the handler and of what it calls are counted
        if event == "line" and seen["inside"] and not seen["raised"]:
            seen["lines"] += 1
            if seen["lines"] == at_line:
                seen["raised"] = True
                signal.raise_signal(signal.SIGINT)  # the second signal, inside the first one's handler
        return trace

    interrupts = 0
    sys.settrace(trace)
    try:
        signal.raise_signal(signal.SIGTERM)
        time.sleep(2)
    except KeyboardInterrupt:
        interrupts += 1
    finally:
        sys.settrace(None)
    for signum in (signal.SIGINT, signal.SIGTERM):  # a later signal interrupts nothing
        try:
            signal.raise_signal(signum)
        except KeyboardInterrupt:
            interrupts += 1
    for cleanup in reversed(cleanups):
        cleanup()
    return seen["raised"], interrupts


at_line = 1
while True:
    raised, interrupts = attempt(at_line)
    if not raised:
        break  # the handler ran fewer lines than this: every line has been tried
    print(f"second signal at line {at_line} of the handler: {interrupts} KeyboardInterrupt", flush=True)
    at_line += 1
worker.kill()
worker.wait()
"""


@pytest.mark.parametrize("role", ["worker", "controller"])
def test_a_second_signal_inside_the_first_ones_handler_interrupts_once_and_never_hangs(role: str) -> None:
    script = [sys.executable, "-c", SECOND_SIGNAL_INSIDE_THE_FIRST, role]
    proc = subprocess.Popen(
        script, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        kill_session(proc)  # the script and its stand-in worker
        out, err = proc.communicate()
        pytest.fail(f"the {role} hung on a second signal inside its handler, after:\n{out.decode()}")
    assert proc.returncode == 0, err.decode()[-3000:]
    attempts = out.decode().splitlines()
    assert len(attempts) >= 3, attempts  # the handler runs a few lines: each was tried
    assert all(line.endswith(": 1 KeyboardInterrupt") for line in attempts), attempts


#: a signal taken while the main code is inside a write to stderr, once cleanup has begun
SIGNAL_INSIDE_A_WRITE = """
import signal, sys, threading, time
from types import SimpleNamespace

from opscheck.run import shield
from opscheck.run.interrupts import Interrupts

if sys.argv[1] == "worker":  # interrupted once: later signals only say the worker is cleaning up
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cleanups = []  # kept, as pytest keeps them: the wakeup socket stays open until the run ends
    Interrupts(SimpleNamespace(add_cleanup=cleanups.append, option=SimpleNamespace(fulltrace=False)), is_worker=True)
    try:
        signal.raise_signal(signal.SIGINT)
        time.sleep(2)
    except KeyboardInterrupt:
        pass
else:
    shield.stopping()  # the run is stopping: later signals only say cleanup is under way


class LockedStderr:
    # a stream whose write holds a lock its thread cannot take twice, as the redactor's scrubbing stream does
    def __init__(self, inner):
        self.inner, self.lock = inner, threading.Lock()

    def write(self, text):
        with self.lock:
            if text == "cleanup output\\n":
                signal.raise_signal(signal.SIGTERM)  # the handler runs here, inside this write
            return self.inner.write(text)

    def flush(self):
        self.inner.flush()


sys.stderr = LockedStderr(sys.stderr)
sys.stderr.write("cleanup output\\n")
print("the write returned", flush=True)
"""


@pytest.mark.parametrize("role", ["worker", "controller"])
def test_a_signal_during_a_write_to_stderr_is_reported_without_deadlock(role: str) -> None:
    """The "ignored: cleaning up" notes are written from the signal handler, which may run while the main
    code is inside a write to stderr (through the redactor's lock): they go straight to the descriptor."""
    script = [sys.executable, "-c", SIGNAL_INSIDE_A_WRITE, role]
    proc = subprocess.Popen(
        script, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        kill_session(proc)
        pytest.fail(f"the {role}'s signal handler deadlocked inside a write to stderr")
    assert proc.returncode == 0, err.decode()[-3000:]
    assert out.decode() == "the write returned\n"
    assert "SIGTERM ignored" in err.decode(), err.decode()
    assert "cleaning up" in err.decode(), err.decode()
    assert err.decode().endswith("cleanup output\n"), err.decode()
