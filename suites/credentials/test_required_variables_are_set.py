"""Environment Variables: every variable in credentials.required (default: the next-auth flavour's) is set to
a real value; for the auth secret and URL, the variable next-auth reads in its place counts."""

import pytest

from opscheck.auth.variables import SECRET_NAMES, URL_NAMES, required_variable_finding
from opscheck.config import Environment
from opscheck.credentials.findings import enforce
from opscheck.credentials.sources import CredentialSource
from opscheck.credentials.values import required_finding
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("environment-variables", severity="P1")
def test_required_variable_is_set(
    variable: str,
    credential_source: CredentialSource,
    opscheck_env: Environment,
    request: pytest.FixtureRequest,
    check: CheckRecord,
) -> None:
    if variable in (*SECRET_NAMES, *URL_NAMES):
        finding = required_variable_finding(
            variable,
            credential_source.values,
            request.getfixturevalue("auth_flavor"),
            from_defaults=not opscheck_env.credentials.is_set("required"),
            base_url=opscheck_env.base_url,
        )
    else:
        finding = required_finding(variable, credential_source.get(variable))
    enforce(finding, check, origin=credential_source.origin)
