"""Unit tests of opscheck.run.preflight: what stops the run before any check, and what keeps the lazy rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opscheck.config import Environment, load_config
from opscheck.errors import ConfigError
from opscheck.run.preflight import preflight
from tests.support.suite_run import write_environments

PRODUCTION = {"base_url": "https://app.example.com"}


def environment(
    tmp_path: Path, settings: dict[str, Any], environ: dict[str, str] | None = None
) -> Environment:
    """Environment ``production`` of a config with ``settings`` (keys and tables) beside its base URL."""
    path = write_environments(tmp_path, {"production": {**PRODUCTION, **settings}})
    return load_config(path, environ or {}).environment("production", environ or {})


def test_unset_variables_of_keys_only_some_checks_need_do_not_stop_the_run(tmp_path: Path) -> None:
    env = environment(
        tmp_path,
        {
            "timeout_s": "${TIMEOUT}",
            "ca_bundle": "${CA_BUNDLE}",
            "database": {"url": "${DATABASE_URL}"},
            "cache": {"redis_url": "${REDIS_URL}"},
            "backups": {"location": "b", "rpo_hours": "${RPO}"},
        },
        {"DATABASE_URL": "", "REDIS_URL": ""},
    )
    preflight(env)


def test_a_set_variable_is_parsed_before_the_run(tmp_path: Path) -> None:
    env = environment(tmp_path, {"backups": {"location": "b", "rpo_hours": "${RPO}"}}, {"RPO": "nan"})
    with pytest.raises(
        ConfigError, match=r"environments\.production\.backups\.rpo_hours must be a finite number"
    ):
        preflight(env)


def test_existing_files_pass(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    (tmp_path / "RUNBOOK.md").write_text("# Runbook\n", encoding="utf-8")
    preflight(environment(tmp_path, {"ca_bundle": "ca.pem", "runbook": "RUNBOOK.md"}))


def test_a_directory_is_not_a_ca_bundle(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    with pytest.raises(ConfigError, match=r"ca_bundle: the CA bundle .*certs is not a file"):
        preflight(environment(tmp_path, {"ca_bundle": "certs"}))


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://:pw%2Fx@cache.internal:6380",
        "redis://cache",
        "unix:///run/redis.sock",
    ],
)
def test_well_formed_redis_urls_pass(tmp_path: Path, url: str) -> None:
    preflight(environment(tmp_path, {"cache": {"redis_url": url}}))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("localhost:6379", "its scheme"),
        ("redis://:pa/ss@cache:6379/0", "cannot be read"),
        ("redis://:6379/0", "no host"),
        ("redis://cache:63a9/0", "port"),
        ("redis://cache:6379/zero", "database number"),
        ("http://cache:6379", "its scheme"),
    ],
)
def test_malformed_redis_urls_stop_the_run_without_quoting_them(
    tmp_path: Path, url: str, problem: str
) -> None:
    env = environment(tmp_path, {"cache": {"redis_url": url}})
    with pytest.raises(ConfigError) as excinfo:
        preflight(env)
    assert problem in str(excinfo.value)
    assert url not in str(excinfo.value)
    assert "pa/ss" not in str(excinfo.value)


def test_other_environments_are_not_preflighted(tmp_path: Path) -> None:
    staging = {"base_url": "${STAGING_URL}", "ca_bundle": "missing.pem"}
    path = write_environments(tmp_path, {"production": PRODUCTION, "staging": staging})
    preflight(load_config(path, {}).environment("production", {}))
