"""Smoke suite fixtures: one concurrent probe phase per run, judged page by page by the checks."""

from __future__ import annotations

import pytest

from opscheck import run_state
from opscheck.clients.cookies import register_cookie_secrets
from opscheck.clients.http import OpsClient, Probe
from opscheck.config import Environment
from opscheck.run.share import RunShare


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One check per configured page."""
    if "page" not in metafunc.fixturenames:
        return
    ops = run_state(metafunc.config)
    pages = ops.environment.smoke.pages if ops is not None and ops.environment is not None else []
    metafunc.parametrize("page", pages, ids=pages)


@pytest.fixture(scope="session")
def smoke_probes(http: OpsClient, opscheck_env: Environment, run_share: RunShare) -> dict[str, Probe]:
    """GET the health endpoint, the home page and every configured page, all at once, once per run
    (under xdist the first worker probes, the others judge the same answers)."""
    smoke = opscheck_env.smoke
    health = [smoke.health_path] if smoke.health_path else []  # false: the app has no health endpoint
    probes = run_share.once("smoke probes", lambda: http.probe_many([*health, "/", *smoke.pages]))
    for probe in probes.values():
        register_cookie_secrets(probe.headers)
    return probes


@pytest.fixture
def health_probe(smoke_probes: dict[str, Probe], opscheck_env: Environment) -> Probe | None:
    """The health endpoint's probe; None when ``smoke.health_path = false`` (the app has none)."""
    path = opscheck_env.smoke.health_path
    return smoke_probes[path] if path else None


@pytest.fixture
def home_probe(smoke_probes: dict[str, Probe]) -> Probe:
    return smoke_probes["/"]
