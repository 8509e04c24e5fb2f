"""The ``db`` fixture cannot be switched out of read-only mode by the check that uses it.

Each bypass a check could try (``SET TRANSACTION READ WRITE``, ``SET default_transaction_read_only = off``,
``RESET ALL``, ``BEGIN READ WRITE``, ``COMMIT`` first, several statements in one ``execute``, a procedure or
``DO`` block that commits, psycopg's own ``autocommit``/``read_only``/``set_session``...) is tried by a real
check, through the real fixture, against a real PostgreSQL whose login role *can* write; afterwards a
superuser counts the rows of the target table: none may have been written.
"""

from __future__ import annotations

import psycopg
import pytest

from opscheck.clients.postgres import connect_readonly
from opscheck.clients.readonly_db import ReadOnlyDatabase, write_privileges
from opscheck.errors import TargetUnreachable
from tests.support.project import run_project, staging_and_production_config

INSERT = "INSERT INTO guarded (note) VALUES ('written')"

#: (id, the statements of one attempt: each string is one ``db.execute`` call)
BYPASSES = [
    ("set-transaction-read-write", [f"SET TRANSACTION READ WRITE; {INSERT}"]),
    ("set-transaction-then-insert", ["SET TRANSACTION READ WRITE", INSERT]),
    ("default-read-only-off", [f"SET default_transaction_read_only = off; {INSERT}"]),
    ("default-read-only-off-then-insert", ["SET default_transaction_read_only = off", INSERT]),
    ("set-config-session", ["SELECT set_config('default_transaction_read_only', 'off', false)", INSERT]),
    ("set-config-transaction", [f"SELECT set_config('transaction_read_only', 'off', true); {INSERT}"]),
    ("set-config-transaction-alone", ["SELECT set_config('transaction_read_only', 'off', true)", INSERT]),
    ("reset-all", [f"RESET ALL; {INSERT}"]),
    ("reset-all-then-insert", ["RESET ALL", INSERT]),
    ("reset-transaction-read-only", ["RESET transaction_read_only", INSERT]),
    ("session-characteristics", ["SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", INSERT]),
    ("begin-read-write", [f"BEGIN READ WRITE; {INSERT}; COMMIT"]),
    ("begin-read-write-then-insert", ["BEGIN READ WRITE", INSERT, "COMMIT"]),
    ("commit-first", [f"COMMIT; BEGIN READ WRITE; {INSERT}; COMMIT"]),
    ("commit-then-insert", ["COMMIT", "SET TRANSACTION READ WRITE", INSERT, "COMMIT"]),
    ("rollback-and-chain", ["ROLLBACK AND CHAIN", "SET TRANSACTION READ WRITE", INSERT]),
    ("savepoint", ["SAVEPOINT s", "SET TRANSACTION READ WRITE", INSERT]),
    ("writable-cte", [f"WITH w AS ({INSERT} RETURNING 1) SELECT * FROM w"]),  # noqa: S608 - a constant
    ("do-block-commits", [f"DO $$ BEGIN COMMIT; SET TRANSACTION READ WRITE; {INSERT}; COMMIT; END $$"]),
    ("procedure-commits", ["CALL sneaky_write()"]),
    ("set-role", ["SET ROLE NONE", f"SET SESSION AUTHORIZATION DEFAULT; {INSERT}"]),
]

#: psycopg's own switches, tried on the fixture object itself
PYTHON_TRICKS = [
    "db.autocommit = True",
    "db.read_only = False",
    "db.set_read_only(False)",
    "db.set_autocommit(True)",
    "db.set_session(readonly=False, autocommit=True)",
    "db.pgconn.exec_(b'SET TRANSACTION READ WRITE; " + INSERT.replace("'", "\\'") + "')",
    'db.connection.execute("' + INSERT + '")',
    'db.cursor().connection.execute("' + INSERT + '")',
    'db.execute("' + INSERT + '", prepare=False)',
    "db.transaction()",
]

CHECK = """
import pytest

BYPASSES = {bypasses!r}
TRICKS = {tricks!r}


@pytest.mark.runbook("database-connection-errors", severity="P0")
@pytest.mark.parametrize("statements", [s for _, s in BYPASSES], ids=[i for i, _ in BYPASSES])
def test_bypass(db, statements):
    for statement in statements:
        try:
            db.execute(statement)
        except Exception as exc:
            print("refused:", statement, "->", type(exc).__name__, exc)
        else:
            print("accepted:", statement)
    db.commit()


@pytest.mark.runbook("database-connection-errors", severity="P0")
@pytest.mark.parametrize("trick", TRICKS)
def test_python_trick(db, trick):
    try:
        exec(trick, {{"db": db}})
    except Exception as exc:
        print("refused:", trick, "->", type(exc).__name__)
    try:
        db.execute("{insert}")
    except Exception as exc:
        print("insert refused after", trick, "->", type(exc).__name__)
    db.commit()
"""


