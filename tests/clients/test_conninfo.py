"""opscheck connects to what the configured connection string says: never to what PG* variables name.

Tried against a real PostgreSQL with ``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER`` and ``PGPASSWORD``
pointing at a database of its own: left to itself, libpq would complete an empty or partial URL with them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg.conninfo import conninfo_to_dict

from opscheck.clients.conninfo import connection_string_problem, isolated_conninfo
from opscheck.clients.postgres import connect_readonly
from opscheck.errors import CheckFailed, ConfigError, TargetUnreachable
from opscheck.restore.servers.local import LocalCluster

#: the database the PG* variables name: opscheck must never end up there unless the URL says so
DECOY = "pg_env_decoy"


@pytest.fixture(scope="module")
def decoy_url(pg_cluster: LocalCluster) -> Iterator[str]:
    pg_cluster.create_database(DECOY)
    yield pg_cluster.dsn(dbname=DECOY)
    pg_cluster.drop_database(DECOY)


@pytest.fixture
def pg_env_names_the_decoy(decoy_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every PG* variable a CI runner might carry, set to reach the decoy database."""
    params = conninfo_to_dict(decoy_url)
    variables = {
        "PGHOST": str(params["host"]),
        "PGPORT": str(params["port"]),
        "PGDATABASE": DECOY,
        "PGUSER": str(params["user"]),
        "PGPASSWORD": str(params["password"]),
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PGSERVICE", raising=False)
    return variables


def test_the_pg_variables_really_reach_the_decoy_when_libpq_is_left_alone(
    pg_env_names_the_decoy: dict[str, str],
) -> None:
    """The fault is real here: plain libpq, given ``postgresql://``, connects to the decoy."""
    import psycopg

    with psycopg.connect("postgresql://", connect_timeout=5) as conn:
        assert conn.info.dbname == DECOY


@pytest.mark.parametrize("url", ["postgresql://", "postgresql:///", "host=''"])
def test_a_url_that_names_nothing_never_reaches_the_database_pg_variables_name(
    pg_env_names_the_decoy: dict[str, str], url: str
) -> None:
    with pytest.raises((TargetUnreachable, CheckFailed)):
        connect_readonly(url, timeout_s=3).close()


def test_a_url_without_password_does_not_borrow_pgpassword(
    pg_env_names_the_decoy: dict[str, str], pg_cluster: LocalCluster
) -> None:
    without_password = pg_cluster.dsn(dbname=DECOY, password="")
    assert ":" not in without_password.split("@")[0].removeprefix("postgresql://")
    with pytest.raises(CheckFailed, match=r"no password supplied|password authentication failed"):
        connect_readonly(without_password, timeout_s=3).close()


def test_a_complete_url_connects_where_it_says_whatever_the_pg_variables_say(
    pg_env_names_the_decoy: dict[str, str], pg_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGDATABASE", "no_such_database")
    monkeypatch.setenv("PGSSLMODE", "require")  # the throwaway cluster has no TLS: libpq would refuse
    conn = connect_readonly(pg_cluster.dsn(dbname="postgres"), timeout_s=5)
    try:
        assert conn.info.dbname == "postgres"
    finally:
        conn.close()


def test_a_pg_variable_named_in_the_url_is_used(
    pg_env_names_the_decoy: dict[str, str], pg_cluster: LocalCluster
) -> None:
    """How a user asks for a PG* variable: by naming it (here resolved as a ``${PGPASSWORD}`` would be)."""
    url = pg_cluster.dsn(dbname=DECOY, password=pg_env_names_the_decoy["PGPASSWORD"])
    conn = connect_readonly(url, timeout_s=5)
    try:
        assert conn.info.dbname == DECOY
    finally:
        conn.close()


def test_pgservice_in_the_environment_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSERVICE", "reporting")
    with pytest.raises(ConfigError, match="PGSERVICE is set in the environment"):
        isolated_conninfo("postgresql://ro@db.internal/app")
    monkeypatch.delenv("PGSERVICE")
    assert "service" not in conninfo_to_dict(isolated_conninfo("postgresql://ro@db.internal/app"))


def test_only_parameters_the_url_leaves_out_are_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "elsewhere")
    monkeypatch.setenv("PGSSLMODE", "disable")
    monkeypatch.delenv("PGPORT", raising=False)
    params = conninfo_to_dict(isolated_conninfo("postgresql://ro@db.internal/app?sslmode=verify-full"))
    assert params["host"] == "db.internal"
    assert params["sslmode"] == "verify-full"
    assert "port" not in params  # no PGPORT here: nothing to pin


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://app:pa/ss@db.internal/app", "port"),  # a "/" in the password ends the host part
        ("postgresql://app:secret@db.internal:notaport/app", "port"),
        ("not a connection string", "cannot parse"),
        ("mysql://db.internal/app", "cannot parse"),
    ],
)
def test_a_malformed_connection_string_is_described_without_quoting_it(url: str, problem: str) -> None:
    said = connection_string_problem(url)
    assert said is not None
    assert problem in said
    assert "pa/ss" not in said
    assert "secret" not in said


@pytest.mark.parametrize(
    "url",
    ["postgresql://app:p%2Fs@db.internal:5432/app", "postgres://h1:5432,h2:5433/db", "host=db dbname=app"],
)
def test_well_formed_connection_strings_have_no_problem(url: str) -> None:
    assert connection_string_problem(url) is None
