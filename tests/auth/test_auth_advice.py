"""The advice for each auth problem speaks the app's NextAuth version and never advises rotating the secret."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from opscheck.auth.advice import (
    bypass_advice,
    configuration_advice,
    cookie_advice,
    deployment_secret_set,
    open_redirect_advice,
    unprotected_path_advice,
)
from opscheck.auth.flavors import V4, V5, Flavor
from opscheck.auth.rules import COOKIE_RULES
from opscheck.config import load_config
from tests.support.suite_run import write_environments

FLAVORS = [pytest.param(V4, id="v4"), pytest.param(V5, id="v5"), pytest.param(None, id="unknown")]


def every_advice(flavor: Flavor | None) -> list[str]:
    return [
        bypass_advice(flavor),
        open_redirect_advice(flavor),
        unprotected_path_advice("/api/me", flavor),
        *(cookie_advice(rule, flavor) for rule in COOKIE_RULES),
        *(configuration_advice(flavor, secret_set) for secret_set in (True, False, None)),
    ]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_no_advice_says_to_rotate_the_secret(flavor: Flavor | None) -> None:
    for advice in every_advice(flavor):
        for sentence in re.split(r"(?<=\.) ", advice):
            if "rotat" in sentence.lower():
                assert sentence.startswith("Do not rotate the secret"), advice


def test_v5_advice_speaks_v5() -> None:
    missing = configuration_advice(V5, None)
    for word in (
        "AUTH_SECRET",
        "npx auth secret",
        "AUTH_URL",
        "AUTH_TRUST_HOST",
        "MissingSecret",
        "error=Configuration",
    ):
        assert word in missing, word
    assert "NEXTAUTH_SECRET" not in missing
    assert "auth.ts" in bypass_advice(V5)
    assert "await auth()" in unprotected_path_advice("/api/me", V5)
    assert "AUTH_URL" in cookie_advice("secure-prefix", V5)


def test_v4_advice_speaks_v4_and_an_unknown_version_gets_both() -> None:
    v4 = configuration_advice(V4, None)
    assert "NEXTAUTH_SECRET" in v4
    assert "openssl rand -base64 32" in v4
    assert "AUTH_SECRET" not in v4.replace("NEXTAUTH_SECRET", "")
    unknown = configuration_advice(None, None)
    assert "NEXTAUTH_SECRET (Auth.js v5: AUTH_SECRET)" in unknown


def test_a_secret_that_is_set_is_never_the_advice() -> None:
    for flavor in (V4, V5, None):
        advice = configuration_advice(flavor, True)
        assert "is set, so it is not the cause" in advice
        assert "redeploy" not in advice
        assert "openssl" not in advice
        assert "npx auth secret" not in advice


@pytest.mark.parametrize(
    ("lines", "flavor", "configured", "expected"),
    [
        ("NEXTAUTH_SECRET=abc\n", None, None, True),
        ("AUTH_SECRET=abc\n", None, None, True),  # v4 falls back to AUTH_SECRET, v5 reads it first
        ("NEXTAUTH_SECRET=\nDATABASE_URL=postgres://x\n", None, None, False),
        (None, None, None, None),  # no env file: the process running opscheck is not the deployment
        # rotation secrets: only v5 reads AUTH_SECRET_1..3, and only while AUTH_SECRET is not set
        ("AUTH_SECRET_1=abc\n", V5, None, True),
        ("AUTH_SECRET_1=abc\n", V4, None, False),
        ("AUTH_SECRET_1=abc\n", None, None, None),  # the versions disagree: nothing can be said
        ("AUTH_SECRET_1=abc\n", V5, "v4", False),  # auth.flavor is what the team says it runs
        ("AUTH_SECRET_1=abc\n", None, "v5", True),
    ],
)
def test_whether_the_deployment_secret_is_set_comes_from_its_env_file_and_the_apps_version(
    tmp_path: Path, lines: str | None, flavor: Flavor | None, configured: str | None, expected: bool | None
) -> None:
    environment: dict[str, Any] = {"base_url": "https://app.test"}
    if lines is not None:
        (tmp_path / "deploy.env").write_text(lines, encoding="utf-8")
        environment["credentials"] = {"env_file": "deploy.env"}
    if configured is not None:
        environment["auth"] = {"flavor": configured}
    config = write_environments(tmp_path, {"x": environment})
    assert deployment_secret_set(load_config(config).environment("x"), flavor) is expected
