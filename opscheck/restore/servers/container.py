"""A throwaway PostgreSQL server in a Docker container: the "testcontainers" provider.

``ContainerCluster`` is the sibling of :class:`opscheck.restore.servers.local.LocalCluster` with the same surface (a
context manager, ``start()``/``stop()``, ``dsn()``, ``psql()``, ``run_sql_file()``, ``create_database()``,
``state()``/``detach()``), but the server runs in a container started through testcontainers'
``PostgresContainer``, and every client tool (psql) runs *inside* that container with ``docker exec``, so
client and server always come from the same image::

    with ContainerCluster() as cluster:               # image opscheck/postgres:15-local
        cluster.create_database("app")
        cluster.run_sql_file(Path("dump.sql"), dbname="app")
        with psycopg.connect(cluster.dsn("app")) as conn:   # 127.0.0.1:<mapped port>, password auth
            ...

Images are never pulled: the image must already be present (``scripts/docker-postgres.sh`` builds the
default one from this machine's PostgreSQL). With a local daemon the container's port 5432 is published on
127.0.0.1 only. Asking the daemon (is it up, is the image there, which containers are ours) is
:mod:`opscheck.restore.servers.engine`.

testcontainers' resource reaper (Ryuk) is switched off (its image cannot be pulled either), so removing
containers is this module's job: ``stop()``, a failed ``start()`` (also on KeyboardInterrupt) and, for a
cluster that is never stopped, a finalizer at garbage collection or interpreter exit all remove the
container by its label. No message raised here contains the cluster's password.

:func:`opscheck.restore.servers.provider.select_provider` decides between this provider and the local one
(``[restore] provider``).

Errors::

    OpscheckError
    ├── DockerUnavailable     no Docker daemon answers: start dockerd (scripts/docker-postgres.sh)
    ├── ContainerError        the image is missing, the container failed to start or to stop, a docker
    │                         exec could not run; names the image and what to do
    └── SqlError              psql rejected SQL, with its first error line

DockerUnavailable and ContainerError are :mod:`opscheck.restore.servers.engine`'s, SqlError is
:mod:`opscheck.restore.servers.base`'s.
"""

from __future__ import annotations

import contextlib
import secrets
import shlex
import shutil
import subprocess
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

import docker.errors  # type: ignore[import-untyped]

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # testcontainers before the community split (still warns on import)
        from testcontainers.postgres import PostgresContainer

from opscheck.errors import OpscheckError
from opscheck.restore.servers import registry
from opscheck.restore.servers.base import PSQL_TIMEOUT, ServerRuntime, ThrowawayPostgres, scrub_password, tail
from opscheck.restore.servers.engine import (
    API_TIMEOUT,
    BIND_HOST,
    BUILD_SCRIPT,
    DEFAULT_IMAGE,
    LABEL,
    START_DAEMON_HINT,
    ContainerError,
    DockerUnavailable,
    docker_available,
    docker_host,
    image_present,
    one_line,
    prepare_testcontainers,
    remove_container,
    remove_labelled,
)
from opscheck.restore.servers.owner import run_owner
from opscheck.run.shield import shielded

__all__ = ["ContainerCluster", "stop_detached"]

_PG_PORT = 5432
_LOG_TAIL_LINES = 12

# seconds
_START_TIMEOUT = 60.0
_POLL_INTERVAL = 0.25


# ----------------------------------------------------------------------------------------- plumbing


def _docker_cli() -> str:
    cli = shutil.which("docker")
    if cli is None:
        raise ContainerError(
            f"the docker command-line client is not on PATH; install it with `sudo {BUILD_SCRIPT}`"
        )
    return cli


