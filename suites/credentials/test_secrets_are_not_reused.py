"""Credential Rotation: no secret value is shared with another environment (compared by hash only)."""

import pytest

from opscheck.config import ConfigFile, Environment
from opscheck.credentials.findings import enforce
from opscheck.credentials.reuse import find_reuse
from opscheck.credentials.sources import CredentialSource
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("credential-rotation", severity="P2")
def test_secrets_are_not_reused(
    credential_source: CredentialSource,
    opscheck_env: Environment,
    opscheck_config: ConfigFile,
    check: CheckRecord,
) -> None:
    reuse = find_reuse(opscheck_config, opscheck_env.name, credential_source)
    enforce(reuse.finding(), check, credential_source.origin)
