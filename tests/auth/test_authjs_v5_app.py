"""The Auth.js v5 reference app (examples/authjs-v5-app), really built from npm and started by the harness in
tests/support/reference_apps.py, behaves as its README says: over http and https, in normal mode and in the
fault modes the v4 app does not have. These tests talk to it with plain httpx, not with opscheck, so they
pin the app's contract independently of the suites that are judged against it.
"""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path

import httpx
import pytest

from tests.support.certs import client_context
from tests.support.reference_apps import (
    SMOKE_USER,
    V4,
    V5,
    AppFleet,
    AppSpec,
    RunningApp,
    start_app,
)

pytestmark = pytest.mark.xdist_group("reference-app")

TIMEOUT_S = 15.0
SECURITY_HEADERS = (
    "strict-transport-security",
    "x-content-type-options",
    "x-frame-options",
    "content-security-policy",
    "referrer-policy",
)


def client(app: RunningApp) -> httpx.Client:
    verify: ssl.SSLContext | bool = client_context(str(app.ca_bundle)) if app.ca_bundle else True
    return httpx.Client(base_url=app.base_url, timeout=TIMEOUT_S, verify=verify, follow_redirects=False)


def sign_in(http: httpx.Client, password: str, callback_url: str = "/dashboard") -> httpx.Response:
    """The script sign-in of the README: CSRF token, then the credentials callback in JSON mode."""
    token = http.get("/auth/csrf").json()["csrfToken"]
    return http.post(
        "/auth/callback/credentials",
        data={"csrfToken": token, "username": SMOKE_USER, "password": password, "callbackUrl": callback_url},
        headers={"X-Auth-Return-Redirect": "1"},
    )


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers of ``response`` keyed by cookie name (the whole header as value)."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


def test_normal_mode_over_http_serves_auth_under_its_base_path_with_its_own_cookie_and_pages(
    reference_apps: AppFleet,
) -> None:
    app = reference_apps.get(V5)
    with client(app) as http:
        assert http.get("/api/auth/csrf").status_code == 404  # not next-auth's default base path
        assert http.get("/api/health").status_code == 404  # no health endpoint
        session = http.get("/auth/session")
        assert (session.status_code, session.json()) == (200, None)
        assert http.get("/auth/providers").json()["credentials"]["type"] == "credentials"
        anonymous = http.get("/dashboard")
        assert anonymous.status_code == 307
        # to the app's own origin as Next.js reports it (127.0.0.1 becomes localhost)
        location = httpx.URL(anonymous.headers["location"])
        assert (location.path, location.query) == ("/signin", b"callbackUrl=%2Fdashboard")
        assert http.get("/api/me").status_code == 401
        home = http.get("/")
        assert home.status_code == 200
        assert all(name in home.headers for name in SECURITY_HEADERS), home.headers
        assert "x-powered-by" not in home.headers
        assert "<form" in http.get("/signin").text

        wrong = sign_in(http, "not-the-password")
        assert "/signin?error=CredentialsSignin" in wrong.json()["url"]
        assert V5.session_cookie not in set_cookies(wrong)

        signed_in = sign_in(http, app.password)
        assert "error=" not in signed_in.json()["url"]
        cookie = set_cookies(signed_in)[V5.session_cookie]
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Secure" not in cookie
        assert http.get("/auth/session").json()["user"]["email"] == SMOKE_USER
        assert http.get("/api/me").json()["user"]["email"] == SMOKE_USER
        dashboard = http.get("/dashboard")
        assert dashboard.status_code == 200
        assert SMOKE_USER in dashboard.text


def test_normal_mode_over_https_uses_secure_prefixed_cookies(reference_apps: AppFleet) -> None:
    app = reference_apps.get(V5, https=True)
    assert app.base_url.startswith("https://")
    with client(app) as http:
        csrf = http.get("/auth/csrf")
        assert "Secure" in set_cookies(csrf)["__Host-authjs.csrf-token"]
        cookie = set_cookies(sign_in(http, app.password))[f"__Secure-{V5.session_cookie}"]
        assert "Secure" in cookie
        assert "HttpOnly" in cookie
        assert http.get("/api/me").status_code == 200


@pytest.mark.parametrize("fault", ["no-secret", "provider-no-issuer"])
def test_configuration_faults_answer_500_on_every_auth_route_and_fail_closed_elsewhere(
    fault: str, reference_apps: AppFleet
) -> None:
    app = reference_apps.get(V5, fault)
    with client(app) as http:
        for path in ("/auth/csrf", "/auth/providers", "/auth/session"):
            response = http.get(path)
            assert response.status_code == 500, (path, response.text)
            assert "server configuration" in response.json()["message"]
        assert http.get("/api/me").status_code == 401
        assert http.get("/").status_code == 200
    expected = "MissingSecret" if fault == "no-secret" else "InvalidEndpoints"
    assert expected in app.log()


def test_prefix_redirect_fault_honours_only_urls_that_start_with_the_apps_own_origin(
    reference_apps: AppFleet,
) -> None:
    app = reference_apps.get(V5, "prefix-redirect")
    port = app.base_url.rsplit(":", 1)[1]
    with client(app) as http:
        # Next.js reports 127.0.0.1 as localhost: that is the origin the callback compares with
        honoured = sign_in(http, app.password, f"http://localhost:{port}.evil.invalid/")
        assert honoured.json()["url"] == f"http://localhost:{port}.evil.invalid/"
    with client(app) as http:
        refused = sign_in(http, app.password, "https://evil.invalid/")
        assert refused.json()["url"] == f"http://localhost:{port}"


def test_normal_mode_refuses_the_prefix_payload(reference_apps: AppFleet) -> None:
    app = reference_apps.get(V5)
    port = app.base_url.rsplit(":", 1)[1]
    with client(app) as http:
        answer = sign_in(http, app.password, f"http://localhost:{port}.evil.invalid/").json()["url"]
        assert "evil.invalid" not in answer


def test_custom_cookie_fault_sets_an_unprefixed_cookie_without_secure_over_https(
    reference_apps: AppFleet,
) -> None:
    app = reference_apps.get(V5, "insecure-custom-cookie", https=True)
    with client(app) as http:
        cookies = set_cookies(sign_in(http, app.password))
        assert "sid" in cookies, cookies.keys()
        assert "Secure" not in cookies["sid"]
        assert "HttpOnly" in cookies["sid"]
        assert http.get("/api/me").status_code == 200


def test_start_app_stops_the_app_and_its_proxy_also_when_the_block_fails(tmp_path: Path) -> None:
    seen: list[tuple[RunningApp, int]] = []

    def use_the_app_and_fail() -> None:
        with start_app(V5, tmp_path) as app:
            assert app.app.process is not None
            seen.append((app, app.app.process.pid))
            with client(app) as http:
                assert http.get("/").status_code == 200
            raise RuntimeError("the test failed")

    with pytest.raises(RuntimeError, match="the test failed"):
        use_the_app_and_fail()
    [(app, pid)] = seen
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(httpx.ConnectError), client(app) as http:
        http.get("/")


@pytest.mark.parametrize("spec", [V4, V5], ids=["v4", "v5"])
def test_the_harness_knows_every_fault_mode_the_apps_readme_documents(spec: AppSpec) -> None:
    readme = (spec.directory / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Fault modes", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z0-9-]+)` \|", section, re.MULTILINE)
    assert len(documented) >= 9
    assert sorted(spec.faults) == sorted(documented)
