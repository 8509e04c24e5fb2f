"""Monitoring: SENTRY_DSN is a well-formed DSN without a legacy secret key."""

import pytest

from opscheck.credentials.findings import enforce
from opscheck.credentials.sources import CredentialSource
from opscheck.credentials.values import SENTRY_DSN_RULES, sentry_dsn_finding


@pytest.mark.runbook("3-monitoring", severity="P2")
@pytest.mark.parametrize("rule", SENTRY_DSN_RULES)
def test_sentry_dsn_is_valid(rule: str, credential_source: CredentialSource) -> None:
    dsn = credential_source.value("SENTRY_DSN")
    enforce(sentry_dsn_finding(rule, dsn), origin=credential_source.origin)
