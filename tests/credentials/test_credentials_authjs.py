"""The shipped credentials suite on Auth.js v5 env files (``AUTH_SECRET``, ``AUTH_URL``, rotation, trust-host),
resolved the way next-auth 5 resolves them, against a local Next.js-like site; each run is the real
``suites/credentials`` in a subprocess, read back from its summary JSON, and scanned for leaked values."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest

from opscheck.clients.protection import PROBE_PATH
from tests.support.credentials_run import (
    AUTH,
    ENV_VARS,
    EXPOSURE,
    INCIDENT,
    NO_REMOTE_DB,
    REUSE,
    ROTATION,
    Env,
    assert_no_leaks,
    assert_verdict,
    required,
    run_credentials,
    secret_rule,
    site_routes,
    token,
    url_rule,
    write_project,
)
from tests.support.servers import LocalHTTPServer, Route
from tests.support.suite_run import SuiteRun

UNAMBIGUOUS = "test_auth_secret_is_unambiguous"
SOURCE = "test_auth_url_source_is_pinned"
DB_URL = f"postgresql://app:{secrets.token_urlsafe(16)}@db.acme-corp.test/app?sslmode=verify-full"


@pytest.fixture(autouse=True)
def _not_protected() -> None:
    """The probe path is not among the site's routes: a 404, not Vercel's wall."""
    assert PROBE_PATH not in site_routes()


def auth_secret() -> str:
    """What ``npx auth secret`` writes: 32 random bytes, base64."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def dsn() -> str:
    return f"https://{secrets.token_hex(16)}@o1.ingest.sentry.io/4242"


def run_v5(
    pytester: pytest.Pytester,
    tmp_path: Path,
    dotenv: dict[str, str],
    *args: str,
    auth: dict[str, str] | None = None,
    site: LocalHTTPServer,
) -> SuiteRun:
    config = write_project(tmp_path, {"x": Env(site.url, dotenv=dotenv, auth=auth)})
    return run_credentials(pytester, config, tmp_path / "reports", "-k", NO_REMOTE_DB, *args)


def test_v5_env_file_passes_with_the_v5_required_names(pytester: pytest.Pytester, tmp_path: Path) -> None:
    secret = auth_secret()
    with LocalHTTPServer(site_routes()) as site:
        dotenv = {"DATABASE_URL": DB_URL, "AUTH_SECRET": secret, "AUTH_URL": site.url, "SENTRY_DSN": dsn()}
        run = run_v5(pytester, tmp_path, dotenv, site=site)

    assert run.result.ret == 0, run.output
    names = set(run.checks)
    assert {required("DATABASE_URL"), required("AUTH_SECRET"), required("SENTRY_DSN")} <= names
    assert not any("NEXTAUTH" in name for name in names), sorted(names)
    assert run.check(secret_rule("key-material"))["metrics"]["key_bytes"] == 32
    assert_verdict(run, UNAMBIGUOUS, "passed")
    assert run.check(UNAMBIGUOUS)["metrics"]["signing_secret"] == "AUTH_SECRET"
    assert_verdict(run, url_rule("host"), "passed")
    assert run.check(SOURCE)["metrics"]["auth_url_source"] == "AUTH_URL"
    assert_no_leaks(run, {"AUTH_SECRET": secret})