@dataclass
class _Runtime(ServerRuntime):
    """A cluster's container: its label token, image, address and our client of it; everything needed to
    remove it."""

    token: str
    image: str
    container: Any = field(default=None, repr=False)  # testcontainers' PostgresContainer once created
    container_id: str | None = None
    host: str = BIND_HOST
    port: int | None = None
    major: int | None = None

    def state(self) -> dict[str, str]:
        return {
            "provider": "testcontainers",
            "container_id": self.container_id or "",
            "label": f"{LABEL}={self.token}",
            "image": self.image,
            "host": self.host,
            "port": str(self.port or ""),
            "record": self.record.id if self.record is not None else "",
        }

    def remove(self) -> None:
        """Remove the container (found by label, so also one whose creation was interrupted), then close
        our client."""
        try:
            remove_labelled(self.token)
        finally:
            self.release()

    def release(self) -> None:
        """Close our docker client; the container, if it still runs, keeps running."""
        container, self.container = self.container, None
        if container is not None:
            with contextlib.suppress(
                Exception
            ):  # a client of a removed or detached container: nothing to report
                container.get_docker_client().client.close()


class _BoundedPostgres(PostgresContainer):
    """testcontainers' PostgresContainer with a readiness wait that has a deadline and notices a dead
    container; it probes like testcontainers does (psql over TCP inside the container, with the password).
    """

    opscheck_deadline: float = 0.0

    def _connect(self) -> None:
        wrapped = self.get_wrapped_container()
        probe = ["psql", "-X", "-w", "-h", "127.0.0.1", "-U", self.username, "-d", self.dbname,
                 "-Atc", "select 1"]  # fmt: skip
        while True:
            wrapped.reload()
            if wrapped.status in {"exited", "dead"}:
                code = wrapped.attrs.get("State", {}).get("ExitCode")
                raise ContainerError(
                    f"the container exited (status {code}) before PostgreSQL accepted connections; "
                    f"its log, last lines:\n{self._logtail()}"
                )
            try:
                result = wrapped.exec_run(probe, environment={"PGPASSWORD": self.password})
            except docker.errors.APIError as exc:  # e.g. it stopped between the status check and the exec
                last = one_line(exc)
            else:
                if result.exit_code == 0:
                    return
                last = tail(result.output.decode(errors="replace"), 2)
            if time.monotonic() > self.opscheck_deadline:
                raise ContainerError(
                    f"PostgreSQL did not accept connections in time (last probe: {last}); "
                    f"container log, last lines:\n{self._logtail()}"
                )
            time.sleep(_POLL_INTERVAL)

    def _logtail(self) -> str:
        logs: bytes = self.get_wrapped_container().logs(tail=_LOG_TAIL_LINES)
        return logs.decode(errors="replace").rstrip()


# ------------------------------------------------------------------------------------------ the cluster


