"""One deadline for a whole operation, whatever the library underneath does with its own timeouts.

httpx and urllib time out each *read*: a server that dribbles a byte a second never trips them. Work that
must end on time (publishing metrics, paging) runs here in a daemon thread that is abandoned at the
deadline; it cannot hold up the run or its exit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from opscheck.secrets import redactor

__all__ = ["run_within"]


def run_within(action: Callable[[], None], timeout_s: float, what: str) -> str | None:
    """Run ``action``; ``None`` when it finished, else a one-line reason (redacted) naming ``what``."""
    outcome: list[str | None] = []

    def run() -> None:
        try:
            action()
        except Exception as exc:  # reported to the caller, never raised into the run
            outcome.append(redactor().scrub(str(exc) or type(exc).__name__))
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, name=f"opscheck-{what}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive() or not outcome:
        return f"{what} did not finish within {timeout_s:g} s"
    return outcome[0]
