"""The testcontainers provider against the real Docker engine and the locally built image.

Tests marked ``needs_docker`` skip with the reason when no Docker daemon answers or the image is not built
(``scripts/docker-postgres.sh`` provides both); with ``OPSCHECK_REQUIRE_DOCKER=1`` (CI) they fail instead, so
a broken engine cannot pass as a green run. The "Docker is down" tests point DOCKER_HOST at a socket path
nobody listens on and run everywhere.
"""

from __future__ import annotations

import gc
import os
import socket
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import psycopg
import pytest

from opscheck.errors import OpscheckError, UsageError
from opscheck.restore.servers import container
from opscheck.restore.servers.base import SqlError
from opscheck.restore.servers.container import ContainerCluster, stop_detached
from opscheck.restore.servers.engine import (
    DEFAULT_IMAGE,
    ContainerError,
    DockerUnavailable,
    docker_available,
    prepare_testcontainers,
)
from opscheck.restore.servers.provider import select_provider
from tests.support.databases import fresh_database

MISSING_IMAGE = "opscheck/does-not-exist:never"
needs_docker = pytest.mark.usefixtures("docker_ready")


@pytest.fixture(scope="session")
def sdk(docker_ready: None) -> Iterator[docker.DockerClient]:
    client = docker.from_env(timeout=30)
    yield client
    client.close()


@pytest.fixture(scope="module")
def cluster(docker_ready: None) -> Iterator[ContainerCluster]:
    """One running container shared by the read-mostly tests of this module."""
    with ContainerCluster(password=f"pw-{uuid.uuid4().hex}") as running:
        yield running


@pytest.fixture
def database(cluster: ContainerCluster) -> Iterator[str]:
    with fresh_database(cluster) as name:
        yield name


def _with_password(sdk: docker.DockerClient, password: str) -> list[str]:
    """Containers (any state) started with this POSTGRES_PASSWORD: precise even while other tests run."""
    wanted = f"POSTGRES_PASSWORD={password}"
    return [
        c.id for c in sdk.containers.list(all=True) if wanted in (c.attrs.get("Config", {}).get("Env") or [])
    ]


def _labelled(sdk: docker.DockerClient, state: dict[str, str]) -> list[str]:
    return [c.id for c in sdk.containers.list(all=True, filters={"label": state["label"]})]


# ------------------------------------------------------------------------------------------ running


