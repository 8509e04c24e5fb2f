"""The demo's helper servers start through one helper: ready once they answer, stopped on any failure."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from opscheck.demo.process import start_answering
from opscheck.errors import OpscheckError
from opscheck.restore.servers.owner import stop_child


class _Failed(OpscheckError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_server_is_returned_once_it_answers(tmp_path: Path) -> None:
    port = _free_port()
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    url = f"http://127.0.0.1:{port}"
    process = start_answering(
        argv, tmp_path / "log", what="http.server", url=url, timeout_s=20, error=_Failed
    )
    try:
        assert process.poll() is None
    finally:
        stop_child(process)
    assert process.poll() is not None


def test_a_server_that_exits_first_is_named_with_its_log(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "raise SystemExit(3)"]
    with pytest.raises(_Failed) as caught:
        start_answering(
            argv, tmp_path / "log", what="the thing", url="http://127.0.0.1:9", timeout_s=20, error=_Failed
        )
    assert str(caught.value) == f"the thing exited with 3; see {tmp_path / 'log'}"


def test_a_server_that_never_answers_is_stopped(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    pid_file = tmp_path / "pid"
    argv = [
        sys.executable,
        "-c",
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)",
    ]
    with pytest.raises(_Failed, match=r"^mute did not answer on http://127\.0\.0\.1:\d+ within 3 s$"):
        start_answering(
            argv, tmp_path / "log", what="mute", url=f"http://127.0.0.1:{port}", timeout_s=3, error=_Failed
        )
    pid = int(pid_file.read_text())
    assert not Path(f"/proc/{pid}").exists(), "the server that never answered is still running"
