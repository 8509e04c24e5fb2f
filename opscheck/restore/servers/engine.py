"""The Docker engine the container provider runs on: whether a daemon answers, whether an image is there,
how testcontainers reaches it, and the containers opscheck labelled.

Nothing here pulls an image or touches a container without opscheck's label (:data:`LABEL`). Importing
this module imports the Docker SDK: :mod:`opscheck.restore.servers.provider` imports it only when Docker
may be chosen.

Errors::

    OpscheckError
    ├── DockerUnavailable     no Docker daemon answers: start dockerd (scripts/docker-postgres.sh)
    └── ContainerError        the image is missing, the container failed to start or to stop, a docker
                              exec could not run; names the image and what to do
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import docker  # type: ignore[import-untyped]
import docker.errors  # type: ignore[import-untyped]
from testcontainers.core.config import ConnectionMode, testcontainers_config

from opscheck.errors import OpscheckError

__all__ = [
    "API_TIMEOUT",
    "BIND_HOST",
    "BUILD_SCRIPT",
    "DEFAULT_IMAGE",
    "LABEL",
    "START_DAEMON_HINT",
    "ContainerError",
    "DockerUnavailable",
    "docker_available",
    "docker_host",
    "image_present",
    "list_labelled",
    "one_line",
    "prepare_testcontainers",
    "remove_container",
    "remove_labelled",
]

#: the image ``scripts/docker-postgres.sh`` builds from this machine's PostgreSQL 15
DEFAULT_IMAGE = "opscheck/postgres:15-local"
BUILD_SCRIPT = "scripts/docker-postgres.sh"
START_DAEMON_HINT = f"start dockerd (`sudo {BUILD_SCRIPT}` installs and starts it)"
#: the label every container opscheck starts carries (value: its token)
LABEL = "org.opscheck.cluster"
#: where a local daemon publishes a container's port: the loopback interface only
BIND_HOST = "127.0.0.1"
#: seconds a Docker API call may take
API_TIMEOUT = 30

_DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
_BUILD_HINT = f"build it with `sudo {BUILD_SCRIPT}` (images are never pulled here)"

# seconds
_PING_TIMEOUT = 3.0
_REMOVE_TIMEOUT = 30.0


class DockerUnavailable(OpscheckError):
    """No Docker daemon answers, so the testcontainers provider cannot run."""


class ContainerError(OpscheckError):
    """Starting, using or removing the PostgreSQL container failed; the message names the image."""


# ------------------------------------------------------------------------------------------ the daemon


def docker_host() -> str:
    """The daemon's address: DOCKER_HOST, else the default unix socket."""
    return os.environ.get("DOCKER_HOST") or _DEFAULT_DOCKER_HOST


def one_line(exc: BaseException, limit: int = 300) -> str:
    """One line of an exception's text (docker's errors nest the cause in long messages)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _client(timeout: float = API_TIMEOUT) -> Any:
    """A docker SDK client for DOCKER_HOST (or the default socket); raises the SDK's own errors."""
    return docker.from_env(timeout=max(1, round(timeout)))


def docker_available(timeout_s: float = _PING_TIMEOUT) -> tuple[bool, str]:
    """Whether a Docker daemon answers a ping within ``timeout_s``, and a human reason either way."""
    where = docker_host()
    try:
        client = _client(timeout_s)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return False, f"no Docker daemon: {where} did not answer ({one_line(exc)})"
    return True, f"Docker daemon answered at {where}"


def image_present(image: str, timeout_s: float = _PING_TIMEOUT) -> tuple[bool, str]:
    """Whether ``image`` is in the daemon's local image store (nothing is pulled), with a reason."""
    try:
        client = _client(timeout_s)
        try:
            client.images.get(image)
        finally:
            client.close()
    except docker.errors.ImageNotFound:
        return False, f"image {image} is not present locally; {_BUILD_HINT}"
    except Exception as exc:
        return False, f"could not look up image {image}: {one_line(exc)}"
    return True, f"image {image} is present"


def prepare_testcontainers() -> None:
    """Configure testcontainers for this machine; settings already made in the environment win.

    * ``TESTCONTAINERS_RYUK_DISABLED=true``: the reaper's image cannot be pulled; we remove containers.
    * ``TESTCONTAINERS_CONNECTION_MODE=docker_host`` and ``TC_HOST=127.0.0.1`` (local daemons only):
      inside a container (``/.dockerenv``) testcontainers would otherwise connect through the bridge
      gateway address instead of the port published on the loopback interface.

    testcontainers reads these when its configuration module is first imported, which may have
    happened already, so its configuration object is updated as well.
    """
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
    local_daemon = docker_host().startswith("unix://")
    if local_daemon and not (os.environ.get("TC_HOST") or os.environ.get("TESTCONTAINERS_HOST_OVERRIDE")):
        os.environ["TC_HOST"] = BIND_HOST

    cfg = testcontainers_config
    cfg.ryuk_disabled = os.environ["TESTCONTAINERS_RYUK_DISABLED"].strip().lower() in {
        "1", "true", "t", "yes", "y",
    }  # fmt: skip
    cfg.connection_mode_override = ConnectionMode(os.environ["TESTCONTAINERS_CONNECTION_MODE"])
    host = os.environ.get("TC_HOST") or os.environ.get("TESTCONTAINERS_HOST_OVERRIDE")
    if host:
        cfg.tc_host_override = host


# -------------------------------------------------------------------------------- labelled containers


def list_labelled(
    label_filter: str, timeout_s: float = _REMOVE_TIMEOUT
) -> list[tuple[dict[str, str], str, str]]:
    """(labels, id, image) of every container, running or not, matching ``label_filter`` (``key=value``);
    ContainerError when the daemon cannot be asked."""
    try:
        client = _client(timeout_s)
        try:
            listed = client.containers.list(all=True, filters={"label": label_filter}, ignore_removed=True)
            return [
                (dict(c.labels or {}), str(c.id), str(c.attrs.get("Config", {}).get("Image", "?")))
                for c in listed
            ]
        finally:
            client.close()
    except Exception as exc:
        raise ContainerError(f"listing containers labelled {label_filter} failed: {one_line(exc)}") from None


def remove_labelled(token: str) -> list[str]:
    """Force-remove every container (and its anonymous volumes) carrying our label ``token``."""
    removed: list[str] = []
    try:
        client = _client(_REMOVE_TIMEOUT)
        try:
            for container in client.containers.list(all=True, filters={"label": f"{LABEL}={token}"}):
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True, v=True)
                removed.append(container.short_id)
        finally:
            client.close()
    except Exception as exc:
        raise ContainerError(
            f"removing the container labelled {LABEL}={token} failed: {one_line(exc)}; "
            f"remove it with `docker rm -f $(docker ps -aq --filter label={LABEL}={token})`"
        ) from None
    return removed


def remove_container(container_id: str, image: str) -> None:
    """Force-remove the container ``container_id`` (and its anonymous volumes) if it still exists; ``image``
    names it in the error."""
    try:
        client = _client(_REMOVE_TIMEOUT)
        try:
            client.containers.get(container_id).remove(force=True, v=True)
        finally:
            client.close()
    except docker.errors.NotFound:
        return
    except Exception as exc:
        raise ContainerError(
            f"removing container {container_id[:12]} ({image}) failed: "
            f"{one_line(exc)}; remove it with `docker rm -f {container_id[:12]}`"
        ) from None
