"""The shipped auth and smoke suites (and the credentials suite's exposure check) against BOTH real reference
apps — next-auth 4 (examples/nextjs-app) and Auth.js v5 (examples/authjs-v5-app) — in every fault mode each
app has, over http and over https (a TLS terminator with a test certificate in front, so the apps really set
``Secure`` and ``__Secure-``/``__Host-`` cookies).

Every run is judged against the whole table of verdicts: the checks meant to catch the mode fail (or error)
with their runbook section (and, where the gate depends on it, their severity: the P0 canaries and protected
paths), and every other check keeps its verdict for the healthy app, so a
fault that nothing catches (a false green) and a check that breaks on a healthy app (a false red) both fail
here. The apps are configured the way a user would point opscheck at them (the v5 app's ``auth.base_path``,
``smoke.health_path = false``, its protected page and route); nothing else is told about them. Every output
of every run is scanned for the smoke password, the app's secret and every session cookie and CSRF token that
went over the wire.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpcore  # noqa: F401  (kept loaded: pytester's module snapshot would re-import it under httpx)
import pytest

from opscheck.restore.servers.local import LocalCluster
from tests.support.auth_run import (
    CANARIES,
    COOKIE_SIZE,
    CSRF,
    ENDPOINTS,
    HOST_PREFIX,
    HTTPONLY,
    OPEN_REDIRECT,
    PROVIDERS,
    SAMESITE,
    SECURE_PREFIX,
    SESSION,
    SIGN_IN,
    SIGN_OUT,
    UNKNOWN_USER,
    WRONG_PASSWORD,
    assert_no_leaks,
)
from tests.support.reference_apps import RunningApp, start_app
from tests.support.reference_targets import (
    TARGETS,
    V4_TARGET,
    Target,
    anonymous,
    auth_checks,
    config_for,
    signed_in,
)
from tests.support.smoke_run import (
    CACHE,
    DATABASE,
    FRAMING,
    HEADER_CHECKS,
    HEALTH,
    HSTS,
    MAINTENANCE,
    NOSNIFF,
    REFERRER,
    TLS,
    VERSION,
    page_fast,
    page_ok,
)
from tests.support.suite_run import (
    AUTH_SUITE,
    CREDENTIALS_SUITE,
    SMOKE_SUITE,
    SuiteRun,
    run_suite,
    write_opscheck_toml,
)

SUITES = (AUTH_SUITE, SMOKE_SUITE)
EXPOSURE_CHECK = CREDENTIALS_SUITE / "test_secrets_are_not_exposed.py"
EXPOSURE = "test_secrets_are_not_exposed"
RUN_TIMEOUT_S = 180.0

AUTH_SECTION = "Authentication Issues"
SITE_DOWN = "Site Down (P0)"
PERFORMANCE = "Performance Degradation"
HEADERS_SECTION = "Security Headers"
SECURITY_INCIDENT = "Security Incident"


def healthy(target: Target, *, https: bool) -> dict[str, str]:
    """Every check's verdict for the app in normal mode."""
    verdicts = dict.fromkeys(auth_checks(target), "passed")
    verdicts.update(
        dict.fromkeys([page_ok(p) for p in target.pages] + [page_fast(p) for p in target.pages], "passed")
    )
    verdicts.update(dict.fromkeys(HEADER_CHECKS, "passed"))
    verdicts.update({MAINTENANCE: "passed", EXPOSURE: "passed", CACHE: "skipped", VERSION: "skipped"})
    # the v5 app has no health endpoint (smoke.health_path = false) and no database
    has_health = target.spec.uses_database
    verdicts[HEALTH] = "passed" if has_health else "skipped"
    verdicts[DATABASE] = "passed" if has_health else "skipped"
    # cookie prefixes, HSTS and the certificate are judged on https deployments only
    for name in (SECURE_PREFIX, HOST_PREFIX, HSTS, TLS):
        verdicts[name] = "passed" if https else "skipped"
    return verdicts


@dataclass(frozen=True)
class Caught:
    """A check a fault mode must turn: its outcome, runbook section, words of its message and, where the gate
    depends on it, its severity."""

    outcome: str
    section: str
    says: str = ""
    severity: str | None = None


def failed(section: str, says: str = "", severity: str | None = None) -> Caught:
    return Caught("failed", section, says, severity)


def errored(section: str, says: str = "", severity: str | None = None) -> Caught:
    return Caught("error", section, says, severity)


def outage(target: Target, *, https: bool, protected_paths_fail: bool = False) -> dict[str, Caught]:
    """Every auth route answers 500 (a missing secret, a configuration the auth library refuses).

    ``protected_paths_fail``: the protected paths answer 500 too (the v4 app without a secret), so whether they
    are protected cannot be told; otherwise they still refuse without a session and pass.
    """
    caught = {
        ENDPOINTS: failed(AUTH_SECTION, "HTTP 500"),
        SIGN_IN: failed(AUTH_SECTION, "HTTP 500"),
        # a rejected wrong password proves nothing when nobody can sign in: never a P0 false green
        **{name: errored(AUTH_SECTION, "inconclusive: sign-in itself is broken", "P0") for name in CANARIES},
    }
    needs_sign_in = [CSRF, PROVIDERS, SESSION, HTTPONLY, SAMESITE, COOKIE_SIZE, OPEN_REDIRECT, SIGN_OUT]
    needs_sign_in += [signed_in(p) for p in target.protected_paths]
    if https:
        needs_sign_in += [SECURE_PREFIX, HOST_PREFIX]
    caught.update({name: errored(AUTH_SECTION, "HTTP 500") for name in needs_sign_in})
    if protected_paths_fail:
        caught.update(
            {anonymous(p): errored(AUTH_SECTION, "cannot be told", "P0") for p in target.protected_paths}
        )
    return caught


