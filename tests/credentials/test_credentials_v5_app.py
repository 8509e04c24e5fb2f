"""The credentials suite against the Auth.js v5 reference app (examples/authjs-v5-app, built from npm and
started by tests/support/reference_apps.py): the environment the app really runs with, written out as the
env file ``vercel env pull`` would give, passes every check (or skips one with its reason), read the way
next-auth 5 reads it: AUTH_SECRET and AUTH_URL, no NEXTAUTH_* names needed."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpcore  # noqa: F401  (kept loaded: pytester's module snapshot would re-import it under httpx)
import httpx
import pytest

from tests.support.reference_apps import SMOKE_USER, V5, RunningApp, start_app
from tests.support.suite_run import REPO, run_suite, write_opscheck_toml

pytestmark = pytest.mark.xdist_group("reference-app")

CREDENTIALS_SUITE = REPO / "suites" / "credentials"
TIMEOUT_S = 15.0


def dotenv(values: dict[str, str]) -> str:
    """Like ``vercel env pull``: one NAME="value" per line, backslash and quote escaped."""
    return "".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"\n'
        for k, v in values.items()
    )


def test_the_v5_apps_deployment_env_passes_the_credentials_suite(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with start_app(V5, tmp_path / "apps") as app:
        deployed = {k: v for k, v in app.environment.items() if v}
        env_file = tmp_path / ".env.production"
        env_file.write_text(dotenv(deployed), encoding="utf-8")
        config = write_opscheck_toml(
            tmp_path,
            base_url=app.base_url,
            top={"timeout_s": 10},
            smoke={"pages": ["/", "/login"]},
            # the app has no database and no Sentry: it needs its auth secret and URL and the smoke user
            credentials={
                "env_file": env_file.name,
                "required": ["AUTH_SECRET", "AUTH_URL", "SMOKE_PASSWORD"],
            },
        )
        run = run_suite(pytester, CREDENTIALS_SUITE, config, tmp_path / "reports")
        log = app.log()

    assert run.ret == 0, f"{run.output}\n--- app log ---\n{log[-2000:]}"
    assert set(deployed) >= {"AUTH_SECRET", "AUTH_URL"}
    assert not any(name.startswith("NEXTAUTH_") for name in deployed)
    outcomes = run.outcomes()
    assert set(outcomes.values()) <= {"passed", "skipped"}, outcomes
    for name in (
        "test_required_variable_is_set[AUTH_SECRET]",
        "test_required_variable_is_set[AUTH_URL]",
        "test_nextauth_secret_is_strong[key-material]",
        "test_nextauth_secret_is_strong[entropy]",
        "test_nextauth_secret_is_strong[deny-list]",
        "test_auth_secret_is_unambiguous",
        "test_nextauth_url_matches_the_site[host]",
        "test_auth_url_source_is_pinned",
        "test_secrets_are_not_exposed",
    ):
        assert outcomes[name] == "passed", f"{name}: {run.check(name)}"
    assert run.check("test_auth_secret_is_unambiguous")["metrics"]["signing_secret"] == "AUTH_SECRET"
    assert run.check("test_auth_url_source_is_pinned")["metrics"]["auth_url_source"] == "AUTH_URL"
    assert any("the variables' names" in n for n in run.check("test_auth_url_source_is_pinned")["notes"])
    assert run.check("test_secrets_are_not_exposed")["metrics"]["scripts_scanned"] > 0
    skipped = {n: run.check(n)["message"] for n, o in outcomes.items() if o == "skipped"}
    assert all(skipped.values()), skipped  # every skip says why
    text = run.all_text()
    assert deployed["AUTH_SECRET"] not in text
    assert app.password not in text


# ---- the two next-auth 5 facts the suite reports that a reading of the docs would not predict, shown on the app


def _secret() -> str:
    return secrets.token_urlsafe(32)


def _session_token(app: RunningApp) -> str:
    """Sign the smoke user in the way the app's README says and return the session cookie's value."""
    with httpx.Client(base_url=app.base_url, timeout=TIMEOUT_S, follow_redirects=False) as client:
        token = client.get("/auth/csrf").json()["csrfToken"]
        answer = client.post(
            "/auth/callback/credentials",
            data={"csrfToken": token, "username": SMOKE_USER, "password": app.password, "callbackUrl": "/"},
            headers={"X-Auth-Return-Redirect": "1"},
        )
        value = client.cookies.get(V5.session_cookie)
    assert value, f"no {V5.session_cookie} after sign-in: HTTP {answer.status_code}\n{app.log()[-1500:]}"
    return value


def _session_user(app: RunningApp, token: str) -> object:
    headers = {"Cookie": f"{V5.session_cookie}={token}"}
    with httpx.Client(base_url=app.base_url, timeout=TIMEOUT_S, follow_redirects=False) as client:
        session = client.get("/auth/session", headers=headers).json()
    return (session or {}).get("user")


def _suite_on(pytester: pytest.Pytester, tmp_path: Path, app: RunningApp, check: str) -> dict[str, object]:
    env_file = tmp_path / ".env.production"
    env_file.write_text(dotenv({k: v for k, v in app.environment.items() if v}), encoding="utf-8")
    config = write_opscheck_toml(
        tmp_path, base_url=app.base_url, top={"timeout_s": 10}, credentials={"env_file": env_file.name}
    )
    return run_suite(pytester, CREDENTIALS_SUITE, config, tmp_path / "reports", "-k", check).check(check)


def test_next_auth_5_signs_with_auth_secret_and_ignores_auth_secret_1_next_to_it(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    current, rotated_in = _secret(), _secret()
    with start_app(
        V5, tmp_path / "both", overrides={"AUTH_SECRET": current, "AUTH_SECRET_1": rotated_in}
    ) as app:
        token = _session_token(app)
        verdict = _suite_on(pytester, tmp_path, app, "test_auth_secret_is_unambiguous")
    # which secret encrypted the session: only the app that has AUTH_SECRET's value can read it
    with start_app(V5, tmp_path / "old", overrides={"AUTH_SECRET": current}) as app:
        assert _session_user(app, token) is not None
    with start_app(V5, tmp_path / "new", overrides={"AUTH_SECRET": rotated_in}) as app:
        assert _session_user(app, token) is None
    assert verdict["outcome"] == "failed", verdict
    assert "AUTH_SECRET_1 is set but ignored" in str(verdict["message"])


def test_next_auth_5_with_nextauth_url_alone_answers_500_and_the_suite_says_why(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with start_app(V5, tmp_path / "renamed", renames={"AUTH_URL": "NEXTAUTH_URL"}) as app:
        with httpx.Client(base_url=app.base_url, timeout=TIMEOUT_S) as client:
            untrusted = client.get("/auth/csrf").status_code
        verdict = _suite_on(pytester, tmp_path, app, "test_auth_url_source_is_pinned")
    with (
        start_app(
            V5,
            tmp_path / "trusted",
            renames={"AUTH_URL": "NEXTAUTH_URL"},
            overrides={"AUTH_TRUST_HOST": "true"},
        ) as app,
        httpx.Client(base_url=app.base_url, timeout=TIMEOUT_S) as client,
    ):
        trusted = client.get("/auth/csrf").status_code
    assert (untrusted, trusted) == (500, 200)
    assert verdict["outcome"] == "failed", verdict
    assert "rename NEXTAUTH_URL to AUTH_URL" in str(verdict["message"])
    assert "UntrustedHost" in str(verdict["message"])
