"""The auth suite against the REAL Auth.js v5 reference app (examples/authjs-v5-app: next-auth 5 beta from
npm, auth under /auth, session cookie ``opscheck-v5.sid``, custom sign-in page ``/signin``, ``/dashboard``
protected by the proxy, no health endpoint), over http and https, for what issue 11's findings promise of a v5
app: it is judged like the v4 app once ``auth.base_path`` points at its routes; an outage is never green; its
prefix-check redirect is caught with payloads built from the origin it reports (``localhost``); advice speaks
v5. The harness is ``tests/support/reference_apps.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.auth_run import (
    ALL_CHECKS,
    CANARIES,
    ENDPOINTS,
    HEALTHY_HTTP,
    LOUD,
    OPEN_REDIRECT,
    SIGN_IN,
    assert_check,
    assert_no_leaks,
    run_auth,
)
from tests.support.reference_apps import V5, AppFleet, RunningApp
from tests.support.suite_run import SuiteRun

pytestmark = pytest.mark.xdist_group("reference-app")

DASHBOARD = "test_protected_path_refuses_requests_without_a_session[/dashboard]"
DASHBOARD_SIGNED_IN = "test_protected_path_serves_the_signed_in_user[/dashboard]"
V5_AUTH = {"base_path": "/auth"}


def run_v5(
    pytester: pytest.Pytester,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    app: RunningApp,
    *args: str,
    **config: object,
) -> SuiteRun:
    monkeypatch.setenv("SMOKE_USER", "smoke@example.com")
    monkeypatch.setenv("SMOKE_PASSWORD", app.password)
    config.setdefault("auth", V5_AUTH)
    return run_auth(
        pytester,
        tmp_path,
        app.base_url,
        *args,
        ca_bundle=app.ca_bundle,
        **config,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_the_v5_app_passes_every_check_once_base_path_points_at_its_routes(
    https: bool,
    pytester: pytest.Pytester,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    reference_apps: AppFleet,
) -> None:
    app = reference_apps.get(V5, https=https)
    run = run_v5(pytester, tmp_path, monkeypatch, app, *LOUD, protected_paths=("/api/me", "/dashboard"))
    healthy = dict.fromkeys(ALL_CHECKS, "passed") if https else dict(HEALTHY_HTTP)
    healthy |= {DASHBOARD: "passed", DASHBOARD_SIGNED_IN: "passed"}
    assert run.outcomes() == healthy, run.output
    sign_in = run.check(SIGN_IN).metrics
    assert sign_in["nextauth"] == "Auth.js v5"
    assert sign_in["session_cookie"] == ("__Secure-opscheck-v5.sid" if https else "opscheck-v5.sid")
    assert "/signin?" in run.check(DASHBOARD).metrics["redirect"]  # its custom sign-in page, via localhost
    assert run.check(OPEN_REDIRECT).metrics["payloads"] >= 10
    assert run.ret == 0
    assert_no_leaks(run, app)


def test_the_v5_app_without_base_path_is_not_judged_and_the_key_is_named(
    pytester: pytest.Pytester,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    reference_apps: AppFleet,
) -> None:
    app = reference_apps.get(V5)
    run = run_v5(pytester, tmp_path, monkeypatch, app, auth={})
    assert "failed" not in run.outcomes().values(), run.output
    assert_check(run, SIGN_IN, "error", says="set auth.base_path")


@pytest.mark.parametrize("fault", ["no-secret", "provider-no-issuer"])
def test_a_v5_auth_outage_fails_a_p0_gate_with_v5_advice(
    fault: str,
    pytester: pytest.Pytester,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    reference_apps: AppFleet,
) -> None:
    app = reference_apps.get(V5, fault)
    run = run_v5(pytester, tmp_path, monkeypatch, app, "--gate", "P0", protected_paths=())
    for name in CANARIES:
        assert_check(run, name, "error", severity="P0", says="inconclusive: sign-in itself is broken")
    # its 500 says "There was a problem ..." (v4: "There is"): the advice speaks v5 although no cookie was set
    for name in (SIGN_IN, ENDPOINTS):
        advice = assert_check(run, name, "failed", severity="P1")["remediation"]
        assert "npx auth secret" in advice
        assert "MissingSecret" in advice
        assert "AUTH_TRUST_HOST" in advice
        lead = advice.split("\n", 1)[1].split("\n\n", 1)[0]  # before the runbook section's own text
        assert "NEXTAUTH_SECRET" not in lead
        assert "rotate" not in advice.replace("Do not rotate", "")
    assert run.ret == 1, run.output


def test_the_v5_prefix_redirect_bug_is_caught_with_payloads_from_the_origin_it_reports(
    pytester: pytest.Pytester,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    reference_apps: AppFleet,
) -> None:
    app = reference_apps.get(V5, "prefix-redirect")
    run = run_v5(pytester, tmp_path, monkeypatch, app)
    check = assert_check(run, OPEN_REDIRECT, "failed", severity="P2", says="host suffix http://localhost:")
    assert "callbacks.redirect in the NextAuth(...) config in auth.ts" in check["remediation"]
    assert run.others(OPEN_REDIRECT) == {n: o for n, o in HEALTHY_HTTP.items() if n != OPEN_REDIRECT}
