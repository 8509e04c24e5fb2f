"""What isolates a test from the environment of whoever runs the tests: applied to every test by the
autouse fixture ``_isolated_environment`` in ``tests/conftest.py``, and by :func:`without_caller_variables`
to the child processes of module- and session-scoped fixtures, which run before that fixture."""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["CALLER_VARIABLES", "LIBPQ_PREFIX", "is_caller_variable", "without_caller_variables"]

#: variables that would configure a run (or a tool it starts) from the caller's environment instead of
#: the test's own files and options; every test starts without them (a test sets what it needs itself)
CALLER_VARIABLES = (
    "OPSCHECK_ENV",
    "OPSCHECK_CONFIG",
    "OPSCHECK_GATE",
    "OPSCHECK_REPORTS",
    "OPSCHECK_BASE_URL",
    "OPSCHECK_ALLURE_HISTORY",
    "PYTEST_ADDOPTS",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_SHA",
    "PYTEST_XDIST_WORKER",  # inherited when opscheck's own tests run under xdist
    "PYTEST_XDIST_WORKER_COUNT",
    "PYTEST_XDIST_TESTRUNUID",
    "SMOKE_USER",
    "SMOKE_PASSWORD",
    "DATABASE_URL",
    "NEXTAUTH_SECRET",
    "NEXTAUTH_URL",
    "AUTH_SECRET",
    "AUTH_URL",
    "AUTH_TRUST_HOST",
    "VERCEL",
    "CF_PAGES",
    "VERCEL_AUTOMATION_BYPASS_SECRET",
    "SENTRY_DSN",
    "MAINTENANCE_MODE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
)

#: libpq reads every PG* variable (PGHOST, PGPASSWORD, PGSERVICE...): none may redirect a test's psql/pg_dump
LIBPQ_PREFIX = "PG"


def is_caller_variable(name: str) -> bool:
    """True for a variable no test may inherit from whoever runs the tests."""
    return name in CALLER_VARIABLES or name.startswith(LIBPQ_PREFIX)


def without_caller_variables(environ: Mapping[str, str] = os.environ, **extra: str) -> dict[str, str]:
    """A copy of ``environ`` without the caller's variables, plus ``extra``: the environment of a child
    process started where the autouse fixture does not reach (module- and session-scoped fixtures)."""
    return {**{key: value for key, value in environ.items() if not is_caller_variable(key)}, **extra}
