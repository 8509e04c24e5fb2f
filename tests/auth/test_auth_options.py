"""The auth suite pointed at apps that use NextAuth's documented options, against the REAL reference app
(Next.js 16 + next-auth 4 from npm, see ``tests/auth/test_auth_suite.py``) in the fault modes that switch them on:
another base path (``auth.base_path``), a custom session-cookie name (``auth.session_cookie``) and a custom
sign-in page (``auth.signin_path``). A documented option is no fault: the suite must judge such an app as it
judges the default one, or, when it cannot find the app's auth routes, say which key to set instead of
failing the app.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.support.auth_run import (
    ALL_CHECKS,
    CSRF,
    ENDPOINTS,
    HEALTHY_HTTP,
    LOUD,
    OPEN_REDIRECT,
    PROVIDERS,
    SIGN_IN,
    V4Apps,
    assert_check,
    assert_no_leaks,
    run_auth,
    signed_in_as_smoke_user,
)

pytestmark = pytest.mark.xdist_group("reference-app")


# -- auth.base_path ------------------------------------------------------------------------------------------
def test_an_app_serving_nextauth_elsewhere_passes_with_auth_base_path(
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fleet.get("custom-base-path")  # NextAuth at /auth, /api/auth answers 404
    signed_in_as_smoke_user(monkeypatch, app)
    run = run_auth(pytester, tmp_path, app.base_url, auth={"base_path": "/auth"})
    assert run.outcomes() == HEALTHY_HTTP, run.output
    assert run.ret == 0


def test_an_app_serving_nextauth_elsewhere_is_not_judged_and_the_key_is_named(
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fleet.get("custom-base-path")
    signed_in_as_smoke_user(monkeypatch, app)
    run = run_auth(pytester, tmp_path, app.base_url)
    assert "failed" not in run.outcomes().values(), run.output  # the app was not judged
    for name in (ENDPOINTS, CSRF, PROVIDERS, SIGN_IN):
        check = assert_check(run, name, "error", says="set auth.base_path")
        assert "HTTP 404" in check["message"]
        assert "nothing answers like NextAuth under /api/auth" in check["message"]
    assert run.ret == 1


# -- auth.session_cookie ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_a_custom_session_cookie_name_is_found_reported_and_kept_secret(
    https: bool, pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fleet.get("custom-cookie", https=https)  # cookies.sessionToken.name = "acme.sid"
    signed_in_as_smoke_user(monkeypatch, app)
    run = run_auth(pytester, tmp_path, app.base_url, *LOUD, ca_bundle=app.ca_bundle)
    healthy = dict.fromkeys(ALL_CHECKS, "passed") if https else HEALTHY_HTTP
    assert run.outcomes() == healthy, run.output
    name = "__Secure-acme.sid" if https else "acme.sid"
    assert run.check(SIGN_IN).metrics["session_cookie"] == name
    assert f"{name}=".encode() in app.proxy.response_bytes()
    assert_no_leaks(run, app)


def test_auth_session_cookie_names_the_session_cookie(
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fleet.get("custom-cookie")
    signed_in_as_smoke_user(monkeypatch, app)
    run = run_auth(pytester, tmp_path, app.base_url, auth={"session_cookie": "acme.sid"})
    assert run.outcomes() == HEALTHY_HTTP, run.output
    wrong = run_auth(
        pytester, tmp_path, app.base_url, name="wrong", auth={"session_cookie": "next-auth.session-token"}
    )
    check = assert_check(wrong, SIGN_IN, "failed", severity="P1", says="no session cookie named")
    assert "(auth.session_cookie)" in check["message"]
    assert "acme.sid" in check["message"]  # the cookies that were set, by name
    assert_no_leaks(wrong, app)


# -- auth.signin_path -----------------------------------------------------------------------------------------------
ACCOUNT_ANONYMOUS = "test_protected_path_refuses_requests_without_a_session[/account]"
ACCOUNT_SIGNED_IN = "test_protected_path_serves_the_signed_in_user[/account]"


def test_a_page_that_sends_visitors_to_a_custom_sign_in_page_counts_as_protected(
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fleet.get("custom-signin")  # pages.signIn = "/welcome"; /account redirects there, absolute URL
    signed_in_as_smoke_user(monkeypatch, app)
    run = run_auth(pytester, tmp_path, app.base_url, protected_paths=("/api/me", "/account"))
    check = assert_check(run, ACCOUNT_ANONYMOUS, "passed")
    assert "/welcome?" in check["metrics"]["redirect"]
    assert "localhost" in check["metrics"]["redirect"]  # Next.js's own origin for 127.0.0.1
    assert_check(run, ACCOUNT_SIGNED_IN, "passed")
    assert run.ret == 0, run.output


def test_auth_signin_path_pins_the_sign_in_page_protected_paths_must_redirect_to(
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fleet.get("custom-signin")
    signed_in_as_smoke_user(monkeypatch, app)
    pinned = {"protected_paths": ("/account",)}
    run = run_auth(pytester, tmp_path, app.base_url, **pinned, auth={"signin_path": "/welcome"})
    assert_check(run, ACCOUNT_ANONYMOUS, "passed")
    wrong = run_auth(pytester, tmp_path, app.base_url, name="wrong", **pinned, auth={"signin_path": "/login"})
    check = assert_check(
        wrong, ACCOUNT_ANONYMOUS, "failed", severity="P0", says="not to auth.signin_path /login"
    )
    assert "/welcome" in check["message"]


# -- remedies ------------------------------------------------------------------------------------------------------
def test_a_configuration_500_with_the_secret_set_is_never_told_to_set_or_rotate_it(
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fleet.get("config-500")  # the secret is set; NextAuth refuses its session strategy
    signed_in_as_smoke_user(monkeypatch, app)
    env_file = tmp_path / "deployment.env"  # the deployment's own variables, as `vercel env pull` writes them
    env_file.write_text(f"NEXTAUTH_SECRET={secrets.token_urlsafe(32)}\n", encoding="utf-8")
    run = run_auth(pytester, tmp_path, app.base_url, tables={"credentials": {"env_file": str(env_file)}})
    endpoints = assert_check(run, ENDPOINTS, "failed", severity="P1", says="although the secret is set")
    sign_in = assert_check(run, SIGN_IN, "failed", severity="P1", says="HTTP 500")
    for check in (endpoints, sign_in):
        assert check["remediation_headline"].startswith("NextAuth refuses its configuration: read"), check
        advice = check["remediation"]
        assert "is set, so it is not the cause" in advice
        assert "Do not rotate the secret" in advice
        assert "openssl rand" not in advice
        assert "UNSUPPORTED_STRATEGY" in advice  # the kind of error code the server log names


# -- over https ------------------------------------------------------------------------------------------------------
def test_documented_options_over_https_pass_and_the_prefix_redirect_is_still_caught(
    pytester: pytest.Pytester, tmp_path: Path, fleet: V4Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NextAuth at /auth, a custom sign-in page, and the prefix bug, with an https NEXTAUTH_URL (Secure,
    prefixed cookies; payloads built from https://127.0.0.1:PORT)."""
    options = fleet.get("custom-base-path,custom-signin", https=True)
    signed_in_as_smoke_user(monkeypatch, options)
    run = run_auth(
        pytester,
        tmp_path,
        options.base_url,
        ca_bundle=options.ca_bundle,
        protected_paths=("/api/me", "/account"),
        auth={"base_path": "/auth"},
    )
    healthy = dict.fromkeys(ALL_CHECKS, "passed") | {ACCOUNT_ANONYMOUS: "passed", ACCOUNT_SIGNED_IN: "passed"}
    assert run.outcomes() == healthy, run.output
    assert_no_leaks(run, options)

    buggy = fleet.get("prefix-redirect", https=True)
    signed_in_as_smoke_user(monkeypatch, buggy)
    run = run_auth(pytester, tmp_path, buggy.base_url, name="prefix", ca_bundle=buggy.ca_bundle)
    check = assert_check(run, OPEN_REDIRECT, "failed", severity="P2", says="host suffix https://127.0.0.1:")
    assert "user info https://127.0.0.1:" in check["message"]
    assert run.others(OPEN_REDIRECT) == {n: "passed" for n in ALL_CHECKS if n != OPEN_REDIRECT}
    assert_no_leaks(run, buggy)
