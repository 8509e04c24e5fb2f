"""Authentication Issues (P1): /api/auth/providers lists every provider users sign in with."""

import pytest

from opscheck.auth.client import NextAuth
from opscheck.config import AuthSettings
from opscheck.errors import CheckFailed
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("authentication-issues", severity="P1")
def test_providers_list_every_expected_provider(
    nextauth: NextAuth, auth: AuthSettings, check: CheckRecord
) -> None:
    providers = nextauth.providers()
    check.metric("providers", sorted(providers))
    missing = [p for p in auth.expected_providers if p not in providers]
    if missing:
        raise CheckFailed(
            f"GET {nextauth.where('providers')}",
            f"providers {', '.join(auth.expected_providers)}",
            f"{', '.join(sorted(providers)) or 'none'} (missing: {', '.join(missing)})",
        )
