"""Both reference apps as their users point opscheck at them: the pages, protected paths and ``[auth]`` /
``[smoke]`` keys of each (``Target``), the auth check names a target's run has, and the config tables a run
of the auth, smoke and credentials suites against a running app writes::

    top, tables = config_for(V5_TARGET, app, tmp_path, database_url)
    config = write_opscheck_toml(tmp_path, base_url=app.base_url, top=top, **tables)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import auth_run
from tests.support.reference_apps import SMOKE_USER, V4, V5, AppSpec, RunningApp

__all__ = [
    "MAX_LATENCY_MS",
    "TARGETS",
    "V4_TARGET",
    "V5_TARGET",
    "Target",
    "anonymous",
    "auth_checks",
    "config_for",
    "signed_in",
]


def anonymous(path: str) -> str:
    return f"test_protected_path_refuses_requests_without_a_session[{path}]"


def signed_in(path: str) -> str:
    return f"test_protected_path_serves_the_signed_in_user[{path}]"


@dataclass(frozen=True)
class Target:
    """How a user points opscheck at one reference app."""

    spec: AppSpec
    pages: tuple[str, ...]
    protected_paths: tuple[str, ...]
    #: keys of ``[auth]`` and ``[smoke]`` beyond the common ones
    auth: Mapping[str, Any]
    smoke: Mapping[str, Any]

    def auth_table(self, app: RunningApp) -> dict[str, Any]:
        table: dict[str, Any] = {
            "username": SMOKE_USER,
            "password": app.password,
            "expected_providers": ["credentials"],
            "protected_paths": list(self.protected_paths),
            **self.auth,
        }
        if app.spec.url_path(app.fault):  # the v4 app moved to /auth: its user says so
            table["base_path"] = app.spec.url_path(app.fault)
        return table


V4_TARGET = Target(V4, ("/", "/login"), ("/api/me", "/account"), auth={}, smoke={})
V5_TARGET = Target(
    V5, ("/", "/signin"), ("/api/me", "/dashboard"), auth={"base_path": "/auth"}, smoke={"health_path": False}
)
TARGETS = {"v4": V4_TARGET, "v5": V5_TARGET}

#: a page in the ``slow`` mode waits 3 s: over this budget
MAX_LATENCY_MS = 2000


# -- the verdicts of a healthy app ------------------------------------------------------------------------------
def auth_checks(target: Target) -> tuple[str, ...]:
    """The auth suite's check names in a run against ``target``, two per protected path."""
    per_path = [name(p) for p in target.protected_paths for name in (anonymous, signed_in)]
    return (
        auth_run.ENDPOINTS, auth_run.CSRF, auth_run.PROVIDERS, auth_run.SIGN_IN, auth_run.SESSION,
        *auth_run.CANARIES, auth_run.HTTPONLY, auth_run.SAMESITE, auth_run.SECURE_PREFIX, auth_run.HOST_PREFIX,
        auth_run.COOKIE_SIZE, *per_path, auth_run.OPEN_REDIRECT, auth_run.SIGN_OUT,
    )  # fmt: skip


def config_for(
    target: Target, app: RunningApp, directory: Path, database_url: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any] | None]]:
    """The top-level keys and the tables a user would write to point opscheck at ``app``; the app's secret goes
    into a dotenv file in ``directory`` (what `vercel env pull` gives), where the exposure check finds it."""
    env_file = directory / "app.env"
    env_file.write_text(f'{target.spec.secret_variable}="{app.secret}"\n', encoding="utf-8")
    top: dict[str, Any] = {"timeout_s": 5}
    if app.ca_bundle is not None:
        top["ca_bundle"] = str(app.ca_bundle)
    tables: dict[str, dict[str, Any] | None] = {
        "smoke": {"pages": list(target.pages), "max_latency_ms": MAX_LATENCY_MS, **target.smoke},
        "database": {"url": database_url} if target.spec.uses_database else None,
        "auth": target.auth_table(app),
        "credentials": {"env_file": str(env_file), "required": []},
    }
    return top, tables
