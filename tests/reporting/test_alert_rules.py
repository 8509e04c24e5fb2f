"""The shipped Prometheus alert rules and Grafana dashboard: promtool validates and unit-tests the rules,
and every metric they query is one opscheck publishes (so code and rules cannot drift apart)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from opscheck.reporting.metrics import SERIES
from tests.support.project import REPO
from tests.support.pushgateway import need_binary
from tests.support.servers import free_port, stop_process

EXAMPLES = REPO / "examples"
RULES = EXAMPLES / "prometheus" / "opscheck-alerts.yml"
RULE_TESTS = EXAMPLES / "prometheus" / "opscheck-alerts.test.yml"
DASHBOARD = EXAMPLES / "grafana" / "opscheck-dashboard.json"
CONSOLES = EXAMPLES / "prometheus" / "consoles"
_METRIC = re.compile(r"\bopscheck_[a-z_]+\b")


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = need_binary("promtool", "prometheus")
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_promtool_accepts_the_rules() -> None:
    result = _promtool("check", "rules", RULES.name, cwd=RULES.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_the_rules_pass_their_promtool_unit_tests() -> None:
    result = _promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    """The unit tests can fail: a threshold moved from 8 days to 10 makes them red."""
    (tmp_path / RULES.name).write_text(RULES.read_text().replace("> 8 * 86400", "> 10 * 86400"))
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    result = _promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "OpscheckRestoreDrillNotGreen" in result.stdout + result.stderr


def _rule_expressions() -> list[str]:
    data = yaml.safe_load(RULES.read_text())
    return [rule["expr"] for group in data["groups"] for rule in group["rules"]]


def _dashboard_expressions() -> list[str]:
    data = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in data["panels"] for target in panel["targets"]]
    exprs += [v["query"] for v in data["templating"]["list"] if v["type"] == "query"]
    return exprs


@pytest.mark.parametrize(
    "source", [_rule_expressions, _dashboard_expressions], ids=["alert-rules", "dashboard"]
)
def test_every_queried_metric_is_published(source: object) -> None:
    assert callable(source)
    used = {name for expr in source() for name in _METRIC.findall(expr)}
    assert used, "no opscheck metric queried"
    assert used <= set(SERIES), f"queried but never published: {sorted(used - set(SERIES))}"


def test_the_dashboard_is_importable_grafana_json() -> None:
    data = json.loads(DASHBOARD.read_text())
    assert data["uid"] == "opscheck"
    ids = [panel["id"] for panel in data["panels"]]
    assert len(ids) == len(set(ids))
    for panel in data["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        assert panel["targets"], panel["title"]


def test_the_prometheus_console_renders_on_a_real_prometheus(tmp_path: Path) -> None:
    """The shipped console template is valid for Prometheus' own template engine (a template error shows
    as an error page), also before any run has reported."""
    binary = need_binary("prometheus", "prometheus")
    port = free_port()
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", f"--web.console.templates={CONSOLES}"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()[-800:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prometheus not ready in 30 s"
            time.sleep(0.2)
        page = httpx.get(f"http://127.0.0.1:{port}/consoles/opscheck.html", timeout=10)
    finally:
        stop_process(proc)
    assert page.status_code == 200, page.text[:500]
    assert "Restore drills: the dead man's switch" in page.text
    assert "no restore drill has reported yet" in page.text
    assert "error executing template" not in page.text
