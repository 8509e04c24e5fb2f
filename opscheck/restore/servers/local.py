"""A throwaway PostgreSQL cluster on this machine.

``LocalCluster`` runs ``initdb`` into a fresh temporary directory, starts ``postgres`` on a free loopback
port (plus a unix socket inside that directory) with durability switched off for speed, and ``stop()`` shuts
it down and removes the directory. It backs the demo stack, the project's own tests and the "local" provider
of the restore drill::

    with LocalCluster() as cluster:
        cluster.create_database("app")
        cluster.run_sql_file(Path("schema.sql"), dbname="app")
        with psycopg.connect(cluster.dsn("app")) as conn:
            ...

PostgreSQL refuses to run as root: when this process is root, ``initdb`` and the server run as the
``postgres`` OS user. Local (socket) connections are trusted; TCP connections need the password
(scram-sha-256). No message raised here contains the cluster's password.

Errors::

    OpscheckError
    ├── PostgresNotFound      no usable server binaries on this machine
    ├── ClusterError          a step of start/stop failed: names the step, the command, the server log tail
    │   └── PortInUse         the requested port is taken by another listener
    └── SqlError              psql rejected SQL, with its first error line (from opscheck.restore.servers.base)
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from opscheck.errors import OpscheckError
from opscheck.restore.servers import registry
from opscheck.restore.servers.base import (
    ConnInfo,
    SqlError,
    ThrowawayPostgres,
    scrub_password,
    tail,
)
from opscheck.restore.servers.owner import run_owner
from opscheck.run.shield import shielded

__all__ = [
    "ClusterError",
    "ConnInfo",
    "LocalCluster",
    "PortInUse",
    "PostgresNotFound",
    "SqlError",
    "find_postgres_bindir",
    "server_major",
    "stop_detached",
]

#: the binaries a cluster needs, all from one PostgreSQL installation
REQUIRED_TOOLS = ("initdb", "pg_ctl", "postgres", "psql")

_PACKAGED_BINDIRS = Path("/usr/lib/postgresql")
_INSTALL_HINT = "install them with `apt-get install -y postgresql`"
_SERVER_OS_USER = "postgres"
_HOST = "127.0.0.1"
_LOG_TAIL_LINES = 12
_PORT_ATTEMPTS = 3

# seconds
_VERSION_TIMEOUT = 15.0
_INITDB_TIMEOUT = 120.0
_START_WAIT = 30
_STOP_WAIT = 10
_EXIT_WAIT = 5.0
_PSQL_TIMEOUT = 300.0

#: a throwaway server: no crash safety; ``wal_level = minimal`` lets the drill's one restore transaction
#: write the tables it creates without WAL (COPY and CREATE INDEX skip it; measured: ~5 % less server CPU)
_FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
}


class PostgresNotFound(OpscheckError):
    """No PostgreSQL server installation with initdb, pg_ctl, postgres and psql was found."""


class ClusterError(OpscheckError):
    """A step of running the local cluster failed (initdb, start, stop, a psql call)."""


class PortInUse(ClusterError):
    """The server could not listen on its port because something else already does."""


# --------------------------------------------------------------------------------------------- binaries


def find_postgres_bindir(min_major: int | None = None) -> Path:
    """Return the bin directory of the newest installed PostgreSQL server (at least ``min_major``).

    Looks at ``/usr/lib/postgresql/<major>/bin`` (highest major first), then ``pg_config --bindir``.
    """
    rejected: list[str] = []
    for bindir in _candidate_bindirs():
        missing = [tool for tool in REQUIRED_TOOLS if not os.access(bindir / tool, os.X_OK)]
        if missing:
            rejected.append(f"{bindir} lacks {', '.join(missing)}")
            continue
        if min_major is not None and (major := server_major(bindir)) < min_major:
            rejected.append(f"{bindir} is PostgreSQL {major}")
            continue
        return bindir
    raise PostgresNotFound(_not_found_message(rejected, min_major))


def _candidate_bindirs() -> list[Path]:
    packaged = [d for d in _PACKAGED_BINDIRS.glob("*/bin") if d.parent.name.isdigit()]
    packaged.sort(key=lambda d: int(d.parent.name), reverse=True)
    configured = _pg_config_bindir()
    if configured is not None and configured not in packaged:
        packaged.append(configured)
    return packaged


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    try:
        proc = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=_VERSION_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.strip()
    return Path(out) if proc.returncode == 0 and out else None


def _not_found_message(rejected: list[str], min_major: int | None) -> str:
    wanted = "PostgreSQL server binaries (" + ", ".join(REQUIRED_TOOLS) + ")"
    if min_major is not None:
        wanted += f" of major version >= {min_major}"
    if not rejected:
        seen = f"nothing in {_PACKAGED_BINDIRS}/*/bin and no pg_config on PATH"
    else:
        seen = "; ".join(rejected)
    hint = _INSTALL_HINT if min_major is None else f"{_INSTALL_HINT} (or postgresql-{min_major})"
    return f"no usable {wanted} found ({seen}); {hint}"


@functools.cache
def server_major(bindir: Path) -> int:
    """Major version of the ``postgres`` binary in ``bindir`` (e.g. 15)."""
    cmd = [str(bindir / "postgres"), "--version"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_VERSION_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PostgresNotFound(f"`{shlex.join(cmd)}` could not run ({exc}); {_INSTALL_HINT}") from None
    match = re.search(r"\(PostgreSQL\) (\d+)", proc.stdout)
    if proc.returncode != 0 or match is None:
        output = tail(proc.stderr or proc.stdout)
        raise PostgresNotFound(f"`{shlex.join(cmd)}` printed no PostgreSQL version ({output})")
    return int(match.group(1))


# ------------------------------------------------------------------------------------- process plumbing


@dataclass(frozen=True)
class _OsUser:
    name: str
    uid: int
    gid: int


def _server_os_user() -> _OsUser | None:
    """The OS user to run initdb and the server as: ``postgres`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(_SERVER_OS_USER)
    except KeyError:
        raise ClusterError(
            f"PostgreSQL refuses to run as root and there is no {_SERVER_OS_USER!r} OS user to run it as; "
            "create one (`apt-get install -y postgresql` does) or run as an unprivileged user"
        ) from None
    return _OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


@dataclass
class _Runtime:
    """Everything needed to stop and remove a cluster; deliberately holds no reference to it."""

    tmpdir: Path
    bindir: Path
    os_user: _OsUser | None
    secret: str = field(repr=False)
    pid: int | None = None
    record: registry.ServerRecord | None = None

    @property
    def data_dir(self) -> Path:
        return self.tmpdir / "data"

    @property
    def log_file(self) -> Path:
        return self.tmpdir / "postgres.log"

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def _child_env(rt: _Runtime, *, as_server: bool) -> dict[str, str]:
    """Our environment minus libpq's PG* variables, untranslated messages, and a usable HOME."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    env["PGCLIENTENCODING"] = "UTF8"
    if as_server and rt.os_user is not None:
        env.update(HOME=str(rt.tmpdir), USER=rt.os_user.name, LOGNAME=rt.os_user.name)
    return env


def _run(
    rt: _Runtime,
    step: str,
    cmd: Sequence[str],
    *,
    timeout: float,
    as_server: bool = True,
    input: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` (as the server's OS user unless ``as_server`` is false); ClusterError on any failure."""
    user = rt.os_user if as_server else None
    try:
        proc = subprocess.run(
            cmd,
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=rt.tmpdir,
            env=_child_env(rt, as_server=as_server),
            user=None if user is None else user.uid,
            group=None if user is None else user.gid,
            extra_groups=None if user is None else [],
        )
    except subprocess.TimeoutExpired:
        raise ClusterError(_describe(rt, step, cmd, f"timed out after {timeout:g} s")) from None
    except OSError as exc:
        raise ClusterError(_describe(rt, step, cmd, f"could not run ({exc.strerror})")) from None
    if check and proc.returncode != 0:
        output = tail(proc.stderr or proc.stdout)
        raise ClusterError(_describe(rt, step, cmd, f"exited {proc.returncode}: {output}"))
    return proc


def _describe(rt: _Runtime, step: str, cmd: Sequence[str], what: str) -> str:
    message = f"{step} failed: `{shlex.join(cmd)}` {what}"
    log = _logtail(rt)
    if log:
        message += f"\nserver log, last lines:\n{log}"
    return scrub_password(message, rt.secret)


def _logtail(rt: _Runtime) -> str:
    try:
        text = rt.log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-_LOG_TAIL_LINES:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _read_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text(encoding="ascii").split("\n", 1)[0]
    except (OSError, UnicodeDecodeError):
        return None
    return int(first) if first.strip().isdigit() else None


def _postmaster_of(pid: int | None, data_dir: Path) -> int | None:
    """``pid`` if it is the postmaster of ``data_dir`` (its command line names the directory), else None:
    after a crash or a reboot the pid in ``postmaster.pid`` may belong to an unrelated process."""
    if pid is None:
        return None
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return None
    except OSError:
        return pid if _signalable(pid) else None  # no /proc: trust the pid file, as pg_ctl does
    return pid if os.fsencode(str(data_dir)) in argv and _pid_alive(pid) else None


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` is a running (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return False
    except OSError:
        return _signalable(pid)
    return stat.rpartition(")")[2].split()[0] != "Z"


def _signalable(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists; it belongs to another user
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# ---------------------------------------------------------------------------------- start and shutdown


def _initdb(rt: _Runtime, superuser: str, password: str) -> None:
    pwfile = rt.tmpdir / "pwfile"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    if rt.os_user is not None:
        os.chown(pwfile, rt.os_user.uid, rt.os_user.gid)
    cmd = [
        rt.tool("initdb"), "-D", str(rt.data_dir), "-U", superuser, f"--pwfile={pwfile}",
        "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "-N",
    ]  # fmt: skip
    step = "initdb"
    if rt.os_user is not None:
        step += f" (as OS user {rt.os_user.name!r}, which must be able to reach {rt.tmpdir}; see TMPDIR)"
    try:
        _run(rt, step, cmd, timeout=_INITDB_TIMEOUT)
    finally:
        pwfile.unlink(missing_ok=True)


def _start_server(rt: _Runtime, requested_port: int | None) -> int:
    """Start the server; with no port requested, retry on another free port if the chosen one was taken."""
    if requested_port is not None:
        _pg_ctl_start(rt, requested_port)
        return requested_port
    for _ in range(_PORT_ATTEMPTS - 1):
        port = _free_port()
        with contextlib.suppress(PortInUse):
            _pg_ctl_start(rt, port)
            return port
    port = _free_port()
    _pg_ctl_start(rt, port)
    return port


def _pg_ctl_start(rt: _Runtime, port: int) -> None:
    settings: Mapping[str, str] = {
        "listen_addresses": _HOST,
        "port": str(port),
        "unix_socket_directories": str(rt.tmpdir),
        **_FAST_SETTINGS,
    }
    options = " ".join(f"-c {shlex.quote(f'{name}={value}')}" for name, value in settings.items())
    cmd = [
        rt.tool("pg_ctl"), "start", "-D", str(rt.data_dir), "-l", str(rt.log_file),
        "-w", "-t", str(_START_WAIT), "-o", options,
    ]  # fmt: skip
    rt.log_file.unlink(missing_ok=True)
    try:
        _run(rt, f"starting the server on {_HOST}:{port}", cmd, timeout=_START_WAIT + 15)
    except ClusterError as exc:
        if "could not bind" in _logtail(rt) and _read_pid(rt.data_dir) is None:
            raise PortInUse(str(exc)) from None
        raise
    rt.pid = _read_pid(rt.data_dir)


def _shutdown(rt: _Runtime) -> None:
    """Stop the server if it runs, remove the temporary directory, then its record. Safe after a half-done
    start; a SIGINT/SIGTERM arriving meanwhile waits until it is done (see :mod:`opscheck.run.shield`)."""
    with shielded():
        try:
            _stop_server(rt)
        finally:
            _remove_tree(rt)
        if rt.record is not None:
            registry.forget(rt.record.id)


def _stop_server(rt: _Runtime) -> None:
    pid = _postmaster_of(rt.pid, rt.data_dir) or _postmaster_of(_read_pid(rt.data_dir), rt.data_dir)
    if pid is None:
        return
    cmd = [rt.tool("pg_ctl"), "stop", "-D", str(rt.data_dir), "-m", "fast", "-w", "-t", str(_STOP_WAIT)]
    try:
        _run(rt, "stopping the server", cmd, timeout=_STOP_WAIT + 10)
    except ClusterError as exc:
        problem = str(exc)
    else:
        if _wait_gone(pid, _EXIT_WAIT):
            return
        problem = f"pg_ctl stop returned, the process stayed for {_EXIT_WAIT:g} s"
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if _wait_gone(pid, _EXIT_WAIT):
            return
    raise ClusterError(f"stopping the server: postmaster {pid} survived SIGQUIT and SIGKILL ({problem})")


def _remove_tree(rt: _Runtime) -> None:
    try:
        shutil.rmtree(rt.tmpdir)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ClusterError(f"removing the cluster directory {rt.tmpdir} failed: {exc}") from None


def stop_detached(state: Mapping[str, str]) -> None:
    """Stop a cluster left running by :meth:`LocalCluster.detach` (or by a process that died), remove
    its directory and its record."""
    pid = state.get("pid")
    rt = _Runtime(
        Path(state["tmpdir"]), Path(state["bindir"]), _server_os_user(), "", int(pid) if pid else None
    )
    if state.get("record"):
        rt.record = registry.ServerRecord(state["record"], "local", None)
    _shutdown(rt)


def _state_of(rt: _Runtime) -> dict[str, str]:
    record = rt.record.id if rt.record is not None else ""
    return {"tmpdir": str(rt.tmpdir), "bindir": str(rt.bindir), "pid": str(rt.pid or ""), "record": record}


# ------------------------------------------------------------------------------------------- the cluster


class LocalCluster(ThrowawayPostgres):
    """An ephemeral PostgreSQL cluster: a context manager, or call ``start()`` and ``stop()`` yourself.

    ``password`` defaults to a random one, ``port`` to a free loopback port, ``bindir`` to
    :func:`find_postgres_bindir`. A cluster that is never stopped is stopped at interpreter exit.
    """

    def __init__(
        self,
        *,
        superuser: str = "postgres",
        password: str | None = None,
        port: int | None = None,
        bindir: Path | None = None,
    ) -> None:
        if password is not None and ("\n" in password or "\r" in password or not password):
            raise ValueError("the superuser password must be non-empty and a single line")
        self._superuser = superuser
        self._password = password if password is not None else secrets.token_urlsafe(24)
        self._requested_port = port
        self._port = port
        self._bindir = bindir if bindir is not None else find_postgres_bindir()
        self._runtime: _Runtime | None = None
        self._finalizer: weakref.finalize[[_Runtime], LocalCluster] | None = None

    # -- lifecycle

    def start(self) -> Self:
        """initdb into a new temporary directory and start the server; on failure clean up and raise."""
        if self._runtime is not None:
            raise ClusterError(f"{self!r} is already started")
        os_user = _server_os_user()
        rt = _Runtime(Path(tempfile.mkdtemp(prefix="opscheck-pg-")), self._bindir, os_user, self._password)
        self._runtime = rt
        self._finalizer = weakref.finalize(self, _shutdown, rt)
        try:
            rt.record = registry.ServerRecord(registry.new_record_id(), "local", run_owner())
            self._record_state(rt)
            if os_user is not None:
                os.chown(rt.tmpdir, os_user.uid, os_user.gid)
            _initdb(rt, self._superuser, self._password)
            self._port = _start_server(rt, self._requested_port)
            self._record_state(rt)
        except BaseException as exc:
            self._cleanup_after_failed_start(exc)
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown, else kill it) and remove its directory. Safe to call again."""
        finalizer, self._finalizer = self._finalizer, None
        self._runtime = None
        self._port = self._requested_port
        if finalizer is not None:
            finalizer()

    def detach(self, *, kept: bool = True) -> dict[str, str]:
        """Leave the server running after this process exits.

        ``kept`` (``opscheck demo --keep``): it has no owner any more, so no run reaps it; only ``opscheck
        demo --stop`` or ``opscheck cleanup`` remove it. Otherwise it stays its owner's (the run's
        controller under xdist), which stops it, or a later run reaps it once that owner is gone.
        Returns what :func:`stop_detached` needs to stop it and remove its directory later.
        """
        rt = self._started()
        state = self.state()
        if kept and rt.record is not None:
            rt.record.owner = None
            registry.write(rt.record)
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = None
        self._runtime = None
        return state

    def state(self) -> dict[str, str]:
        """Where the running cluster lives: enough for :func:`stop_detached` to stop it."""
        rt = self._started()
        return _state_of(rt)

    @staticmethod
    def _record_state(rt: _Runtime) -> None:
        if rt.record is not None:
            rt.record.state = _state_of(rt)
            registry.write(rt.record)

    def __repr__(self) -> str:
        state = f"running on {_HOST}:{self._port}" if self._runtime is not None else "stopped"
        return f"<LocalCluster {state}>"

    # -- facts about the running cluster

    @property
    def host(self) -> str:
        return _HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise ClusterError("the cluster has no port yet: start() it first")
        return self._port

    @property
    def socket_dir(self) -> Path:
        return self._started().tmpdir

    @property
    def data_dir(self) -> Path:
        return self._started().data_dir

    @property
    def log_file(self) -> Path:
        return self._started().log_file

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while running."""
        return None if self._runtime is None else self._runtime.pid

    @property
    def bindir(self) -> Path:
        return self._bindir

    @property
    def major(self) -> int:
        return server_major(self._bindir)

    def _started(self) -> _Runtime:
        if self._runtime is None:
            raise ClusterError("the cluster is not running: start() it first")
        return self._runtime

    # -- running SQL

    def psql(
        self, *args: str, input: str | None = None, dbname: str = "postgres", timeout: float = _PSQL_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run the bundled psql as the superuser over the unix socket (``-X -v ON_ERROR_STOP=1``).

        Returns the completed process whatever its exit status; raises ClusterError only if psql could not
        run or timed out. Runs as the calling OS user, so ``-f FILE`` reads files with our permissions.
        """
        rt = self._started()
        cmd = [
            rt.tool("psql"), "-X", "-w", "-v", "ON_ERROR_STOP=1",
            "-h", str(rt.tmpdir), "-p", str(self.port), "-U", self._superuser, "-d", dbname, *args,
        ]  # fmt: skip
        return _run(rt, "psql", cmd, timeout=timeout, as_server=False, input=input, check=False)

    def client_command(self, tool: str, dbname: str, *args: str) -> list[str]:
        """A command running this installation's ``tool`` (psql, pg_restore, ...) as the superuser against
        ``dbname`` over the unix socket, reading stdin."""
        rt = self._started()
        return [
            rt.tool(tool),
            "-h",
            str(rt.tmpdir),
            "-p",
            str(self.port),
            "-U",
            self._superuser,
            "-d",
            dbname,
            *args,
        ]

    def copy_in(self, path: Path) -> str:
        """Local clusters read local files directly."""
        return str(path)

    def run_sql_file(self, path: Path, dbname: str = "postgres", timeout: float = _PSQL_TIMEOUT) -> None:
        """Apply an SQL file with psql, stopping at the first error; SqlError names that error."""
        proc = self.psql("-q", "-f", str(path), dbname=dbname, timeout=timeout)
        self._check_sql(proc, f"applying {path} to database {dbname!r}")
