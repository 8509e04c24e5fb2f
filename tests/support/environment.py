"""What isolates a test from the environment of whoever runs the tests (applied to every test by the
autouse fixture ``_isolated_environment`` in ``tests/conftest.py``)."""

from __future__ import annotations

__all__ = ["CALLER_VARIABLES", "LIBPQ_PREFIX"]

#: variables that would configure a run (or a tool it starts) from the caller's environment instead of
#: the test's own files and options; every test starts without them (a test sets what it needs itself)
CALLER_VARIABLES = (
    "OPSCHECK_ENV",
    "OPSCHECK_CONFIG",
    "OPSCHECK_GATE",
    "OPSCHECK_REPORTS",
    "OPSCHECK_BASE_URL",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_SHA",
    "PYTEST_XDIST_WORKER",  # inherited when opscheck's own tests run under xdist
    "PYTEST_XDIST_WORKER_COUNT",
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
