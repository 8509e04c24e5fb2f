"""The demo's Prometheus Pushgateway: Debian's ``prometheus-pushgateway`` on a loopback port, when one is
installed, so ``opscheck demo`` shows its metrics where Prometheus would scrape them."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from opscheck.demo.process import start_answering
from opscheck.errors import OpscheckError
from opscheck.restore.servers.owner import stop_child

__all__ = ["BINARY", "LocalPushgateway", "pushed_series"]

BINARY = "prometheus-pushgateway"
_READY_TIMEOUT_S = 15.0


class DemoPushgatewayError(OpscheckError):
    """The demo's Pushgateway could not be started."""


@dataclass
class LocalPushgateway:
    port: int
    log_file: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def installed(cls) -> bool:
        return shutil.which(BINARY) is not None

    def start(self) -> LocalPushgateway:
        executable = shutil.which(BINARY)
        if executable is None:
            raise DemoPushgatewayError(f"{BINARY} is not installed (apt-get install -y {BINARY})")
        self.process = start_answering(
            # in memory: Debian's build otherwise shares /var/lib/prometheus/pushgateway.data with every
            # other gateway on the machine (stale series of other runs)
            [executable, f"--web.listen-address=127.0.0.1:{self.port}", "--persistence.file="],
            self.log_file,
            what=BINARY,
            url=self.url,
            ready_path="/-/ready",
            timeout_s=_READY_TIMEOUT_S,
            error=DemoPushgatewayError,
        )
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_child(process)


def pushed_series(url: str, timeout_s: float = 5.0) -> dict[str, set[str]]:
    """What the Pushgateway holds from opscheck: metric name -> the suites it was pushed for."""
    text = httpx.get(f"{url}/metrics", timeout=timeout_s).text
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("opscheck_"):
                found.setdefault(sample.name, set()).add(sample.labels.get("suite", "?"))
    return found
