"""A real Prometheus Pushgateway (Debian's ``prometheus-pushgateway``) on 127.0.0.1 for tests.

``running_pushgateway()`` starts it on a free port without persistence, waits until ``/-/ready`` answers
and always stops it when the block ends. Tests that need it fail (not skip) under ``OPSCHECK_REQUIRE_PROMETHEUS=1``
when the binary is missing, as ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.servers import LOOPBACK, free_port, stop_process

__all__ = ["need_binary", "running_pushgateway"]

_START_TIMEOUT_S = 15.0


def need_binary(name: str, package: str) -> str:
    """The binary's path; skip (or fail where CI installs it) when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install -y {package})"
        if os.environ.get("CI") or os.environ.get("OPSCHECK_REQUIRE_PROMETHEUS"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@contextmanager
def running_pushgateway() -> Iterator[str]:
    """Start a Pushgateway; yield its base URL (``http://127.0.0.1:PORT``)."""
    binary = need_binary("prometheus-pushgateway", "prometheus-pushgateway")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="opscheck-pushgateway-") as tmp:
        log = Path(tmp) / "pushgateway.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                # Debian's build persists to one machine-wide file by default: every gateway would show
                # every other run's series (and the demo's); in memory only
                [binary, f"--web.listen-address={LOOPBACK}:{port}", "--persistence.file="],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://{LOOPBACK}:{port}"
        try:
            deadline = time.monotonic() + _START_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"pushgateway exited with {proc.returncode}: {log.read_text()[-600:]}")
                try:
                    if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"pushgateway not ready after {_START_TIMEOUT_S} s")
                time.sleep(0.1)
            yield url
        finally:
            stop_process(proc)
