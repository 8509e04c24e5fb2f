"""Complete System Recovery: every role the backup needs is one the recovery procedure creates first.

Restored into a fresh server, a dump that says ``OWNER TO app_owner`` (or grants to a role, or has a
row-level security policy for one) fails with ``role "app_owner" does not exist`` unless that role is
created before loading. The drill creates them itself, so the data restore is still tested; this check
says which of them ``[restore] roles`` does not list, so nobody learns it during the outage.
"""

import pytest

from opscheck.errors import CheckFailed
from opscheck.restore.drill import Drill
from opscheck.restore.dumproles import undeclared_roles_advice
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("complete-system-recovery", severity="P1")
def test_restore_roles_are_declared(restore_drill: Drill, check: CheckRecord) -> None:
    restore_drill.record_metrics(check)
    needed, undeclared = restore_drill.roles()
    check.metric("roles_needed", needed)
    check.metric("roles_undeclared", undeclared)
    if undeclared:
        raise CheckFailed(
            f"roles the backup {restore_drill.backup().name} needs",
            "each listed in [restore] roles (the roles the recovery procedure creates before loading)",
            undeclared_roles_advice(undeclared, restore_drill.backup().format),
        )
