"""What to tell an operator whose backup needs roles the recovery procedure does not create."""

from __future__ import annotations

from opscheck.restore.servers.base import ident

__all__ = ["undeclared_roles_advice"]


def undeclared_roles_advice(roles: list[str], backup_format: str) -> str:
    """Names every role, then the two ways out: create them first, or restore without owners and grants."""
    listed = ", ".join(repr(role) for role in roles)
    create = " ".join(f"CREATE ROLE {ident(role)} NOLOGIN;" for role in roles)
    skip = (
        "pg_restore --no-owner --no-acl"
        if backup_format == "custom"
        else "a pg_dump --no-owner --no-acl dump"
    )
    return (
        f"{len(roles)} role(s) not in [restore] roles: {listed}. A fresh server fails the restore with "
        f"'role does not exist' unless (1) they are created first: `{create}`, then listed in [restore] "
        f"roles; or (2) it restores with {skip}: objects then belong to the restoring user, GRANTs are lost, "
        "policies naming these roles still fail"
    )