@needs_docker
def test_connects_over_the_mapped_loopback_port_with_the_password(
    cluster: ContainerCluster, sdk: docker.DockerClient
) -> None:
    assert cluster.host == "127.0.0.1"
    with psycopg.connect(cluster.dsn(), connect_timeout=10) as conn:
        user, addr = conn.execute("SELECT current_user, inet_server_addr()::text").fetchone() or (None, None)
    assert user == "postgres"
    assert addr is not None  # a TCP connection, not a socket
    bindings = sdk.api.port(cluster.container_id, 5432)
    assert [(b["HostIp"], int(b["HostPort"])) for b in bindings] == [("127.0.0.1", cluster.port)]
    with psycopg.connect(**cluster.conninfo(), connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@needs_docker
def test_wrong_password_is_rejected(cluster: ContainerCluster) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(cluster.dsn(password="not-the-password"), connect_timeout=10)


@needs_docker
def test_major_and_state(cluster: ContainerCluster) -> None:
    assert cluster.major == 15
    state = cluster.state()
    assert state["provider"] == "testcontainers"
    assert state["container_id"] == cluster.container_id
    assert state["port"] == str(cluster.port)
    assert state["image"] == DEFAULT_IMAGE
    assert cluster.password not in repr(cluster) + str(state)


@needs_docker
def test_psql_runs_inside_the_container(cluster: ContainerCluster) -> None:
    proc = cluster.psql("-Atc", "SHOW data_directory")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "/var/lib/postgresql/data"  # the container's server, not the machine's
    assert proc.args[1] == "exec"
    version = cluster.psql("--version")
    assert version.returncode == 0
    assert "psql (PostgreSQL) 15." in version.stdout
    failed = cluster.psql("-c", "SELECT nosuchfunction()")
    assert failed.returncode != 0
    assert "nosuchfunction" in failed.stderr
    echoed = cluster.psql("-At", input="SELECT 40 + 2;\n")
    assert echoed.stdout.strip() == "42"


@needs_docker
def test_run_sql_file_applies_the_file(cluster: ContainerCluster, database: str, tmp_path: Path) -> None:
    sql = tmp_path / "schema.sql"
    sql.write_text(
        'CREATE TABLE "User" (id int PRIMARY KEY, email text NOT NULL);\n'
        'COPY "User" (id, email) FROM stdin;\n1\ta@example.test\n2\tb@example.test\n\\.\n',
        encoding="utf-8",
    )
    cluster.run_sql_file(sql, dbname=database)
    with psycopg.connect(cluster.dsn(database), connect_timeout=10) as conn:
        assert conn.execute('SELECT count(*) FROM "User"').fetchone() == (2,)


@needs_docker
def test_run_sql_file_raises_sql_error_with_the_first_error_line(
    cluster: ContainerCluster, database: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.sql"
    bad.write_text(
        "CREATE TABLE ok (id int);\nSELECT * FROM first_missing_table;\nSELECT * FROM second_missing;\n",
        encoding="utf-8",
    )
    with pytest.raises(SqlError) as info:
        cluster.run_sql_file(bad, dbname=database)
    assert "first_missing_table" in info.value.first_error
    assert "ERROR:" in info.value.first_error
    assert "second_missing" not in str(info.value)  # ON_ERROR_STOP: psql stopped at the first error
    assert str(bad) in str(info.value)
    assert DEFAULT_IMAGE in str(info.value)
    assert cluster.password not in str(info.value)


@needs_docker
def test_create_database_refusal_is_a_sql_error(cluster: ContainerCluster, database: str) -> None:
    with pytest.raises(SqlError, match="already exists"):
        cluster.create_database(database)


# ------------------------------------------------------------------------------------------ lifecycle


@needs_docker
def test_stop_removes_the_container_and_is_idempotent(sdk: docker.DockerClient) -> None:
    running = ContainerCluster().start()
    container_id = running.container_id
    state = running.state()
    assert sdk.containers.get(container_id).status == "running"
    running.stop()
    with pytest.raises(docker.errors.NotFound):
        sdk.containers.get(container_id)
    assert _labelled(sdk, state) == []
    running.stop()  # a second stop is fine
    with pytest.raises(ContainerError, match=r"start\(\) it first"):
        _ = running.port
    assert "stopped" in repr(running)


@needs_docker
def test_failed_start_on_a_missing_image_names_it_and_leaves_no_container(sdk: docker.DockerClient) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    broken = ContainerCluster(image=MISSING_IMAGE, password=password)
    with pytest.raises(ContainerError) as info:
        broken.start()
    message = str(info.value)
    assert MISSING_IMAGE in message
    assert "scripts/docker-postgres.sh" in message
    assert password not in message
    assert _with_password(sdk, password) == []
    broken.stop()  # stop after a failed start is fine


@needs_docker
def test_container_that_exits_fails_fast_with_its_log_and_is_removed(sdk: docker.DockerClient) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    # initdb refuses superuser names starting with pg_: the entrypoint exits, the container with it
    broken = ContainerCluster(superuser="pg_refused", password=password, start_timeout=60)
    with pytest.raises(ContainerError) as info:
        broken.start()
    message = str(info.value)
    assert DEFAULT_IMAGE in message
    assert "exited" in message
    assert "pg_" in message  # initdb's complaint, from the container log
    assert password not in message
    assert _with_password(sdk, password) == []


@needs_docker
def test_start_is_bounded_by_start_timeout(sdk: docker.DockerClient) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    with pytest.raises(ContainerError, match="did not accept connections in time"):
        ContainerCluster(password=password, start_timeout=0).start()
    assert _with_password(sdk, password) == []


@needs_docker
def test_keyboard_interrupt_during_start_removes_the_container(
    sdk: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[str] = []

    def interrupted(self: container._BoundedPostgres) -> None:
        created.append(self.get_container_id())
        raise KeyboardInterrupt

    monkeypatch.setattr(container._BoundedPostgres, "_connect", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ContainerCluster().start()
    assert len(created) == 1  # the interrupt came after the container existed
    with pytest.raises(docker.errors.NotFound):
        sdk.containers.get(created[0])


@needs_docker
def test_context_manager_removes_the_container_on_error(sdk: docker.DockerClient) -> None:
    seen: dict[str, str] = {}
    with pytest.raises(RuntimeError, match="boom"), ContainerCluster() as running:  # noqa: PT012
        seen = running.state()
        raise RuntimeError("boom")
    assert seen
    assert _labelled(sdk, seen) == []


@needs_docker
def test_detach_then_stop_detached(sdk: docker.DockerClient) -> None:
    running = ContainerCluster().start()
    state = running.detach()
    try:
        running.stop()  # detached: stop() leaves the container alone
        assert sdk.containers.get(state["container_id"]).status == "running"
        url = f"postgresql://{running.superuser}:{running.password}@{state['host']}:{state['port']}/postgres"
        with psycopg.connect(url, connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        stop_detached(state)
    assert _labelled(sdk, state) == []
    stop_detached(state)  # already gone: fine


@needs_docker
def test_an_unstopped_cluster_is_removed_when_collected(sdk: docker.DockerClient) -> None:
    running = ContainerCluster().start()
    state = running.state()
    del running
    gc.collect()
    assert _labelled(sdk, state) == []


@needs_docker
def test_the_image_works_with_testcontainers_stock_readiness(sdk: docker.DockerClient) -> None:
    """testcontainers' own PostgresContainer (its psql-in-the-container wait) starts the image."""
    prepare_testcontainers()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from testcontainers.postgres import PostgresContainer
    password = f"tc-{uuid.uuid4().hex}"
    stock = PostgresContainer(DEFAULT_IMAGE, username="tc", password=password, dbname="tcdb", driver=None)
    try:
        stock.start()
        url = stock.get_connection_url()
        assert url.startswith(f"postgresql://tc:{password}@127.0.0.1:")
        with psycopg.connect(url, connect_timeout=10) as conn:
            assert conn.execute("SELECT current_database(), current_user").fetchone() == ("tcdb", "tc")
    finally:
        stock.stop()
    assert _with_password(sdk, password) == []


# ------------------------------------------------------------------------------------------ providers


@needs_docker
def test_select_provider_with_docker_up() -> None:
    provider, why = select_provider("auto", DEFAULT_IMAGE)
    assert provider == "testcontainers"
    assert "Docker daemon answered" in why
    assert select_provider("testcontainers", DEFAULT_IMAGE)[0] == "testcontainers"
    provider, why = select_provider("auto", MISSING_IMAGE)
    assert provider == "local"
    assert MISSING_IMAGE in why
    with pytest.raises(ContainerError, match="does-not-exist"):
        select_provider("testcontainers", MISSING_IMAGE)


def test_select_provider_local_and_unknown() -> None:
    assert select_provider("local", DEFAULT_IMAGE) == ("local", "configured")
    with pytest.raises(UsageError, match="unknown PostgreSQL provider 'podman'"):
        select_provider("podman", DEFAULT_IMAGE)


@pytest.fixture(params=["missing", "not-listening"])
def docker_down(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """DOCKER_HOST at a unix socket path nobody answers on (absent, or bound but not listening)."""
    path = tmp_path / "docker.sock"
    sock = None
    if request.param == "not-listening":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    try:
        yield str(path)
    finally:
        if sock is not None:
            sock.close()


def test_docker_available_false_when_the_socket_is_closed(docker_down: str) -> None:
    up, why = docker_available(timeout_s=2)
    assert up is False
    assert why.startswith("no Docker daemon:")
    assert docker_down in why


def test_configured_testcontainers_fails_loudly_when_docker_is_down(docker_down: str) -> None:
    with pytest.raises(DockerUnavailable) as info:
        select_provider("testcontainers", DEFAULT_IMAGE)
    assert "start dockerd" in str(info.value)
    assert isinstance(info.value, OpscheckError)
    provider, why = select_provider("auto", DEFAULT_IMAGE)
    assert provider == "local"
    assert "no Docker daemon" in why
    assert select_provider("local", DEFAULT_IMAGE) == ("local", "configured")


def test_start_without_docker_raises_docker_unavailable(docker_down: str) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    cluster = ContainerCluster(password=password)
    with pytest.raises(DockerUnavailable) as info:
        cluster.start()
    assert DEFAULT_IMAGE in str(info.value)
    assert "start dockerd" in str(info.value)
    assert password not in str(info.value)
    cluster.stop()


def test_prepare_testcontainers_sets_defaults_and_keeps_explicit_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from testcontainers.core.config import ConnectionMode, testcontainers_config

    for attr in ("tc_host_override", "connection_mode_override", "ryuk_disabled"):
        monkeypatch.setattr(testcontainers_config, attr, getattr(testcontainers_config, attr))
    for var in ("TESTCONTAINERS_RYUK_DISABLED", "TESTCONTAINERS_CONNECTION_MODE", "TC_HOST",
                "TESTCONTAINERS_HOST_OVERRIDE", "DOCKER_HOST"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    prepare_testcontainers()
    assert os.environ["TESTCONTAINERS_RYUK_DISABLED"] == "true"
    assert os.environ["TESTCONTAINERS_CONNECTION_MODE"] == "docker_host"
    assert os.environ["TC_HOST"] == "127.0.0.1"
    assert testcontainers_config.ryuk_disabled is True
    assert testcontainers_config.connection_mode_override is ConnectionMode.docker_host
    assert testcontainers_config.tc_host_override == "127.0.0.1"

    monkeypatch.setenv("TC_HOST", "192.0.2.7")
    monkeypatch.setenv("TESTCONTAINERS_CONNECTION_MODE", "gateway_ip")
    prepare_testcontainers()
    assert os.environ["TC_HOST"] == "192.0.2.7"
    assert testcontainers_config.tc_host_override == "192.0.2.7"
    assert testcontainers_config.connection_mode_override is ConnectionMode.gateway_ip


def test_password_must_be_one_nonempty_line() -> None:
    with pytest.raises(ValueError, match="single line"):
        ContainerCluster(password="a\nb")
    with pytest.raises(ValueError, match="single line"):
        ContainerCluster(password="")
