"""The credentials suite against the Auth.js v5 reference app (examples/authjs-v5-app, built from npm and
started by tests/support/reference_apps.py): the environment the app really runs with, written out as the
env file ``vercel env pull`` would give, passes every check (or skips one with its reason), read the way
next-auth 5 reads it: AUTH_SECRET and AUTH_URL, no NEXTAUTH_* names needed."""

from __future__ import annotations

from pathlib import Path

import httpcore  # noqa: F401  (kept loaded: pytester's module snapshot would re-import it under httpx)
import pytest

from tests.support.reference_apps import V5, start_app
from tests.support.suite_run import REPO, isolate_from_caller, run_suite, write_opscheck_toml

pytestmark = pytest.mark.xdist_group("reference-app")

CREDENTIALS_SUITE = REPO / "suites" / "credentials"


def dotenv(values: dict[str, str]) -> str:
    """Like ``vercel env pull``: one NAME="value" per line, backslash and quote escaped."""
    return "".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"\n'
        for k, v in values.items()
    )


def test_the_v5_apps_deployment_env_passes_the_credentials_suite(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_from_caller(monkeypatch, tmp_path)
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
