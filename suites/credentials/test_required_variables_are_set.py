"""Environment Variables: every variable in credentials.required is set to a real value."""

import pytest

from opscheck.credentials import CredentialSource, enforce, required_finding


@pytest.mark.runbook("environment-variables", severity="P1")
def test_required_variable_is_set(variable: str, credential_source: CredentialSource) -> None:
    enforce(required_finding(variable, credential_source.get(variable)), origin=credential_source.origin)
