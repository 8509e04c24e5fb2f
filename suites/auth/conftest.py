"""Auth suite fixtures: the smoke user's sign-in, made once per run and shared by the checks that only read
it (session, cookies, protected paths); a check that cannot get one errors in setup, saying why."""

from __future__ import annotations

import pytest

from opscheck import run_state
from opscheck.auth.answers import SignInAttempt
from opscheck.auth.client import NextAuth
from opscheck.auth.rules import SignInControl
from opscheck.config import AuthSettings, Environment
from opscheck.errors import OpscheckError, SectionNotConfigured


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One check per configured protected path (a single skipping check when there are none)."""
    if "protected_path" not in metafunc.fixturenames:
        return
    ops = run_state(metafunc.config)
    paths: list[str] = []
    reason = "auth.protected_paths is empty: no path to check"
    if ops is not None and ops.environment is not None:
        try:
            paths = ops.environment.auth.protected_paths
        except OpscheckError as exc:  # e.g. [auth] not configured
            reason = str(exc)
    empty = pytest.mark.skip(reason=reason)
    params = [pytest.param(p, id=p) for p in paths] or [pytest.param(None, id="none", marks=empty)]
    metafunc.parametrize("protected_path", params)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "https_only: the check applies to https deployments only (skipped for an http base_url)"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip an ``https_only`` check for an http deployment before its fixtures sign anybody in."""
    if item.get_closest_marker("https_only") is None:
        return
    ops = run_state(item.config)
    if ops is None or ops.environment is None:
        return
    try:
        ops.environment.auth  # noqa: B018 - an unconfigured [auth] is the reason to give first
    except SectionNotConfigured as exc:
        pytest.skip(str(exc))
    if not ops.environment.is_https:
        pytest.skip(
            "applies to https deployments only: NextAuth sets Secure and the __Secure-/__Host- cookie "
            "prefixes when NEXTAUTH_URL is https; point an environment at the https URL to check them"
        )


@pytest.fixture
def auth(opscheck_env: Environment) -> AuthSettings:
    """The environment's ``[auth]`` settings; every auth check skips when they are not configured."""
    return opscheck_env.auth


@pytest.fixture(scope="session")
def sign_in_control(nextauth: NextAuth, opscheck_env: Environment) -> SignInControl:
    """The smoke user signed in once for the run: the negative canaries' positive control."""
    opscheck_env.auth  # noqa: B018 - skip when [auth] is not configured
    return SignInControl.run(nextauth)


@pytest.fixture(scope="session")
def smoke_sign_in(sign_in_control: SignInControl) -> SignInAttempt:
    """The smoke user's sign-in of the run (read-only checks share it; none signs it out)."""
    return sign_in_control.require()


@pytest.fixture
def fresh_sign_in(nextauth: NextAuth, auth: AuthSettings) -> SignInAttempt:
    """A sign-in of its own, for a check that ends it."""
    return nextauth.sign_in_attempt()
