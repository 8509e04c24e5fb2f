"""Fault-matrix builders for hostile targets (issue 12): a site that dribbles every answer a byte at a time,
a page that answers 200 with Next.js's error payload, a page larger than ``max_body_mb`` that must say
something (plain, or a gzip bomb small on the wire), a database whose configured role can write, and a database, a Redis and an S3 endpoint (backups,
AWS credentials) whose answers crawl.

Each yields the row's :class:`tests.faults.test_fault_matrix.Setup` (built by ``smoke_setup`` / ``Setup``,
passed in, so this module imports nothing from the matrix).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.hostile_http import DribblingProxy, DribblingServer, gzip_bomb
from tests.support.moto import client_for
from tests.support.servers import LocalHTTPServer, Route
from tests.support.smoke_run import healthy_routes

HTML = {"Content-Type": "text/html; charset=utf-8"}

#: the part of what the real reference app (next 16) serves for a page whose <Suspense> part threw while
#: streaming (status 200): an ordinary document whose Server Components payload carries an error row
STREAMED_ERROR_PAGE = (
    '<!DOCTYPE html><html lang="en"><head><title>opscheck reference app</title></head><body><main>'
    "<h1>Orders</h1><p>Loading orders…</p></main>"
    '<script>self.__next_f.push([1,"6:[\\"$\\",\\"main\\",null,{\\"children\\":[\\"$\\",\\"h1\\",null,'
    '{\\"children\\":\\"Orders\\"}]}]\\n"])</script>'
    '<script>self.__next_f.push([1,"9:E{\\"digest\\":\\"1113312623\\"}\\n"])</script></body></html>'
)


def dribbling_site(smoke_setup: Callable[..., Any]) -> Callable[[Any], Any]:
    @contextmanager
    def build(ctx: Any) -> Iterator[Any]:
        """Every answer's body arrives a byte every 0.1 s: no read ever times out, only the request's deadline."""
        with DribblingServer(stage="body", interval_s=0.1, body_size=100_000) as server:
            yield smoke_setup(server.url, ctx, timeout_s=2)

    return build


def error_body_page(smoke_setup: Callable[..., Any]) -> Callable[[Any], Any]:
    @contextmanager
    def build(ctx: Any) -> Iterator[Any]:
        routes = healthy_routes(extra={"/login": Route(body=STREAMED_ERROR_PAGE, headers=HTML)})
        with LocalHTTPServer(routes) as server:
            yield smoke_setup(server.url, ctx)

    return build


def oversized_page(smoke_setup: Callable[..., Any]) -> Callable[[Any], Any]:
    @contextmanager
    def build(ctx: Any) -> Iterator[Any]:
        """/login is 3 MB (max_body_mb = 1) and must say "Sign in", which only its end does."""
        body = "<p>" + "padding " * 400_000 + "</p><p>Sign in</p>"
        routes = healthy_routes(extra={"/login": Route(body=body, headers=HTML)})
        with LocalHTTPServer(routes) as server:
            setup = smoke_setup(server.url, ctx, pages=["/", {"path": "/login", "contains": "Sign in"}])
            setup.top["max_body_mb"] = 1
            yield setup

    return build


def gzip_bomb_page(smoke_setup: Callable[..., Any]) -> Callable[[Any], Any]:
    @contextmanager
    def build(ctx: Any) -> Iterator[Any]:
        """/login is 500 MB of zeros in half a megabyte of gzip (max_body_mb = 1) and must say "Sign in"."""
        bomb = Route(body=gzip_bomb(500_000_000), headers={**HTML, "Content-Encoding": "gzip"})
        with LocalHTTPServer(healthy_routes(extra={"/login": bomb})) as server:
            setup = smoke_setup(server.url, ctx, pages=["/", {"path": "/login", "contains": "Sign in"}])
            setup.top["max_body_mb"] = 1
            yield setup

    return build


def role_can_write(setup_type: Callable[..., Any]) -> Callable[[Any], Any]:
    @contextmanager
    def build(ctx: Any) -> Iterator[Any]:
        """database.url's role may INSERT into a table of a fresh database of the session's cluster."""
        cluster = ctx.fixture("pg_cluster")
        superuser_dsn: str = ctx.fixture("pg_database")
        dbname = superuser_dsn.rsplit("/", 1)[1].split("?", maxsplit=1)[0]
        role, password = f"matrix_writer_{secrets.token_hex(4)}", "planted-writer-pw-" + secrets.token_hex(6)
        sql = (
            f"CREATE ROLE {role} LOGIN PASSWORD '{password}'; CREATE TABLE orders (id int); "
            f"GRANT SELECT, INSERT ON orders TO {role};"
        )
        proc = cluster.psql("-q", "-c", sql, dbname=dbname)
        assert proc.returncode == 0, proc.stderr
        setup = setup_type(
            "http://127.0.0.1:9",
            tables={"database": {"url": cluster.dsn(user=role, password=password, dbname=dbname)}},
            top={"timeout_s": 3},
        )
        setup.planted["writer role password"] = password
        try:
            yield setup
        finally:
            cluster.psql("-q", "-c", f"DROP OWNED BY {role}; DROP ROLE {role}", dbname=dbname)

    return build


def database_dribbles(smoke_setup: Callable[..., Any]) -> Callable[[Any], Any]:
    @contextmanager
    def build(ctx: Any) -> Iterator[Any]:
        """The real database behind a proxy that passes its answers on a byte every 0.05 s."""
        cluster = ctx.fixture("pg_cluster")
        with (
            DribblingProxy(cluster.port, interval_s=0.05) as proxy,
            LocalHTTPServer(healthy_routes()) as site,
        ):
            url = ctx.db_url.replace(f":{cluster.port}/", f":{proxy.port}/")
            assert url != ctx.db_url
            yield smoke_setup(site.url, ctx, timeout_s=2, database_url=url)

    return build


def redis_dribbles(smoke_setup: Callable[..., Any]) -> Callable[[Any], Any]:
    @contextmanager
    def build(ctx: Any) -> Iterator[Any]:
        """A real redis-server behind a proxy that passes its answers on a byte every 0.2 s."""
        redis = ctx.fixture("redis_server")
        with DribblingProxy(redis.port, interval_s=0.2) as proxy, LocalHTTPServer(healthy_routes()) as site:
            setup = smoke_setup(site.url, ctx, timeout_s=2)
            setup.tables["cache"] = {"redis_url": redis.url().replace(f":{redis.port}/", f":{proxy.port}/")}
            setup.planted["redis password"] = redis.password
            yield setup

    return build


@contextmanager
def crawling_s3(ctx: Any, objects: dict[str, bytes]) -> Iterator[tuple[str, str]]:
    """A new bucket holding ``objects`` on the session's moto, and the URL of a proxy in front of that moto
    which passes its answers on a byte every 0.05 s: (bucket, endpoint URL)."""
    endpoint: str = ctx.fixture("s3_server")
    ctx.fixture("aws_env")
    client = client_for(endpoint)
    bucket = f"faults-crawl-{secrets.token_hex(5)}"
    client.create_bucket(Bucket=bucket)
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    with DribblingProxy(int(endpoint.rsplit(":", 1)[1]), interval_s=0.05) as proxy:
        yield bucket, f"http://127.0.0.1:{proxy.port}"


def s3_backups_crawl(
    restore_setup: Callable[..., Any], backups: Callable[[Any], dict[str, bytes]], prefix: str
) -> Callable[[Any], Any]:
    @contextmanager
    def build(ctx: Any) -> Iterator[Any]:
        """Healthy backups in S3, but every answer of the endpoint crawls: listing them must end by timeout_s."""
        with crawling_s3(ctx, backups(ctx)) as (bucket, endpoint):
            setup = restore_setup(f"s3://{bucket}/{prefix}", endpoint=endpoint, retention_days=2)
            setup.top["timeout_s"] = 2
            setup.planted["AWS secret key"] = os.environ["AWS_SECRET_ACCESS_KEY"]
            yield setup

    return build


def aws_answers_crawl(setup_type: Callable[..., Any]) -> Callable[[Any], Any]:
    @contextmanager
    def build(ctx: Any) -> Iterator[Any]:
        """The credentials suite asks STS (at the backups' endpoint) whether the AWS keys are accepted; its
        answer crawls: the check errors by timeout_s, the checks that need accepted keys skip."""
        with crawling_s3(ctx, {}) as (bucket, endpoint), LocalHTTPServer(healthy_routes()) as site:
            path = ctx.tmp_path / "x.env"
            path.write_text(f'NEXTAUTH_URL="{site.url}"\n', encoding="utf-8")
            backups = {"location": f"s3://{bucket}/db/", "s3_endpoint_url": endpoint, "rpo_hours": 24}
            setup = setup_type(
                site.url,
                tables={
                    "credentials": {"env_file": str(path), "required": ["NEXTAUTH_URL"]},
                    "backups": backups,
                },
                top={"timeout_s": 2},
            )
            setup.planted["AWS secret key"] = os.environ["AWS_SECRET_ACCESS_KEY"]
            yield setup

    return build
