"""The demo's helper servers (the local S3, the Pushgateway): started in a session of their own, ready once
they answer over HTTP, stopped as a whole process group (:func:`opscheck.restore.servers.owner.stop_child`)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from opscheck.errors import OpscheckError
from opscheck.restore.servers.owner import stop_child

__all__ = ["HelperServer", "free_port", "start_answering"]


def free_port() -> int:
    """A loopback port nothing listens on now, for a server to come."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_answering(
    argv: Sequence[str],
    log_file: Path,
    *,
    what: str,
    url: str,
    ready_path: str = "",
    timeout_s: float,
    error: type[OpscheckError],
) -> subprocess.Popen[bytes]:
    """Start ``argv`` (output to ``log_file``) and wait until ``url + ready_path`` answers (with 200 when a
    ``ready_path`` is given). Raises ``error`` when it exits first or does not answer within ``timeout_s``;
    it is stopped on any failure, Ctrl-C included."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise error(f"{what} exited with {process.returncode}; see {log_file}")
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(url + ready_path, timeout=1.0)
                if not ready_path or response.status_code == 200:
                    return process
            time.sleep(0.1)
        raise error(f"{what} did not answer on {url} within {timeout_s:g} s")
    except BaseException:
        stop_child(process)
        raise


@dataclass
class HelperServer:
    """A helper server on a loopback port, its output in ``log_file``; subclasses start it with
    :meth:`launch`, :meth:`stop` stops its whole process group."""

    port: int
    log_file: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(
        self,
        argv: Sequence[str],
        *,
        what: str,
        ready_path: str = "",
        timeout_s: float,
        error: type[OpscheckError],
    ) -> None:
        """Start ``argv`` and wait until it answers on :attr:`url` (see :func:`start_answering`)."""
        self.process = start_answering(
            argv,
            self.log_file,
            what=what,
            url=self.url,
            ready_path=ready_path,
            timeout_s=timeout_s,
            error=error,
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_child(process)
