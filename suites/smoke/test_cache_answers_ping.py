"""Cache Management: the Redis cache, when configured, answers PING."""

import pytest

from opscheck.clients.redis import ping_redis
from opscheck.config import Environment
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("4-cache-management", severity="P2")
def test_cache_answers_ping(opscheck_env: Environment, check: CheckRecord) -> None:
    latency = ping_redis(opscheck_env.cache.redis_url.reveal(), timeout_s=opscheck_env.timeout_s)
    check.metric("latency_ms", latency)