def expectations(target: Target, fault: str, *, https: bool) -> dict[str, Caught]:
    """The checks ``fault`` must turn on ``target``; every other check keeps its healthy verdict."""
    slow = {page_fast(p): failed(PERFORMANCE, "ms") for p in target.pages}
    if target.spec.uses_database:  # the v4 app's health endpoint is slow too
        slow[HEALTH] = failed(SITE_DOWN, "ms", "P0")
    no_headers = {name: failed(HEADERS_SECTION) for name in (NOSNIFF, FRAMING, REFERRER)}
    if https:
        no_headers[HSTS] = failed(HEADERS_SECTION)
    foreign = {OPEN_REDIRECT: failed(AUTH_SECTION, "another host")}
    # the prefix check honours URLs that start with the app's own origin (as the app spells it)
    prefix = {OPEN_REDIRECT: failed(AUTH_SECTION, "host suffix")}
    table: dict[str, dict[str, Caught]] = {
        "": {},
        "any-password": {
            WRONG_PASSWORD: failed(AUTH_SECTION, "ACCEPTED", "P0"),
            UNKNOWN_USER: failed(AUTH_SECTION, "anyone can sign in", "P0"),
        },
        "open-protected": {
            anonymous(p): failed(AUTH_SECTION, "without a session", "P0") for p in target.protected_paths
        },
        "cookie-no-httponly": {HTTPONLY: failed(AUTH_SECTION, "HttpOnly")},
        "no-secret": outage(target, https=https, protected_paths_fail=target is V4_TARGET),
        "config-500": outage(target, https=https),
        "provider-no-issuer": outage(target, https=https),
        "foreign-callback": foreign,
        "prefix-redirect": prefix,
        "no-security-headers": no_headers,
        "slow": slow,
        "leak-secret": {EXPOSURE: failed(SECURITY_INCIDENT, target.spec.secret_variable, "P0")},
        "health-degraded": {HEALTH: failed(SITE_DOWN, "degraded", "P0")},
        # renamed cookie, moved auth routes, own sign-in page: variants a correct opscheck takes in its stride
        "custom-cookie": {},
        "custom-base-path": {},
        "custom-signin": {},
        # a hand-written cookie without the __Secure- prefix and Secure: wrong on https only
        "insecure-custom-cookie": {SECURE_PREFIX: failed(AUTH_SECTION, "sid")} if https else {},
    }
    if fault not in table:
        raise AssertionError(
            f"fault mode {fault!r} of the {target.spec.name} app has no expectation in this table"
        )
    return table[fault]


def cases() -> list[Any]:
    params = []
    for target in TARGETS.values():
        for fault in ("", *target.spec.faults):
            for https in (False, True):
                scheme = "https" if https else "http"
                params.append(
                    pytest.param(
                        target,
                        fault,
                        https,
                        id=f"{target.spec.name}-{fault or 'normal'}-{scheme}",
                        marks=pytest.mark.xdist_group(f"reference-app-{target.spec.name}"),
                    )
                )
    return params


# -- running -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def database_url(pg_cluster: LocalCluster) -> str:
    """The v4 app's health endpoint reads it; opscheck's own database check opens it read-only."""
    return pg_cluster.dsn()


def run_against(
    pytester: pytest.Pytester, tmp_path: Path, target: Target, app: RunningApp, database_url: str
) -> SuiteRun:
    top, tables = config_for(target, app, tmp_path, database_url)
    config = write_opscheck_toml(tmp_path, base_url=app.base_url, top=top, **tables)
    extra = [*(str(s) for s in SUITES[1:]), f"{EXPOSURE_CHECK}::{EXPOSURE}"]
    return run_suite(pytester, SUITES[0], config, tmp_path / "reports", *extra, timeout_s=RUN_TIMEOUT_S)


def assert_verdicts(
    run: SuiteRun, app: RunningApp, expected: dict[str, str], caught: dict[str, Caught]
) -> None:
    outcomes = run.outcomes()
    want = {**expected, **{name: c.outcome for name, c in caught.items()}}
    wrong = {n: f"{outcomes.get(n)} (expected {w})" for n, w in want.items() if outcomes.get(n) != w}
    unexpected = sorted(set(outcomes) - set(want))
    context = f"\n--- output ---\n{run.output}\n--- app log (tail) ---\n{app.log()[-3000:]}"
    assert not wrong, f"wrong verdicts: {json.dumps(wrong, indent=1)}{context}"
    assert not unexpected, f"checks the table does not know: {unexpected}{context}"
    for name, c in caught.items():
        check = run.check(name)
        detail = f"{name}: {json.dumps(check, indent=1)}"
        if c.severity is not None:
            assert check["severity"] == c.severity, detail
        assert check["runbook_section"] == c.section, detail
        assert check["remediation"], detail
        assert c.says.lower() in (check["message"] or "").lower(), detail
    assert run.ret == (1 if caught else 0), run.output


@pytest.mark.parametrize(("target", "fault", "https"), cases())
def test_suites_judge_the_reference_app_in_each_fault_mode(
    target: Target, fault: str, *, https: bool, pytester: pytest.Pytester, tmp_path: Path, database_url: str
) -> None:
    with start_app(target.spec, tmp_path / "app", fault=fault, https=https, database_url=database_url) as app:
        run = run_against(pytester, tmp_path, target, app, database_url)
        assert_verdicts(run, app, healthy(target, https=https), expectations(target, fault, https=https))
        if not target.spec.uses_database:  # no health endpoint: a deliberate skip that names its key
            assert "health_path" in run.check(HEALTH)["message"], run.check(HEALTH)
        assert_no_leaks(run, app, at_least=0)
