"""The demo's helper servers (the local S3, the Pushgateway): started in a session of their own, ready once
they answer over HTTP, stopped as a whole process group (:func:`opscheck.restore.servers.owner.stop_child`)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from opscheck.errors import OpscheckError
from opscheck.restore.servers.owner import stop_child

__all__ = ["start_answering"]


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