class ContainerCluster(ThrowawayPostgres):
    """An ephemeral PostgreSQL server in a container: a context manager, or ``start()``/``stop()``.

    ``image`` must be present locally (default :data:`DEFAULT_IMAGE`); ``password`` defaults to a random
    one; ``start_timeout`` bounds container creation plus the wait for the server. A cluster that is never
    stopped has its container removed at garbage collection or interpreter exit.
    """

    _runtime: _Runtime | None

    def __init__(
        self,
        *,
        image: str = DEFAULT_IMAGE,
        superuser: str = "postgres",
        password: str | None = None,
        start_timeout: float = _START_TIMEOUT,
    ) -> None:
        super().__init__(superuser=superuser, password=password)
        if not superuser:
            raise ValueError("the superuser name must be non-empty")
        self._image = image
        self._start_timeout = start_timeout

    # -- lifecycle

    def start(self) -> Self:
        """Create and start the container, wait until PostgreSQL accepts password logins over TCP.

        Raises DockerUnavailable when no daemon answers, ContainerError when the image is missing or the
        server does not come up within ``start_timeout``; on any failure the container is removed.
        """
        if self._runtime is not None:
            raise ContainerError(f"{self!r} is already started")
        up, why = docker_available()
        if not up:
            raise DockerUnavailable(
                f"cannot start a PostgreSQL container from {self._image}: {why}; {START_DAEMON_HINT}"
            )
        present, image_why = image_present(self._image, timeout_s=API_TIMEOUT)
        if not present:
            raise ContainerError(f"cannot start a PostgreSQL container: {image_why}")
        prepare_testcontainers()

        rt = _Runtime(token=secrets.token_hex(8), image=self._image)
        self._track(rt)
        started = time.monotonic()
        owner = run_owner()
        try:
            # recorded before the container exists: a process killed from here on leaves a record to reap
            rt.record = registry.ServerRecord(rt.token, "testcontainers", owner)
            rt.save_record()
            pg = _BoundedPostgres(
                self._image, username=self._superuser, password=self._password, dbname="postgres", driver=None
            )
            pg.opscheck_deadline = started + self._start_timeout
            if docker_host().startswith("unix://"):
                # a local daemon: publish on the loopback interface only, on a free port (docker-py's
                # (ip, port) binding); a remote daemon's port stays where testcontainers puts it
                bindings: dict[str, Any] = pg.ports
                bindings[str(_PG_PORT)] = (BIND_HOST, None)
            pg.with_name(f"opscheck-pg-{rt.token}")
            pg.with_kwargs(
                labels={
                    LABEL: rt.token,
                    registry.OWNER_LABEL: owner.as_text(),
                    registry.NAMESPACE_LABEL: registry.namespace(),
                }
            )
            rt.container = pg
            pg.start()
            rt.container_id = pg.get_container_id()
            rt.port = int(pg.get_exposed_port(_PG_PORT))
            rt.host = str(pg.get_container_host_ip())
            rt.save_record()
        except BaseException as exc:
            self._cleanup_after_failed_start(exc)
            if not isinstance(exc, Exception) or isinstance(exc, DockerUnavailable):
                raise
            # anything else becomes a ContainerError naming the image (never showing the password)
            detail = str(exc) if isinstance(exc, OpscheckError) else one_line(exc)
            message = f"starting a PostgreSQL container from {self._image} failed: {detail}"
            error = ContainerError(scrub_password(message, self._password))
            for note in getattr(exc, "__notes__", ()):
                error.add_note(scrub_password(note, self._password))
            raise error from None
        return self

    def __repr__(self) -> str:
        rt = self._runtime
        if rt is None or rt.port is None:
            return f"<ContainerCluster {self._image} stopped>"
        return f"<ContainerCluster {self._image} {(rt.container_id or '')[:12]} on {self.host}:{rt.port}>"

    # -- facts about the running cluster

    @property
    def host(self) -> str:
        """The address the published port listens on (testcontainers' host, 127.0.0.1 here)."""
        return self._started().host

    @property
    def port(self) -> int:
        """The host port mapped to the container's 5432."""
        rt = self._runtime
        if rt is None or rt.port is None:
            raise ContainerError("the container has no port yet: start() it first")
        return rt.port

    @property
    def container_id(self) -> str:
        return self._started().container_id or ""  # a started container always has one

    @property
    def image(self) -> str:
        return self._image

    @property
    def major(self) -> int:
        """Major version of the running server (``SHOW server_version_num``)."""
        rt = self._started()
        if rt.major is None:
            proc = self.psql("-Atc", "SHOW server_version_num", timeout=30)
            out = proc.stdout.strip()
            if proc.returncode != 0 or not out.isdigit():
                raise ContainerError(
                    f"could not read the server version in the container from {self._image}: "
                    f"{tail(proc.stderr or proc.stdout)}"
                )
            rt.major = int(out) // 10000
        return rt.major

    def _started(self) -> _Runtime:
        if self._runtime is None or self._runtime.container_id is None:
            raise ContainerError("the container is not running: start() it first")
        return self._runtime

    # -- running SQL

    def _where(self) -> str:
        return f" in the container from {self._image}"

    def _exec_cmd(self, argv: Sequence[str], *, interactive: bool) -> list[str]:
        rt = self._started()
        cmd = [_docker_cli(), "exec"]
        if interactive:
            cmd.append("-i")
        cmd += ["-u", "postgres", "-e", "PGCLIENTENCODING=UTF8", rt.container_id or "", *argv]
        return cmd

    def client_command(self, tool: str, dbname: str, *args: str) -> list[str]:
        """A command running the image's ``tool`` (psql, pg_restore, ...) as the superuser against ``dbname``
        inside the container, reading stdin, so client and server versions always match."""
        return self._exec_cmd([tool, "-U", self._superuser, "-d", dbname, *args], interactive=True)

    def copy_in(self, path: Path) -> str:
        """Copy a local file into the container; returns its path there."""
        rt = self._started()
        target = f"/tmp/{path.name}"  # noqa: S108 - inside the throwaway container
        cmd = [_docker_cli(), "cp", str(path), f"{rt.container_id}:{target}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0:
            raise ContainerError(f"copying {path.name} into the container failed: {tail(proc.stderr)}")
        return target

    def _psql_argv(self, dbname: str, args: Sequence[str]) -> list[str]:
        # the unix socket inside the container: local connections are trusted, no password travels
        return ["psql", "-X", "-w", "-v", "ON_ERROR_STOP=1", "-U", self._superuser, "-d", dbname, *args]

    def _run(
        self,
        step: str,
        cmd: Sequence[str],
        *,
        timeout: float,
        input: str | None = None,
        stdin: IO[bytes] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        try:
            if stdin is not None:
                raw = subprocess.run(cmd, stdin=stdin, capture_output=True, timeout=timeout, check=False)
                return subprocess.CompletedProcess(
                    raw.args,
                    raw.returncode,
                    raw.stdout.decode("utf-8", errors="replace"),
                    raw.stderr.decode("utf-8", errors="replace"),
                )
            return subprocess.run(
                cmd,
                input=input,
                stdin=subprocess.DEVNULL if input is None else None,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            what = f"timed out after {timeout:g} s (the command may still run inside the container)"
        except OSError as exc:
            what = f"could not run ({exc.strerror})"
        raise ContainerError(
            scrub_password(
                f"{step} in the container from {self._image} failed: `{shlex.join(cmd)}` {what}",
                self._password,
            )
        )

    def psql(
        self, *args: str, input: str | None = None, dbname: str = "postgres", timeout: float = PSQL_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run the image's psql inside the container as the superuser (``-X -v ON_ERROR_STOP=1``).

        Returns the completed process whatever its exit status; raises ContainerError only if docker exec
        could not run or timed out. ``-f FILE`` names a file *inside* the container; to apply a file from
        this machine use :meth:`run_sql_file` (or pass its text as ``input``).
        """
        cmd = self._exec_cmd(self._psql_argv(dbname, args), interactive=input is not None)
        return self._run("psql", cmd, timeout=timeout, input=input)

    def run_sql_file(self, path: Path, dbname: str = "postgres", timeout: float = PSQL_TIMEOUT) -> None:
        """Stream an SQL file from this machine into the container's psql, stopping at the first error.

        SqlError carries psql's first error line.
        """
        cmd = self._exec_cmd(self._psql_argv(dbname, ["-q", "-f", "-"]), interactive=True)
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ContainerError(f"cannot read {path}: {exc.strerror}") from None
        with handle:
            proc = self._run("psql", cmd, timeout=timeout, stdin=handle)
        self._check_sql(proc, f"applying {path} to database {dbname!r}")


def stop_detached(state: Mapping[str, str]) -> None:
    """Remove a container left running by :meth:`ContainerCluster.detach` or by a process that died
    (by label, and by id), and its record."""
    with shielded():
        label = state.get("label", "")
        if label.startswith(f"{LABEL}="):
            remove_labelled(label.partition("=")[2])
        if state.get("container_id"):
            remove_container(state["container_id"], state.get("image", "unknown image"))
        if state.get("record"):
            registry.forget(state["record"])
