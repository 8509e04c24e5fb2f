"""A real Prometheus Pushgateway (Debian's ``prometheus-pushgateway``) on 127.0.0.1 for tests.

``running_pushgateway()`` starts it on a free port without persistence, waits until ``/-/ready`` answers
and always stops it when the block ends. Tests that need it fail (not skip) under ``OPSCHECK_REQUIRE_PROMETHEUS=1``
when the binary is missing, as ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.servers import LOOPBACK, serving_process

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


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://{LOOPBACK}:{port}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def running_pushgateway() -> Iterator[str]:
    """Start a Pushgateway; yield its base URL (``http://127.0.0.1:PORT``)."""
    binary = need_binary("prometheus-pushgateway", "prometheus-pushgateway")
    with (
        tempfile.TemporaryDirectory(prefix="opscheck-pushgateway-") as tmp,
        serving_process(
            # Debian's build persists to one machine-wide file by default: every gateway would show every
            # other run's series (and the demo's); in memory only
            lambda port: [binary, f"--web.listen-address={LOOPBACK}:{port}", "--persistence.file="],
            _ready,
            name="pushgateway",
            log=Path(tmp) / "pushgateway.log",
            start_timeout_s=_START_TIMEOUT_S,
        ) as port,
    ):
        yield f"http://{LOOPBACK}:{port}"
