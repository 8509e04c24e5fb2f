"""Security Incident (P0): no secret value, raw or base64, is in the site's public HTML or JavaScript."""

import pytest

from opscheck.clients.http import OpsClient
from opscheck.config import Environment
from opscheck.credentials.exposure import exposure_finding
from opscheck.credentials.findings import enforce
from opscheck.credentials.sources import CredentialSource
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("security-incident", severity="P0")
def test_secrets_are_not_exposed(
    http: OpsClient, credential_source: CredentialSource, opscheck_env: Environment, check: CheckRecord
) -> None:
    pages = ["/", *opscheck_env.smoke.pages]
    enforce(exposure_finding(http, pages, credential_source.values), check, credential_source.origin)
