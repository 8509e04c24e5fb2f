"""Credentials suite fixtures: the environment's variables (read once per run), the next-auth flavour they
are read by, and the environment's AWS access."""

from __future__ import annotations

import pytest

from opscheck import run_state
from opscheck.auth.variables import (
    FlavorChoice,
    choose_flavor,
    configured_flavor,
    live_flavor,
    required_names,
)
from opscheck.config import ConfigFile, Environment
from opscheck.credentials.aws import AwsAccess
from opscheck.credentials.sources import CredentialSource, load_source
from opscheck.errors import CheckFailed, OpscheckError, TargetUnreachable


def _required_at_collection(env: Environment) -> list[str]:
    """``credentials.required``, else the defaults of the flavour that the config or the variables' names
    say (no network at collection; v4's names when undecided, resolved against the live app later)."""
    credentials = env.credentials
    if credentials.is_set("required"):
        return credentials.required
    try:
        names = list(load_source(credentials).values)
    except OpscheckError:
        names = []
    return required_names(None, choose_flavor(configured_flavor(env), names).flavor)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One check per name in ``credentials.required``."""
    if "variable" not in metafunc.fixturenames:
        return
    ops = run_state(metafunc.config)
    names: list[str] = []
    if ops is not None and ops.environment is not None:
        try:
            names = _required_at_collection(ops.environment)
        except OpscheckError:
            names = []
    if not names:
        skip = pytest.mark.skip(reason="credentials.required lists no variables")
        metafunc.parametrize("variable", [pytest.param("", marks=skip, id="none")])
        return
    metafunc.parametrize("variable", names, ids=names)


@pytest.fixture(scope="session")
def credential_source(opscheck_env: Environment) -> CredentialSource:
    """The environment's variables: ``credentials.env_file`` if set, else the process environment."""
    return load_source(opscheck_env.credentials)


@pytest.fixture(scope="session")
def auth_flavor(opscheck_env: Environment, credential_source: CredentialSource) -> FlavorChoice:
    """next-auth 4 or 5: ``auth.flavor``, else the variables' names, else the live app's cookie prefix."""
    return choose_flavor(
        configured_flavor(opscheck_env), credential_source.values, lambda: live_flavor(opscheck_env)
    )


@pytest.fixture(scope="session")
def opscheck_config(pytestconfig: pytest.Config) -> ConfigFile:
    """The loaded configuration file, with every environment (for comparisons across environments)."""
    ops = run_state(pytestconfig)
    if ops is None or ops.config_file is None:
        raise pytest.UsageError("no opscheck configuration is loaded")
    return ops.config_file


@pytest.fixture(scope="session")
def aws_access(opscheck_env: Environment, credential_source: CredentialSource) -> AwsAccess:
    """The AWS credentials and the backup bucket of ``[backups]`` (skips unless it is in S3)."""
    location = opscheck_env.backups.location.strip()
    if not location.startswith("s3://"):
        pytest.skip(f"backups.location {location!r} is not in S3: no AWS credentials to check")
    return AwsAccess.for_environment(opscheck_env, credential_source)


@pytest.fixture
def accepted_aws(aws_access: AwsAccess) -> AwsAccess:
    """``aws_access`` once STS accepted its credentials; the check is skipped when it did not (the
    credentials check fails then) and goes ahead when the endpoint has no STS."""
    try:
        aws_access.caller_identity()
    except (CheckFailed, TargetUnreachable):
        pytest.skip("the AWS credentials were not verified (see test_aws_credentials_are_accepted)")
    except pytest.skip.Exception:
        pass
    return aws_access
