"""Bounded time beyond HTTP: the TLS certificate check, the Redis PING and PostgreSQL statements end by
``timeout_s`` (plus a little) when the server's answers crawl a byte at a time through a real proxy in
front of a real server (a TLS server, redis-server, the session's PostgreSQL cluster)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from opscheck.clients.postgres import connect_readonly
from opscheck.clients.readonly_db import ReadOnlyDatabase
from opscheck.clients.redis import ping_redis
from opscheck.clients.tls import inspect_certificate
from opscheck.credentials import database
from opscheck.credentials.database import role_privileges
from opscheck.errors import TargetUnreachable
from opscheck.restore import expectations
from opscheck.restore.expectations import live_migration_state
from opscheck.restore.servers.local import LocalCluster
from opscheck.secrets import mask_url
from tests.support.certs import LocalPKI
from tests.support.hostile_http import DribblingProxy
from tests.support.servers import LocalHTTPServer
from tests.support.smoke_run import healthy_routes
from tests.support.time_limits import SLACK_S, finishes_within

if TYPE_CHECKING:
    from tests.support.redis_server import RedisServer

pytest_plugins = ["tests.support.redis_server"]


def test_a_dribbled_tls_handshake_ends_by_the_timeout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cert = LocalPKI(tmp_path / "pki").valid()
    with (
        LocalHTTPServer(healthy_routes(), ssl_context=cert.server_context) as server,
        DribblingProxy(server.port, interval_s=0.05) as proxy,
    ):
        _took, result = finishes_within(
            2 + SLACK_S,
            lambda: inspect_certificate("localhost", proxy.port, ca_bundle=str(cert.ca_bundle), timeout_s=2),
        )
    assert isinstance(result, TargetUnreachable), result
    assert "timed out after 2 s during the TLS handshake" in str(result)


def test_a_dribbled_redis_ping_ends_by_the_timeout(redis_server: RedisServer) -> None:
    with DribblingProxy(redis_server.port, interval_s=0.2) as proxy:
        url = redis_server.url().replace(f":{redis_server.port}/", f":{proxy.port}/")
        _took, result = finishes_within(1.5 + SLACK_S, lambda: ping_redis(url, timeout_s=1.5))
    assert isinstance(result, TargetUnreachable), result
    assert "1.5 s" in str(result)


def test_a_statement_whose_answer_crawls_ends_by_the_timeout(pg_cluster: LocalCluster) -> None:
    with DribblingProxy(pg_cluster.port, interval_s=0.05, start=False) as proxy:
        url = pg_cluster.dsn().replace(f":{pg_cluster.port}/", f":{proxy.port}/")
        assert url != pg_cluster.dsn()
        with ReadOnlyDatabase(connect_readonly(url, timeout_s=2), timeout_s=2) as db:
            assert db.execute("SELECT 1").fetchone() == (1,)
            proxy.dribbling.set()
            _took, result = finishes_within(2 + 1 + SLACK_S, lambda: db.execute("SELECT repeat('x', 4000)"))
    assert isinstance(result, TargetUnreachable), result
    assert "did not answer within" in str(result)


def test_the_role_privileges_query_ends_by_the_timeout_when_its_answer_crawls(
    pg_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The credentials suite's least-privilege check: logged in at full speed, then pg_roles crawls."""
    with DribblingProxy(pg_cluster.port, interval_s=0.05, start=False) as proxy:
        url = pg_cluster.dsn().replace(f":{pg_cluster.port}/", f":{proxy.port}/")

        def connect_then_crawl(*args: Any, **kwargs: Any) -> Any:
            conn = connect_readonly(*args, **kwargs)
            proxy.dribbling.set()
            return conn

        monkeypatch.setattr(database, "connect_readonly", connect_then_crawl)
        _took, result = finishes_within(2 + 1 + SLACK_S, lambda: role_privileges(url, timeout_s=2))
    assert isinstance(result, TargetUnreachable), result
    assert result.checked == "DATABASE_URL [least-privilege]: reading pg_roles"
    assert result.reason == "did not answer within 3 s"


def test_the_live_migration_state_read_ends_by_the_timeout_when_its_answer_crawls(
    pg_cluster: LocalCluster, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The restore suite compares the backup's newest migration with the live database's: that read of
    production is bounded like the db fixture's statements."""
    dbname = pg_database.rsplit("/", 1)[1].split("?", maxsplit=1)[0]
    created = pg_cluster.psql(
        "-q",
        "-c",
        "CREATE TABLE _prisma_migrations (migration_name text, finished_at timestamptz, "
        "rolled_back_at timestamptz); INSERT INTO _prisma_migrations VALUES ('20240101_init', now(), NULL)",
        dbname=dbname,
    )
    assert created.returncode == 0, created.stderr
    with DribblingProxy(pg_cluster.port, interval_s=0.05, start=False) as proxy:
        url = pg_database.replace(f":{pg_cluster.port}/", f":{proxy.port}/")
        assert live_migration_state(url, timeout_s=2).latest == "20240101_init"

        def connect_then_crawl(*args: Any, **kwargs: Any) -> Any:
            conn = connect_readonly(*args, **kwargs)
            proxy.dribbling.set()
            return conn

        monkeypatch.setattr(expectations, "connect_readonly", connect_then_crawl)
        _took, result = finishes_within(2 + 1 + SLACK_S, lambda: live_migration_state(url, timeout_s=2))
    assert isinstance(result, TargetUnreachable), result
    assert result.checked == f"_prisma_migrations of PostgreSQL at {mask_url(url)}"
    assert result.reason == "did not answer within 3 s"


def test_a_login_whose_answers_crawl_ends_by_the_timeout(pg_cluster: LocalCluster) -> None:
    """Connecting (TCP, startup, authentication) is bounded as a whole too: psycopg's connect_timeout is one
    deadline for the attempt, not a per-read timeout."""
    with DribblingProxy(pg_cluster.port, interval_s=0.05) as proxy:
        url = pg_cluster.dsn().replace(f":{pg_cluster.port}/", f":{proxy.port}/")
        _took, result = finishes_within(2 + SLACK_S, lambda: connect_readonly(url, timeout_s=2))
    assert isinstance(result, TargetUnreachable), result
    assert "connection timeout expired" in result.reason