def test_old_explicit_v4_list_is_satisfied_by_the_v5_names_next_auth_reads(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    with LocalHTTPServer(site_routes()) as site:
        dotenv = {
            "DATABASE_URL": DB_URL,
            "AUTH_SECRET": auth_secret(),
            "AUTH_URL": site.url,
            "SENTRY_DSN": dsn(),
        }
        config = write_project(
            tmp_path,
            {"x": Env(site.url, dotenv=dotenv, required=["NEXTAUTH_SECRET", "NEXTAUTH_URL"])},
        )
        run = run_credentials(pytester, config, tmp_path / "reports", "-k", NO_REMOTE_DB)

    assert run.result.ret == 0, run.output
    secret_check = assert_verdict(run, required("NEXTAUTH_SECRET"), "passed")
    assert any("next-auth 5 reads AUTH_SECRET" in note for note in secret_check["notes"]), secret_check
    assert_verdict(run, required("NEXTAUTH_URL"), "passed")


def test_rotation_secrets_each_get_every_strength_rule_and_an_ignored_one_is_a_finding(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    weak, strong, main = "rotate-me-soon", auth_secret(), auth_secret()
    with LocalHTTPServer(site_routes()) as site:
        dotenv = {
            "DATABASE_URL": DB_URL,
            "AUTH_SECRET": main,
            "AUTH_SECRET_1": weak,
            "AUTH_SECRET_2": strong,
            "AUTH_URL": site.url,
            "SENTRY_DSN": dsn(),
        }
        run = run_v5(pytester, tmp_path, dotenv, site=site)

    assert run.result.ret == 1
    material = assert_verdict(
        run,
        secret_rule("key-material"),
        "failed",
        says=("AUTH_SECRET_1 [key-material]", "14 bytes"),
        section=AUTH,
    )
    assert "AUTH_SECRET_2" not in material["message"]
    assert_verdict(run, secret_rule("entropy"), "failed", says=("AUTH_SECRET_1",))
    assert_verdict(
        run,
        UNAMBIGUOUS,
        "failed",
        says=("AUTH_SECRET_1 and AUTH_SECRET_2 are set but ignored", "next-auth 5 passes AUTH_SECRET alone"),
        section=AUTH,
        severity="P1",
    )
    assert_no_leaks(run, {"AUTH_SECRET": main, "AUTH_SECRET_1": weak, "AUTH_SECRET_2": strong})


def test_rotation_without_auth_secret_signs_with_the_highest_number_and_satisfies_required(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    with LocalHTTPServer(site_routes()) as site:
        dotenv = {
            "DATABASE_URL": DB_URL,
            "AUTH_SECRET_1": auth_secret(),
            "AUTH_SECRET_2": auth_secret(),
            "AUTH_URL": site.url,
            "SENTRY_DSN": dsn(),
        }
        run = run_v5(pytester, tmp_path, dotenv, site=site)

    assert run.result.ret == 0, run.output
    assert run.check(UNAMBIGUOUS)["metrics"]["signing_secret"] == "AUTH_SECRET_2"
    assert any("verifies with AUTH_SECRET_1" in n for n in run.check(UNAMBIGUOUS)["notes"])
    assert_verdict(run, required("AUTH_SECRET"), "passed")


def test_auth_secret_and_nextauth_secret_with_different_values_is_a_finding(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    a, b = auth_secret(), auth_secret()
    with LocalHTTPServer(site_routes()) as site:
        dotenv = {"DATABASE_URL": DB_URL, "AUTH_SECRET": a, "NEXTAUTH_SECRET": b, "AUTH_URL": site.url}
        run = run_v5(pytester, tmp_path, dotenv, auth={"flavor": "v5"}, site=site)

    assert_verdict(
        run,
        UNAMBIGUOUS,
        "failed",
        says=("AUTH_SECRET and NEXTAUTH_SECRET hold different values", "next-auth 5 signs with AUTH_SECRET"),
        section=AUTH,
    )
    assert_no_leaks(run, {"AUTH_SECRET": a, "NEXTAUTH_SECRET": b})


@pytest.mark.parametrize(
    ("trust", "outcome", "says"),
    [
        ({"AUTH_TRUST_HOST": "true"}, "failed", "set AUTH_URL to the site's public URL"),
        ({"VERCEL": "1"}, "passed", ""),
        ({}, "failed", "every /api/auth request answers 500 (UntrustedHost)"),
    ],
    ids=["auth-trust-host", "vercel", "nothing"],
)
def test_which_url_source_the_app_uses_and_trusting_the_host_off_vercel(
    pytester: pytest.Pytester, tmp_path: Path, trust: dict[str, str], outcome: str, says: str
) -> None:
    with LocalHTTPServer(site_routes()) as site:
        dotenv = {"DATABASE_URL": DB_URL, "AUTH_SECRET": auth_secret(), "SENTRY_DSN": dsn(), **trust}
        run = run_v5(pytester, tmp_path, dotenv, site=site)

    check = assert_verdict(run, SOURCE, outcome, says=(says,) if says else (), section=AUTH if says else None)
    if trust.get("VERCEL"):
        assert check["metrics"]["auth_url_source"] == "the request's Host header (trusted because of VERCEL)"
    assert run.check(url_rule("host"))["outcome"] == "skipped"


def test_live_cookie_prefix_decides_the_flavour_when_names_do_not(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    routes = site_routes()
    routes["/api/auth/csrf"] = Route(
        body={"csrfToken": secrets.token_hex(32)},
        headers={
            "Set-Cookie": f"authjs.csrf-token={secrets.token_hex(32)}%7C{secrets.token_hex(32)}; Path=/; HttpOnly"
        },
    )
    with LocalHTTPServer(routes) as site:
        run = run_v5(pytester, tmp_path, {"DATABASE_URL": DB_URL, "SENTRY_DSN": dsn()}, site=site)

    # collected with next-auth 4's names (nothing local said otherwise); the live app says next-auth 5
    url = assert_verdict(run, required("NEXTAUTH_URL"), "skipped")
    assert "next-auth 5 does not need it" in url["message"]
    assert "authjs." in url["message"]
    assert_verdict(run, required("NEXTAUTH_SECRET"), "failed", says=("not set",), section=ENV_VARS)


def test_auth_flavor_setting_picks_the_required_names(pytester: pytest.Pytester, tmp_path: Path) -> None:
    with LocalHTTPServer(site_routes()) as site:
        config = write_project(
            tmp_path, {"x": Env(site.url, dotenv={"DATABASE_URL": DB_URL}, auth={"flavor": "v5"})}
        )
        run = run_credentials(pytester, config, tmp_path / "reports", "-k", "required")

    assert set(run.checks) == {required("DATABASE_URL"), required("AUTH_SECRET"), required("SENTRY_DSN")}


def test_exposure_scan_and_reuse_check_cover_rotation_secrets(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    leaked, shared = auth_secret(), auth_secret()
    with LocalHTTPServer(site_routes({leaked: "raw"})) as site:
        config = write_project(
            tmp_path,
            {
                "x": Env(
                    site.url,
                    dotenv={"AUTH_SECRET_2": leaked, "AUTH_SECRET_1": shared, "AUTH_URL": site.url},
                ),
                "staging": Env(
                    "https://staging.acme-corp.test", dotenv={"AUTH_SECRET": shared, "X": token()}
                ),
            },
        )
        run = run_credentials(pytester, config, tmp_path / "reports", "-k", "exposed or reused")

    assert_verdict(run, EXPOSURE, "failed", says=("AUTH_SECRET_2 (raw)",), section=INCIDENT, severity="P0")
    assert_verdict(
        run, REUSE, "failed", says=("AUTH_SECRET_1 is also staging's AUTH_SECRET",), section=ROTATION
    )
    assert_no_leaks(run, {"leaked": leaked, "shared": shared})
