"""The Docker engine as the tests see it: the ``docker_ready`` fixture (registered in ``tests/conftest.py``)
that skips, or fails under ``OPSCHECK_REQUIRE_DOCKER=1``, without a daemon and the local PostgreSQL image; and
the containers opscheck labelled, found and removed through the ``docker`` command."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from opscheck.restore.servers.engine import DEFAULT_IMAGE, docker_available, image_present

__all__ = [
    "LABEL",
    "docker_ready",
    "labelled_containers",
    "remove_container",
]

#: the label on every container opscheck starts
LABEL = "org.opscheck.cluster"


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """Skip (with the reason) unless a Docker daemon answers and the local PostgreSQL image is present;
    with OPSCHECK_REQUIRE_DOCKER=1 (CI) fail instead, so a broken engine cannot pass as green."""
    up, why = docker_available()
    problem = None if up else f"{why} (run scripts/docker-postgres.sh as root)"
    if problem is None:
        present, image_why = image_present(DEFAULT_IMAGE)
        problem = None if present else image_why
    if problem is None:
        return
    if os.environ.get("OPSCHECK_REQUIRE_DOCKER", "") not in {"", "0"}:
        pytest.fail(f"OPSCHECK_REQUIRE_DOCKER is set but {problem}", pytrace=False)
    pytest.skip(problem)


def labelled_containers() -> set[str]:
    """The ids of every container, running or not, that carries opscheck's label."""
    docker = shutil.which("docker")
    if docker is None:
        return set()
    proc = subprocess.run(
        [docker, "ps", "-aq", "--no-trunc", "--filter", f"label={LABEL}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return set(proc.stdout.split()) if proc.returncode == 0 else set()


def remove_container(container: str) -> None:
    """Remove a container and its volumes, running or not (cleanup after a failed test)."""
    docker = shutil.which("docker")
    if docker is not None:
        subprocess.run([docker, "rm", "-f", "-v", container], capture_output=True, timeout=60, check=False)
