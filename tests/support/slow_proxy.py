"""A plain TCP forwarder that holds every answer back for ``delay_s`` before passing it on: a slow server.

Put it in front of a real server (the session's PostgreSQL cluster, say) to make every round trip of a
protocol take at least ``delay_s`` (only what the server sends is delayed, so a request/answer exchange
costs one delay, not two)::

    with SlowProxy(cluster.port, delay_s=0.3) as proxy:
        url = dsn.replace(f":{cluster.port}/", f":{proxy.port}/")

It is :class:`tests.support.tls_proxy.RecordingProxy` in plain mode (an asyncio loop in a daemon thread,
127.0.0.1 only, one task per direction, so a delay on one connection never holds up another).
"""

from __future__ import annotations

import asyncio

from tests.support.tls_proxy import RecordingProxy

__all__ = ["SlowProxy"]


class SlowProxy(RecordingProxy):
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``upstream_port``; each chunk the upstream sends arrives
    ``delay_s`` late."""

    def __init__(self, upstream_port: int = 0, *, delay_s: float = 0.3) -> None:
        super().__init__(upstream_port)
        self.delay_s = delay_s

    async def _answered(self, data: bytes) -> None:
        """A chunk the upstream sent, before it is passed on: held back ``delay_s`` (not recorded)."""
        await asyncio.sleep(self.delay_s)
