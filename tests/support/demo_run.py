"""Running ``opscheck demo`` as a user does (``python -m opscheck.cli demo --workdir …`` from the repository)
and reading what it left: the URLs in the config it wrote, whether a port is closed again."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.project import REPO

DEMO = [sys.executable, "-m", "opscheck.cli", "demo"]


def refused(url: str) -> bool:
    """Whether nothing listens at the host:port of ``url`` any more."""
    match = re.search(r"@?([\d.]+):(\d+)", url.split("://", 1)[1])
    assert match, url
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((match.group(1), int(match.group(2)))) != 0


def demo(workdir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``opscheck demo --workdir WORKDIR ARGS`` run from the repository, its output captured."""
    return subprocess.run(
        [*DEMO, "--workdir", str(workdir), *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def urls_of(workdir: Path) -> tuple[str, str]:
    """The app's base URL and the database URL the demo wrote into its config."""
    text = (workdir / "opscheck.toml").read_text()
    base = re.search(r'base_url = "([^"]+)"', text)
    database = re.search(r'url = "(postgresql://[^"]+)"', text)
    assert base
    assert database
    return base.group(1), database.group(1)
