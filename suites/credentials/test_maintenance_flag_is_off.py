"""Scheduled Maintenance: MAINTENANCE_MODE is absent or false in production."""

import pytest

from opscheck.config import Environment
from opscheck.credentials.findings import enforce
from opscheck.credentials.sources import CredentialSource
from opscheck.credentials.values import maintenance_mode_finding


@pytest.mark.runbook("scheduled-maintenance", severity="P1")
def test_maintenance_flag_is_off(credential_source: CredentialSource, opscheck_env: Environment) -> None:
    flag = credential_source.get("MAINTENANCE_MODE")
    enforce(
        maintenance_mode_finding(flag, production=opscheck_env.production), origin=credential_source.origin
    )
