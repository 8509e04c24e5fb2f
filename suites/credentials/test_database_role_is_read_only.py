"""Database Role Privileges: the role opscheck reads the database with (``database.url``) cannot write.

The ``db`` fixture refuses writes whatever a check sends, but that is a guard against accidents: a
database role that can only read is the real guarantee that a check never changes production. Severity
P3: it fails the default gate and is listed as a warning ("below gate") under a P0-P2 gate.
"""

import pytest

from opscheck.clients.readonly_db import ReadOnlyDatabase, write_privileges
from opscheck.errors import CheckFailed


@pytest.mark.runbook("database-role-privileges", severity="P3")
def test_opscheck_database_role_is_read_only(db: ReadOnlyDatabase) -> None:
    found = write_privileges(db)
    if found:
        raise CheckFailed(
            "the role of database.url (the one opscheck's db fixture uses)",
            "a role that can only read (SELECT and USAGE grants, no CREATE, not a superuser)",
            "; ".join(found),
        )
