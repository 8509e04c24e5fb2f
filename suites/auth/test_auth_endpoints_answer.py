"""Authentication Issues (P1): NextAuth's endpoints answer without server errors. A deployment without
NEXTAUTH_SECRET (v5: AUTH_SECRET), or with a configuration NextAuth refuses, answers 500 on every auth
endpoint, and nobody can sign in. The advice depends on whether the secret is known to be set
(``credentials.env_file``): a secret that is set is never the advice."""

import pytest

from opscheck.auth.advice import deployment_secret_set
from opscheck.auth.client import NextAuth
from opscheck.auth.rules import expect_endpoints_healthy
from opscheck.config import AuthSettings, Environment
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("authentication-issues", severity="P1")
def test_auth_endpoints_answer_without_server_errors(
    nextauth: NextAuth, auth: AuthSettings, opscheck_env: Environment, check: CheckRecord
) -> None:
    statuses = nextauth.endpoint_statuses(["csrf", "providers", "session"])
    expect_endpoints_healthy(
        statuses, check, nextauth.flavor, deployment_secret_set(opscheck_env, nextauth.flavor)
    )
