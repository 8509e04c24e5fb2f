"""Which kind of throwaway PostgreSQL to start (``[restore] provider``): a container or a local cluster.

Choosing ``local`` costs nothing; ``auto`` and ``testcontainers`` ask the Docker engine, and only they import
the Docker SDK (:mod:`opscheck.restore.servers.engine`).
"""

from __future__ import annotations

from opscheck.errors import UsageError

__all__ = ["PROVIDERS", "select_provider"]

PROVIDERS = ("auto", "testcontainers", "local")


def select_provider(requested: str, image: str) -> tuple[str, str]:
    """Resolve ``[restore] provider`` to ``"testcontainers"`` or ``"local"``, with the reason.

    ``auto`` takes testcontainers when a Docker daemon answers and ``image`` is present, else local.
    A configured ``testcontainers`` that cannot run raises (DockerUnavailable, ContainerError): it never
    falls back to another provider silently.
    """
    if requested == "local":
        return "local", "configured"
    if requested not in PROVIDERS:
        raise UsageError(f"unknown PostgreSQL provider {requested!r}; expected one of {', '.join(PROVIDERS)}")
    from opscheck.restore.servers import engine  # noqa: PLC0415 - the Docker SDK only when needed

    up, why = engine.docker_available()
    if requested == "testcontainers":
        if not up:
            raise engine.DockerUnavailable(
                f"provider 'testcontainers' is configured but there is {why}; "
                f"{engine.START_DAEMON_HINT}, or configure provider 'local'"
            )
        present, image_why = engine.image_present(image)
        if not present:
            raise engine.ContainerError(f"provider 'testcontainers' is configured but {image_why}")
        return "testcontainers", f"configured; {why}; {image_why}"
    if not up:
        return "local", f"auto: {why}"
    present, image_why = engine.image_present(image)
    if not present:
        return "local", f"auto: {why}, but {image_why}"
    return "testcontainers", f"auto: {why}; {image_why}"
