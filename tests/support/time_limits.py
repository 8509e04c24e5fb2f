"""Whether a call ends within a time limit: ``finishes_within`` runs it in a thread and fails the test when it
outlives the limit, so an unbounded request shows as a failure, not as a hung test run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

#: what a bounded request may take beyond its timeout_s on a loaded 2-core machine
SLACK_S = 1.5


def finishes_within(limit_s: float, call: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``call`` in a thread; (seconds taken, its result or exception). Fails if it outlives ``limit_s``
    (the thread is a daemon and ends when the test's server closes its connection)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit_s)
    took = time.monotonic() - started
    assert not thread.is_alive(), f"still running after {limit_s} s: the request is not bounded as a whole"
    return took, outcome[0]
