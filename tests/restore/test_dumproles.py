"""The role scanner on the statement lines pg_dump writes (pure logic: no server needed)."""

from __future__ import annotations

import pytest

from opscheck.restore.dumproles import roles_in_statement


@pytest.mark.parametrize(
    ("line", "roles"),
    [
        ("ALTER TABLE app.orders OWNER TO app_owner;", {"app_owner"}),
        ('ALTER SCHEMA "Sales" OWNER TO "Corpus Auditor";', {"Corpus Auditor"}),
        ("ALTER LARGE OBJECT 16758 OWNER TO corpus_owner;", {"corpus_owner"}),
        ("GRANT SELECT ON TABLE app.orders TO r WITH GRANT OPTION;", {"r"}),
        ('GRANT SELECT,INSERT ON TABLE t TO a, "B b" WITH GRANT OPTION GRANTED BY g;', {"a", "B b", "g"}),
        ('GRANT SELECT(id) ON TABLE "to"."TO x" TO reader;', {"reader"}),
        ("REVOKE ALL ON TABLE t FROM app_owner;", {"app_owner"}),
        ("REVOKE GRANT OPTION FOR SELECT ON t FROM x GRANTED BY y CASCADE;", {"x", "y"}),
        (
            'ALTER DEFAULT PRIVILEGES FOR ROLE a IN SCHEMA "S" GRANT SELECT ON TABLES  TO b;',
            {"a", "b"},
        ),
        ("ALTER DEFAULT PRIVILEGES FOR ROLE a REVOKE ALL ON FUNCTIONS  FROM PUBLIC;", {"a"}),
        (
            'CREATE POLICY p ON app.t FOR SELECT TO reader, "Corpus Auditor" USING (true);',
            {"reader", "Corpus Auditor"},
        ),
        ("CREATE POLICY p ON t TO PUBLIC USING ((owner = CURRENT_USER));", set()),
        ("ALTER POLICY p ON t TO w USING (x > 0);", {"w"}),
        ("SET SESSION AUTHORIZATION corpus_grantor;", {"corpus_grantor"}),
        ("SET SESSION AUTHORIZATION 'quoted''s';", {"quoted's"}),
        ("SET ROLE reporting;", {"reporting"}),
        ("SET ROLE NONE;", set()),
        ('GRANT "rôle_données" TO app;', {"rôle_données", "app"}),
        (
            "GRANT reporting, auditing TO app WITH ADMIN OPTION GRANTED BY boss;",
            {"reporting", "auditing", "app", "boss"},
        ),
        ("REVOKE ADMIN OPTION FOR reporting FROM app;", {"reporting", "app"}),
        ("GRANT USAGE ON SCHEMA public TO postgres, pg_read_all_data, CURRENT_ROLE;", set()),
        ("ALTER TABLE ONLY t ALTER COLUMN owner SET DEFAULT 1;", set()),
        ("ALTER TABLE t OWNER TO Mixed;", {"mixed"}),
    ],
)
def test_roles_in_statement(line: str, roles: set[str]) -> None:
    assert roles_in_statement(line) == roles
