"""The demo's Prometheus Pushgateway: Debian's ``prometheus-pushgateway`` on a loopback port, when one is
installed, so ``opscheck demo`` shows its metrics where Prometheus would scrape them."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from opscheck.demo.process import HelperServer
from opscheck.errors import OpscheckError

__all__ = ["BINARY", "LocalPushgateway", "pushed_series"]

BINARY = "prometheus-pushgateway"
_READY_TIMEOUT_S = 15.0


class DemoPushgatewayError(OpscheckError):
    """The demo's Pushgateway could not be started."""


@dataclass
class LocalPushgateway(HelperServer):
    @classmethod
    def installed(cls) -> bool:
        return shutil.which(BINARY) is not None

    def start(self) -> LocalPushgateway:
        executable = shutil.which(BINARY)
        if executable is None:
            raise DemoPushgatewayError(f"{BINARY} is not installed (apt-get install -y {BINARY})")
        self.launch(
            # in memory: Debian's build otherwise shares /var/lib/prometheus/pushgateway.data with every
            # other gateway on the machine (stale series of other runs)
            [executable, f"--web.listen-address=127.0.0.1:{self.port}", "--persistence.file="],
            what=BINARY,
            ready_path="/-/ready",
            timeout_s=_READY_TIMEOUT_S,
            error=DemoPushgatewayError,
        )
        return self


def pushed_series(url: str, timeout_s: float = 5.0) -> dict[str, set[str]]:
    """What the Pushgateway holds from opscheck: metric name -> the suites it was pushed for."""
    text = httpx.get(f"{url}/metrics", timeout=timeout_s).text
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("opscheck_"):
                found.setdefault(sample.name, set()).add(sample.labels.get("suite", "?"))
    return found