@pytest.fixture
def writable(pg_cluster, pg_database: str) -> str:  # type: ignore[no-untyped-def]
    """A table and a login role that may write to it (so only the fixture stands in the way)."""
    dbname = pg_database.rsplit("/", 1)[1].split("?", maxsplit=1)[0]
    setup = f"""
        CREATE TABLE guarded (id serial PRIMARY KEY, note text);
        DO $$ BEGIN CREATE ROLE ro_writer LOGIN PASSWORD 'ro-writer-pw';
        EXCEPTION WHEN duplicate_object THEN NULL; END $$;
        GRANT ALL ON guarded TO ro_writer;
        GRANT ALL ON SEQUENCE guarded_id_seq TO ro_writer;
        GRANT CREATE ON SCHEMA public TO ro_writer;
        CREATE PROCEDURE sneaky_write() LANGUAGE plpgsql SECURITY INVOKER AS $p$
        BEGIN COMMIT; SET TRANSACTION READ WRITE; {INSERT}; COMMIT; END $p$;
        GRANT EXECUTE ON PROCEDURE sneaky_write() TO ro_writer;
    """
    proc = pg_cluster.psql("-q", "-c", setup, dbname=dbname)
    assert proc.returncode == 0, proc.stderr
    return str(pg_cluster.dsn(user="ro_writer", password="ro-writer-pw", dbname=dbname))


def rows_written(superuser_dsn: str) -> int:
    with psycopg.connect(superuser_dsn, connect_timeout=10) as conn:
        row = conn.execute("SELECT count(*) FROM guarded").fetchone()
    assert row is not None
    return int(row[0])


def test_the_role_can_write_without_the_fixture(writable: str, pg_database: str) -> None:
    """The control: the same role, on a plain connection, does write; so the fixture is what stops it."""
    with psycopg.connect(writable, connect_timeout=10) as conn:
        conn.execute(INSERT)
    assert rows_written(pg_database) == 1


def test_no_bypass_writes_a_row_through_the_db_fixture(
    pytester: pytest.Pytester, writable: str, pg_database: str
) -> None:
    staging_and_production_config(pytester, database={"url": writable})
    pytester.makepyfile(test_bypasses=CHECK.format(bypasses=BYPASSES, tricks=PYTHON_TRICKS, insert=INSERT))
    result = run_project(pytester, "--env", "staging", "-s", "-p", "no:randomly")
    output = result.stdout.str()
    assert rows_written(pg_database) == 0, output
    assert "accepted: " + INSERT not in output
    assert output.count("refused:") >= len(BYPASSES), output


def test_reads_work_and_leave_the_session_read_only(writable: str, pg_database: str) -> None:
    with ReadOnlyDatabase(connect_readonly(writable, timeout_s=5)) as db:
        assert db.execute("SELECT %s::int + 1", (41,)).fetchone() == (42,)
        with db.cursor() as cursor:
            rows = cursor.execute("SELECT generate_series(1, 3)").fetchall()
        assert rows == [(1,), (2,), (3,)]
        assert db.execute("SHOW transaction_read_only").fetchone() == ("on",)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            db.execute(INSERT)
        with pytest.raises(psycopg.errors.SyntaxError, match="multiple commands"):
            db.execute("SELECT 1; SELECT 2")
        assert db.execute("SELECT 1").fetchall() == [(1,)], "usable after an error"
    assert rows_written(pg_database) == 0


def test_write_privileges_name_what_the_role_could_change(writable: str) -> None:
    with ReadOnlyDatabase(connect_readonly(writable, timeout_s=5)) as db:
        found = write_privileges(db)
    text = "; ".join(found)
    assert "INSERT" in text, found
    assert "public.guarded" in text, found
    assert "CREATE in schema public" in text, found
    assert "ro_writer" not in text, "the role's own name is never echoed"


def test_a_read_only_role_has_no_write_privileges(pg_cluster, pg_database: str) -> None:  # type: ignore[no-untyped-def]
    dbname = pg_database.rsplit("/", 1)[1].split("?", maxsplit=1)[0]
    setup = """
        CREATE TABLE visible (id int);
        DO $$ BEGIN CREATE ROLE ro_reader LOGIN PASSWORD 'ro-reader-pw';
        EXCEPTION WHEN duplicate_object THEN NULL; END $$;
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
        GRANT SELECT ON visible TO ro_reader;
    """
    proc = pg_cluster.psql("-q", "-c", setup, dbname=dbname)
    assert proc.returncode == 0, proc.stderr
    url = pg_cluster.dsn(user="ro_reader", password="ro-reader-pw", dbname=dbname)
    with ReadOnlyDatabase(connect_readonly(url, timeout_s=5)) as db:
        assert write_privileges(db) == []


def test_an_unreachable_database_is_an_error() -> None:
    with pytest.raises(TargetUnreachable):
        connect_readonly("postgresql://nobody@127.0.0.1:1/x", timeout_s=2)
