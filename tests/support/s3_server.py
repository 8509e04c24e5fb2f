"""Session fixtures for a real S3 endpoint on 127.0.0.1 (``moto_server``; see ``tests.support.moto``).

* ``s3_server`` (session): the endpoint URL of a permissive moto (any credentials are accepted);
* ``s3_iam_server`` (session): a second moto started with ``INITIAL_NO_AUTH_ACTION_COUNT=0``, which
  checks signatures and IAM policies like AWS does (lift it for setup with ``auth_disabled()``);
* ``aws_env`` (function): test credentials in the environment, no shared config files and no instance
  metadata lookups, so boto3's standard chain finds exactly these and never leaves 127.0.0.1.

Use from a test module with ``pytest_plugins = ["tests.support.s3_server"]``; import helpers and
constants from ``tests.support.moto``. Both servers are always stopped, also when a test fails.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.moto import TEST_ACCESS_KEY, TEST_SECRET_KEY, MotoServer, moto_executable, running_moto

__all__ = ["aws_env", "s3_iam_server", "s3_server"]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """Endpoint URL of a permissive moto S3 on 127.0.0.1 for the whole session."""
    if moto_executable() is None:
        pytest.skip("moto_server is not installed: pip install 'moto[server]'")
    with running_moto() as server:
        yield server.endpoint


@pytest.fixture(scope="session")
def s3_iam_server() -> Iterator[MotoServer]:
    """A moto that enforces signatures and IAM policies (INITIAL_NO_AUTH_ACTION_COUNT=0)."""
    if moto_executable() is None:
        pytest.skip("moto_server is not installed: pip install 'moto[server]'")
    with running_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as server:
        yield server


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Mapping[str, str]:
    """Test credentials in the environment; no profiles, shared files or instance metadata."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
    ):
        monkeypatch.delenv(name, raising=False)
    values = {
        "AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values
