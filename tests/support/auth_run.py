"""Running the shipped auth suite (``suites/auth``) against a reference app and judging what it gives: its
check names, the verdicts of a healthy app, the config a run writes, and the scan of every output for the
secrets that went over the wire.

The ``fleet`` fixture (registered in ``tests/conftest.py``) gives the v4 reference app (next-auth 4) keyed by
fault mode and scheme, each started on first use and stopped at module end::

    app = fleet.get("prefix-redirect", https=True)
    signed_in_as_smoke_user(monkeypatch, app)
    run = run_auth(pytester, tmp_path, app.base_url, *LOUD, ca_bundle=app.ca_bundle)
    assert_check(run, OPEN_REDIRECT, "failed", severity="P2", says="host suffix")
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from tests.support.reference_apps import SMOKE_USER, V4, AppFleet, RunningApp
from tests.support.suite_run import AUTH_SUITE, SuiteRun, run_suite, write_opscheck_toml

__all__ = [
    "ALL_CHECKS",
    "ANONYMOUS",
    "CANARIES",
    "COOKIE_SIZE",
    "CSRF",
    "ENDPOINTS",
    "HEALTHY_HTTP",
    "HOST_PREFIX",
    "HTTPONLY",
    "HTTPS_ONLY",
    "LOUD",
    "NEED_CREDENTIALS",
    "NO_CSRF",
    "OPEN_REDIRECT",
    "PROVIDERS",
    "SAMESITE",
    "SECTION",
    "SECURE_PREFIX",
    "SESSION",
    "SIGNED_IN",
    "SIGN_IN",
    "SIGN_OUT",
    "UNKNOWN_USER",
    "WRONG_PASSWORD",
    "V4Apps",
    "assert_check",
    "assert_no_leaks",
    "fleet",
    "forms",
    "run_auth",
    "signed_in_as_smoke_user",
    "write_config",
]

SECTION = "Authentication Issues"
# -- check names (test ids inside suites/auth) --------------------------------------------------------
ENDPOINTS = "test_auth_endpoints_answer_without_server_errors"
CSRF = "test_csrf_endpoint_answers_with_an_uncached_token"
PROVIDERS = "test_providers_list_every_expected_provider"
SIGN_IN = "test_smoke_user_can_sign_in"
SESSION = "test_session_names_the_smoke_user"
WRONG_PASSWORD = "test_wrong_password_is_rejected"
NO_CSRF = "test_sign_in_without_csrf_token_is_rejected"
UNKNOWN_USER = "test_unknown_user_is_rejected"
HTTPONLY = "test_auth_cookie_rule[httponly]"
SAMESITE = "test_auth_cookie_rule[samesite]"
SECURE_PREFIX = "test_auth_cookie_rule[secure-prefix]"
HOST_PREFIX = "test_auth_cookie_rule[csrf-host-prefix]"
COOKIE_SIZE = "test_auth_cookies_fit_in_4kb"
ANONYMOUS = "test_protected_path_refuses_requests_without_a_session[/api/me]"
SIGNED_IN = "test_protected_path_serves_the_signed_in_user[/api/me]"
OPEN_REDIRECT = "test_foreign_callback_url_is_not_honoured"
SIGN_OUT = "test_sign_out_clears_the_session"

ALL_CHECKS = (
    ENDPOINTS, CSRF, PROVIDERS, SIGN_IN, SESSION, WRONG_PASSWORD, NO_CSRF, UNKNOWN_USER, HTTPONLY, SAMESITE,
    SECURE_PREFIX, HOST_PREFIX, COOKIE_SIZE, ANONYMOUS, SIGNED_IN, OPEN_REDIRECT, SIGN_OUT,
)  # fmt: skip
HTTPS_ONLY = (SECURE_PREFIX, HOST_PREFIX)
#: the negative canaries: they pass only when the smoke user's own sign-in works in the same run
CANARIES = (WRONG_PASSWORD, NO_CSRF, UNKNOWN_USER)
#: checks that need the smoke user's name (all but the unknown-user canary also need the password)
NEED_CREDENTIALS = (
    SIGN_IN, SESSION, WRONG_PASSWORD, NO_CSRF, HTTPONLY, SAMESITE, COOKIE_SIZE, SIGNED_IN, OPEN_REDIRECT, SIGN_OUT
)  # fmt: skip

#: what a healthy app gives over http (the https-only cookie rules skip)
HEALTHY_HTTP = {**dict.fromkeys(ALL_CHECKS, "passed"), **dict.fromkeys(HTTPS_ONLY, "skipped")}

#: options that give redaction every chance to fail: full reports, locals, debug logs into junit
LOUD = ("-rA", "--showlocals", "--log-level=DEBUG", "-o", "junit_logging=all", "-vv")


# -- the reference app, started once per mode ----------------------------------------------------------
@dataclass
class V4Apps:
    """The v4 reference app (next-auth 4) keyed by (fault, https), from the shared harness
    (``tests/support/reference_apps.py``): each started on first use and stopped at module end."""

    apps: AppFleet

    def get(self, fault: str = "", *, https: bool = False) -> RunningApp:
        return self.apps.get(V4, fault, https=https)


@pytest.fixture(scope="module")
def fleet(reference_apps: AppFleet) -> V4Apps:
    return V4Apps(reference_apps)


# -- running the suite ------------------------------------------------------------------------------------
def write_config(
    directory: Path,
    base_url: str,
    *,
    ca_bundle: Path | None = None,
    timeout_s: float = 5,
    retries: int | None = None,
    fail_on_jwt_replay: bool | None = None,
    protected_paths: tuple[str, ...] = ("/api/me",),
    auth: dict[str, Any] | None = None,
    tables: dict[str, dict[str, Any]] | None = None,
) -> Path:
    top: dict[str, Any] = {"timeout_s": timeout_s}
    if ca_bundle is not None:
        top["ca_bundle"] = ca_bundle
    if retries is not None:
        top["retries"] = retries
    auth_table: dict[str, Any] = {
        "username": "${SMOKE_USER}",
        "password": "${SMOKE_PASSWORD}",
        "expected_providers": ["credentials"],
        "protected_paths": list(protected_paths),
        **(auth or {}),
    }
    if fail_on_jwt_replay is not None:
        auth_table["fail_on_jwt_replay"] = fail_on_jwt_replay
    return write_opscheck_toml(directory, base_url=base_url, top=top, auth=auth_table, **(tables or {}))


def run_auth(
    pytester: pytest.Pytester,
    tmp_path: Path,
    base_url: str,
    *args: str,
    name: str = "run",
    in_process: bool = False,
    **config: Any,
) -> SuiteRun:
    """Run ``suites/auth`` against ``base_url`` (in a subprocess, as CI does, unless ``in_process``)."""
    directory = tmp_path / name
    directory.mkdir()
    path = write_config(directory, base_url, **config)
    return run_suite(pytester, AUTH_SUITE, path, directory / "reports", *args, in_process=in_process)


def signed_in_as_smoke_user(monkeypatch: pytest.MonkeyPatch, app: RunningApp) -> None:
    monkeypatch.setenv("SMOKE_USER", SMOKE_USER)
    monkeypatch.setenv("SMOKE_PASSWORD", app.password)


def assert_check(
    run: SuiteRun, name: str, outcome: str, *, severity: str | None = None, says: str = ""
) -> dict[str, Any]:
    check: dict[str, Any] = run.check(name)
    context = f"{name}: {json.dumps(check, indent=1)}\n--- output ---\n{run.output}"
    assert check["outcome"] == outcome, context
    if severity is not None:
        assert check["severity"] == severity, context
    if outcome in {"failed", "error"}:
        assert check["runbook_section"] == SECTION, context
        assert check["remediation"], context
    assert says.lower() in (check["message"] or "").lower(), context
    return check


def forms(value: str) -> set[str]:
    """The spellings a secret could leak in: raw, URL-encoded, JSON-escaped, base64."""
    raw = value.encode()
    return {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


def assert_no_leaks(run: SuiteRun, app: RunningApp, *, at_least: int = 4) -> None:
    """None of the secrets of this run appears in any output, in any spelling.

    ``at_least``: how many distinct values must have been seen (password, session cookie, CSRF cookie and
    its parts, CSRF token), so a scan that found nothing to look for cannot pass.
    """
    wire = app.wire_secrets()
    assert len(wire) >= at_least, f"only {len(wire)} secret value(s) went over the wire"
    everything = run.all_text()
    leaks = sorted({value[:12] for value in wire for form in forms(value) if form in everything})
    assert leaks == [], f"secret values (first 12 chars shown) found in the outputs: {leaks}"
