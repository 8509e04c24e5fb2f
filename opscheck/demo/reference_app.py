"""The reference Next.js app the demo (and opscheck's own tests) run: ``npm ci`` and ``next build`` once,
cached by the lock file's and the sources' hashes, then ``next start`` on a loopback port until stopped."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from opscheck.demo.process import free_port
from opscheck.errors import OpscheckError
from opscheck.restore.servers.owner import stop_child

__all__ = ["DemoError", "ReferenceApp"]

_APP_SOURCES = (
    "package.json",
    "package-lock.json",
    "next.config.mjs",
    "proxy.js",
    "jsconfig.json",
    "app",
    "lib",
)
_READY_TIMEOUT_S = 90.0


class DemoError(OpscheckError):
    """The demo stack could not be set up; the message says what is missing and how to get it."""


def _digest(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.exists():
                digest.update(str(file.relative_to(path.parent)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class ReferenceApp:
    """The reference Next.js app in ``examples/nextjs-app``: installed and built once, then cached."""

    directory: Path
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    port: int | None = None

    def _npm(self) -> str:
        node, npm = shutil.which("node"), shutil.which("npm")
        if not node or not npm:
            raise DemoError(
                "node and npm are needed to build the reference app (Node 20+): apt-get install -y nodejs npm"
            )
        return npm

    def _run(self, step: str, cmd: list[str], timeout: float) -> None:
        log = self.log_dir / f"{step}.log"
        env = {**os.environ, "NEXT_TELEMETRY_DISABLED": "1"}
        with log.open("wb") as out:
            try:
                proc = subprocess.run(
                    cmd,
                    cwd=self.directory,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    env=env,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise DemoError(f"{step} did not finish within {timeout:g} s; log: {log}") from None
        if proc.returncode != 0:
            raise DemoError(f"{step} failed (exit {proc.returncode}); last lines of {log}:\n{_tail(log)}")

    def ensure_built(self) -> None:
        """``npm ci`` when the lock file changed, ``next build`` when the sources changed.

        Serialised with a file lock, so concurrent demos (or test workers) never build at once.
        """
        npm = self._npm()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.directory / ".opscheck-build.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._build(npm)

    def _build(self, npm: str) -> None:
        lock_hash = _digest([self.directory / "package-lock.json"])
        stamp = self.directory / "node_modules" / ".opscheck-lock-hash"
        if not stamp.is_file() or stamp.read_text() != lock_hash:
            self._run("npm-ci", [npm, "ci", "--no-audit", "--no-fund"], timeout=600)
            stamp.write_text(lock_hash)
        source_hash = _digest([self.directory / name for name in _APP_SOURCES])
        build_stamp = self.directory / ".next" / "opscheck-source-hash"
        if not (self.directory / ".next" / "BUILD_ID").is_file() or (
            not build_stamp.is_file() or build_stamp.read_text() != source_hash
        ):
            self._run("next-build", [npm, "run", "build"], timeout=600)
            build_stamp.write_text(source_hash)

    def start(
        self,
        env: dict[str, str],
        port: int | None = None,
        ready_path: str = "/api/health",
        on_started: Callable[[int], None] | None = None,
    ) -> str:
        """Start ``next start`` on 127.0.0.1 and wait until ``ready_path`` answers (any status); returns its
        base URL. ``on_started`` gets the process id as soon as the process exists."""
        self.port = port or free_port()
        next_bin = self.directory / "node_modules" / "next" / "dist" / "bin" / "next"
        log = (self.log_dir / "app.log").open("ab")
        self.process = subprocess.Popen(
            ["node", str(next_bin), "start", "-p", str(self.port), "-H", "127.0.0.1"],
            cwd=self.directory,
            env={**os.environ, "NODE_ENV": "production", "NEXT_TELEMETRY_DISABLED": "1", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        if on_started is not None:
            on_started(self.process.pid)
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DemoError(
                    f"the reference app exited with {self.process.returncode}; last lines of its log:\n"
                    f"{_tail(self.log_dir / 'app.log')}"
                )
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{url}{ready_path}", timeout=2.0)
                return url
            time.sleep(0.2)
        raise DemoError(f"the reference app did not answer on {url} within {_READY_TIMEOUT_S:g} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_child(process)
