"""The credentials suite warns (P3) when the role opscheck reads the database with can write: against a
real PostgreSQL, with a role that can write and with one that can only read."""

from __future__ import annotations

from pathlib import Path

import pytest

from opscheck.restore.servers.local import LocalCluster
from tests.support.suite_run import REPO, run_suite, write_opscheck_toml

CHECK = "test_opscheck_database_role_is_read_only"
ROLES = """
    CREATE TABLE orders (id int);
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    DO $$ BEGIN CREATE ROLE cred_writer LOGIN PASSWORD 'cred-writer-pw-Hq3';
    EXCEPTION WHEN duplicate_object THEN NULL; END $$;
    DO $$ BEGIN CREATE ROLE cred_reader LOGIN PASSWORD 'cred-reader-pw-Wd8';
    EXCEPTION WHEN duplicate_object THEN NULL; END $$;
    GRANT SELECT, INSERT, UPDATE ON orders TO cred_writer;
    GRANT SELECT ON orders TO cred_reader;
"""


@pytest.fixture
def roles(pg_cluster: LocalCluster, pg_database: str) -> dict[str, str]:
    dbname = pg_database.rsplit("/", 1)[1].split("?", maxsplit=1)[0]
    proc = pg_cluster.psql("-q", "-c", ROLES, dbname=dbname)
    assert proc.returncode == 0, proc.stderr
    return {
        "writer": pg_cluster.dsn(user="cred_writer", password="cred-writer-pw-Hq3", dbname=dbname),
        "reader": pg_cluster.dsn(user="cred_reader", password="cred-reader-pw-Wd8", dbname=dbname),
    }


def run_check(pytester: pytest.Pytester, tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> dict:  # type: ignore[type-arg]
    config = write_opscheck_toml(tmp_path, database={"url": url})
    run = run_suite(pytester, REPO / "suites" / "credentials", config, tmp_path / "reports", "-k", CHECK)
    check: dict = run.check(CHECK)  # type: ignore[type-arg]
    text = run.all_text()
    assert "cred-writer-pw" not in text
    assert "cred-reader-pw" not in text
    return check


def test_a_role_that_can_write_is_reported_at_p3(
    pytester: pytest.Pytester, tmp_path: Path, roles: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    check = run_check(pytester, tmp_path, roles["writer"], monkeypatch)
    assert check["outcome"] == "failed", check
    assert check["severity"] == "P3"
    assert "INSERT, UPDATE on 1 table(s), e.g. public.orders" in check["message"], check["message"]
    assert "cred_writer" not in check["message"]


def test_a_read_only_role_passes(
    pytester: pytest.Pytester, tmp_path: Path, roles: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    check = run_check(pytester, tmp_path, roles["reader"], monkeypatch)
    assert check["outcome"] == "passed", check
