"""The reference apps ``opscheck demo`` can start (``--app``), and how the demo points opscheck at each.

* ``v4`` (default): ``examples/nextjs-app``, Next.js + next-auth 4: auth under ``/api/auth``, ``/api/health``.
* ``v5``: ``examples/authjs-v5-app``, Next.js + Auth.js v5: auth under ``/auth``, its own session-cookie
  name and sign-in page, a page protected by the proxy, no health endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["APPS", "DEFAULT_APP", "DemoApp"]


@dataclass(frozen=True)
class DemoApp:
    """One reference app: where it lives, its variables, and the demo config's smoke and auth keys."""

    name: str
    #: directory under ``examples/``
    directory: str
    #: the variables that carry its auth secret and its public URL
    secret_variable: str
    url_variable: str
    #: whether it reads ``DATABASE_URL`` (its health endpoint does)
    uses_database: bool
    #: keys of the ``[smoke]`` table besides the latency budget
    smoke_keys: Mapping[str, Any]
    #: keys of the ``[auth]`` table besides the smoke user
    auth_keys: Mapping[str, Any]

    @property
    def has_health_endpoint(self) -> bool:
        return self.smoke_keys.get("health_path") is not False

    @property
    def required_variables(self) -> list[str]:
        """What the credentials suite requires of its environment."""
        database = ["DATABASE_URL"] if self.uses_database else []
        return [*database, self.secret_variable, self.url_variable]


APPS: dict[str, DemoApp] = {
    "v4": DemoApp(
        name="v4",
        directory="nextjs-app",
        secret_variable="NEXTAUTH_SECRET",  # noqa: S106 - a variable name, not a value
        url_variable="NEXTAUTH_URL",
        uses_database=True,
        smoke_keys={"pages": ["/", "/login"]},
        auth_keys={"expected_providers": ["credentials"], "protected_paths": ["/api/me"]},
    ),
    "v5": DemoApp(
        name="v5",
        directory="authjs-v5-app",
        secret_variable="AUTH_SECRET",  # noqa: S106 - a variable name, not a value
        url_variable="AUTH_URL",
        uses_database=False,
        smoke_keys={"pages": ["/", "/signin"], "health_path": False},
        auth_keys={
            "base_path": "/auth",
            "expected_providers": ["credentials"],
            "protected_paths": ["/api/me", "/dashboard"],
        },
    ),
}
DEFAULT_APP = "v4"
