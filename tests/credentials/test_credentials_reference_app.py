"""The exposure check against the real reference app: its ``leak-secret`` fault mode puts a secret into the
public HTML (the classic ``NEXT_PUBLIC_`` mistake), and the credentials suite must catch it as a P0."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpcore  # noqa: F401  (kept loaded: pytester's module snapshot would re-import it under httpx)
import pytest

from opscheck.demo.process import free_port
from opscheck.demo.reference_app import ReferenceApp
from opscheck.restore.servers.local import LocalCluster
from tests.support.suite_run import REPO, run_suite, write_opscheck_toml

pytestmark = pytest.mark.xdist_group("reference-app")

APP_DIR = REPO / "examples" / "nextjs-app"
CREDENTIALS_SUITE = REPO / "suites" / "credentials"
EXPOSURE = "test_secrets_are_not_exposed"


@pytest.fixture(scope="module")
def database_url(pg_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ReferenceApp(APP_DIR, tmp_path_factory.mktemp("build-logs")).ensure_built()
    name = f"leakapp_{secrets.token_hex(4)}"
    pg_cluster.create_database(name)
    pg_cluster.run_sql_file(APP_DIR / "db" / "schema.sql", dbname=name)
    try:
        yield pg_cluster.dsn(dbname=name)
    finally:
        pg_cluster.drop_database(name)


def _exposure_outcome(
    pytester: pytest.Pytester, tmp_path: Path, database_url: str, fault: str
) -> tuple[str, dict[str, object], str, str]:
    """Start the app (optionally in ``fault`` mode) and run the exposure check: (outcome, check, output, secret)."""
    nextauth_secret = secrets.token_urlsafe(32)
    port = free_port()
    app = ReferenceApp(APP_DIR, tmp_path / "app")
    app.log_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "DATABASE_URL": database_url,
        "NEXTAUTH_SECRET": nextauth_secret,
        "NEXTAUTH_URL": f"http://127.0.0.1:{port}",
        "SMOKE_PASSWORD": secrets.token_urlsafe(12),
        "OPSCHECK_APP_FAULT": fault,
        "LEAK_VALUE": nextauth_secret,
    }
    try:
        base_url = app.start(env, port)
        env_file = tmp_path / "app.env"
        env_file.write_text(f'NEXTAUTH_SECRET="{nextauth_secret}"\nDATABASE_URL="{database_url}"\n')
        config = write_opscheck_toml(
            tmp_path,
            base_url=base_url,
            top={"timeout_s": 5},
            credentials={"env_file": str(env_file), "required": ["NEXTAUTH_SECRET"]},
        )
        run = run_suite(pytester, CREDENTIALS_SUITE, config, tmp_path / "reports", "-k", EXPOSURE)
    finally:
        app.stop()
    check = run.check(EXPOSURE)
    return str(check["outcome"]), check, run.all_text(), nextauth_secret


def test_the_apps_leak_fault_mode_is_caught_as_a_p0_security_incident(
    pytester: pytest.Pytester, tmp_path: Path, database_url: str
) -> None:
    outcome, check, output, leaked = _exposure_outcome(pytester, tmp_path, database_url, "leak-secret")
    assert outcome == "failed"
    assert check["severity"] == "P0"
    assert check["runbook_section"] == "Security Incident"
    assert "NEXTAUTH_SECRET" in str(check["message"])
    assert leaked not in output  # the finding names the variable, never the value


def test_the_app_without_the_fault_exposes_nothing(
    pytester: pytest.Pytester, tmp_path: Path, database_url: str
) -> None:
    outcome, _check, output, secret = _exposure_outcome(pytester, tmp_path, database_url, "")
    assert outcome == "passed"
    assert secret not in output
