"""Running a local cluster's programs: ``initdb``, ``pg_ctl start`` and ``stop``, ``psql``.

They run as the ``postgres`` OS user when this process is root (PostgreSQL refuses to run as root), with
libpq's ``PG*`` variables removed, and every failure becomes a :class:`ClusterError` naming the step, the
command and the server log's last lines (never the password). Stopping checks in ``/proc`` that the pid
in ``postmaster.pid`` still is this cluster's postmaster before signalling it. :class:`LocalRuntime` holds
all a cluster's files and process are; :class:`~opscheck.restore.servers.local.LocalCluster` is the
cluster itself.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from opscheck.errors import OpscheckError
from opscheck.restore.servers.base import ServerRuntime, scrub_password, tail

__all__ = [
    "HOST",
    "ClusterError",
    "LocalRuntime",
    "OsUser",
    "PortInUse",
    "initdb",
    "run_command",
    "server_os_user",
    "start_server",
]

#: the address a local cluster listens on (its unix socket is in its temporary directory)
HOST = "127.0.0.1"

_SERVER_OS_USER = "postgres"
_LOG_TAIL_LINES = 12
_PORT_ATTEMPTS = 3

# seconds
_INITDB_TIMEOUT = 120.0
_START_WAIT = 30
_STOP_WAIT = 10
_EXIT_WAIT = 5.0


#: a throwaway server: no crash safety; ``wal_level = minimal`` lets the drill's one restore transaction
#: write the tables it creates without WAL (COPY and CREATE INDEX skip it; measured: ~5 % less server CPU)
_FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
}


class ClusterError(OpscheckError):
    """A step of running the local cluster failed (initdb, start, stop, a psql call)."""


class PortInUse(ClusterError):
    """The server could not listen on its port because something else already does."""


# ------------------------------------------------------------------------------------- process plumbing


@dataclass(frozen=True)
class OsUser:
    """The OS user a cluster's server runs as."""

    name: str
    uid: int
    gid: int


def server_os_user() -> OsUser | None:
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
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


@dataclass
class LocalRuntime(ServerRuntime):
    """A cluster's temporary directory (data, log, socket), binaries, OS user and postmaster pid: everything
    needed to stop and remove it."""

    tmpdir: Path
    bindir: Path
    os_user: OsUser | None
    secret: str = field(repr=False)
    pid: int | None = None

    @property
    def data_dir(self) -> Path:
        return self.tmpdir / "data"

    @property
    def log_file(self) -> Path:
        return self.tmpdir / "postgres.log"

    def tool(self, name: str) -> str:
        return str(self.bindir / name)

    def state(self) -> dict[str, str]:
        record = self.record.id if self.record is not None else ""
        return {
            "tmpdir": str(self.tmpdir),
            "bindir": str(self.bindir),
            "pid": str(self.pid or ""),
            "record": record,
        }

    def remove(self) -> None:
        """Stop the server if it runs, then remove the temporary directory. Safe after a half-done start."""
        try:
            _stop_server(self)
        finally:
            _remove_tree(self)

    def release(self) -> None:
        """Nothing to let go of: this process holds no handle on the cluster's server."""


def _child_env(rt: LocalRuntime, *, as_server: bool) -> dict[str, str]:
    """Our environment minus libpq's PG* variables, untranslated messages, and a usable HOME."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    env["PGCLIENTENCODING"] = "UTF8"
    if as_server and rt.os_user is not None:
        env.update(HOME=str(rt.tmpdir), USER=rt.os_user.name, LOGNAME=rt.os_user.name)
    return env


def run_command(
    rt: LocalRuntime,
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


def _describe(rt: LocalRuntime, step: str, cmd: Sequence[str], what: str) -> str:
    message = f"{step} failed: `{shlex.join(cmd)}` {what}"
    log = _logtail(rt)
    if log:
        message += f"\nserver log, last lines:\n{log}"
    return scrub_password(message, rt.secret)


def _logtail(rt: LocalRuntime) -> str:
    try:
        text = rt.log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-_LOG_TAIL_LINES:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
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


def initdb(rt: LocalRuntime, superuser: str, password: str) -> None:
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
        run_command(rt, step, cmd, timeout=_INITDB_TIMEOUT)
    finally:
        pwfile.unlink(missing_ok=True)


def start_server(rt: LocalRuntime, requested_port: int | None) -> int:
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


def _pg_ctl_start(rt: LocalRuntime, port: int) -> None:
    settings: Mapping[str, str] = {
        "listen_addresses": HOST,
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
        run_command(rt, f"starting the server on {HOST}:{port}", cmd, timeout=_START_WAIT + 15)
    except ClusterError as exc:
        if "could not bind" in _logtail(rt) and _read_pid(rt.data_dir) is None:
            raise PortInUse(str(exc)) from None
        raise
    rt.pid = _read_pid(rt.data_dir)


def _stop_server(rt: LocalRuntime) -> None:
    pid = _postmaster_of(rt.pid, rt.data_dir) or _postmaster_of(_read_pid(rt.data_dir), rt.data_dir)
    if pid is None:
        return
    cmd = [rt.tool("pg_ctl"), "stop", "-D", str(rt.data_dir), "-m", "fast", "-w", "-t", str(_STOP_WAIT)]
    try:
        run_command(rt, "stopping the server", cmd, timeout=_STOP_WAIT + 10)
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


def _remove_tree(rt: LocalRuntime) -> None:
    try:
        shutil.rmtree(rt.tmpdir)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ClusterError(f"removing the cluster directory {rt.tmpdir} failed: {exc}") from None
