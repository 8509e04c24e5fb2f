"""The optional Redis cache: reachable and answering PING.

redis-py is imported when a PING is made: most runs configure no cache and never pay for importing it.
"""

from __future__ import annotations

import time

from opscheck.clients.bounded import finish_within
from opscheck.errors import CheckFailed, TargetUnreachable
from opscheck.secrets import mask_url, redactor

__all__ = ["ping_redis"]


def ping_redis(url: str, *, timeout_s: float) -> float:
    """PING the Redis server at ``url``; return the round trip in milliseconds."""
    import redis  # noqa: PLC0415 - only runs that PING a cache pay for importing redis-py

    where = f"Redis at {mask_url(url)}"
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    started = time.perf_counter()
    try:  # bounded as a whole: redis-py's timeouts apply to each read, a dribbled answer would outlast them
        answer = finish_within(client.ping, timeout_s)
    except TimeoutError:
        raise TargetUnreachable(where, f"no answer to PING within timeout_s = {timeout_s:g} s") from None
    except redis.AuthenticationError as exc:
        raise CheckFailed(
            f"login to {where}", "the configured credentials to be accepted", redactor().scrub(str(exc))
        ) from None
    except redis.RedisError as exc:
        raise TargetUnreachable(where, redactor().scrub(str(exc)) or type(exc).__name__) from None
    finally:
        client.close()
    if answer is not True:
        raise CheckFailed(f"PING to {where}", "PONG", repr(answer))
    return round((time.perf_counter() - started) * 1000, 1)
