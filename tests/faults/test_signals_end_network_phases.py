"""SIGINT and SIGTERM end the concurrent network phases promptly, with the interrupted summary written.

Two phases download many things at once in worker threads: the smoke suite's probe phase (every page at
once) and the credentials suite's exposure scan (every script a page references). Each run below points
one of them at a real local server that dribbles its answers a byte at a time with a generous
``timeout_s`` (60 s), so nothing ends by itself; the test sends a real signal to the real suite run once
the phase is under way, and asserts that the run ends within ``PROMPT_S``, that the summary JSON says
``"interrupted": true`` and that no check of the interrupted phase passed.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.hostile_http import DribblingServer
from tests.support.processes import kill_session, signal_and_wait
from tests.support.suite_run import ENV, REPO, write_opscheck_toml

#: the run must be gone this long after the signal (pytest's own teardown and reporting included)
PROMPT_S = 8.0
SCRIPTS = [f"/_next/static/chunks/slow-{i}.js" for i in range(24)]
HOME = ("<html><body>" + "".join(f'<script src="{s}"></script>' for s in SCRIPTS) + "</body></html>").encode()
PAGES = [f"/slow-{i}" for i in range(12)]


def _phase(kind: str, tmp_path: Path, server: DribblingServer) -> tuple[Path, list[str], int]:
    """(config, pytest arguments, requests that mean the phase is under way) for ``kind``."""
    if kind == "smoke-probes":
        config = write_opscheck_toml(
            tmp_path, base_url=server.url, top={"timeout_s": 60}, smoke={"pages": PAGES}
        )
        return config, [str(REPO / "suites" / "smoke"), "-k", "page"], len(PAGES)
    env_file = tmp_path / "app.env"
    env_file.write_text(f"NEXTAUTH_SECRET={secrets.token_urlsafe(32)}\n", encoding="utf-8")
    config = write_opscheck_toml(
        tmp_path,
        base_url=server.url,
        top={"timeout_s": 60},
        credentials={"env_file": str(env_file), "required": ["NEXTAUTH_SECRET"]},
    )
    return config, [str(REPO / "suites" / "credentials"), "-k", "exposed"], 4


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("kind", ["smoke-probes", "exposure-scan"])
def test_a_signal_ends_a_phase_stuck_on_slow_servers(
    kind: str, signum: signal.Signals, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    env = dict(os.environ)  # without the caller's variables (tests/conftest.py)
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
    log = tmp_path / "run.log"
    with DribblingServer(stage="body", interval_s=0.2, body_size=100_000, prompt={"/": HOME}) as server:
        config, args, under_way = _phase(kind, tmp_path, server)
        argv = [
            sys.executable, "-m", "pytest", *args, "--env", ENV, "--opscheck-config", str(config),
            "--opscheck-reports", str(reports), "-p", "no:cacheprovider",
        ]  # fmt: skip
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            deadline = time.monotonic() + 60
            while len([p for p in server.paths if p != "/"]) < under_way:
                assert proc.poll() is None, f"the run ended early:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"the phase never started:\n{log.read_text()[-3000:]}"
                time.sleep(0.05)
            time.sleep(0.5)  # well inside the slow downloads
            took = signal_and_wait(proc, signum, within_s=PROMPT_S, log=log)
        finally:
            kill_session(proc)

    output = log.read_text(errors="replace")
    print(f"{kind}: the run ended {took:.1f} s after {signum.name}")
    summary = json.loads((reports / "opscheck-summary.json").read_text(encoding="utf-8"))
    assert summary["interrupted"] is True, output[-3000:]
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert "passed" not in {c["outcome"] for c in summary["checks"]}, summary["checks"]
