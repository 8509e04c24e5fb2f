"""The demo's opscheck.toml is written by a TOML writer: any path, URL or password reads back as written.

It used to be built with f-strings, so a quote or a backslash in a value (a checkout under
``C:\\Users\\…``-like or quoted directory names, a password with ``"``) made the file invalid or changed
the value. Pure logic: nothing is started.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opscheck.config import load_config
from opscheck.demo.apps import APPS
from opscheck.demo.stack import DemoStack, project_root
from tests.support.project import REPO


@pytest.mark.parametrize("app", sorted(APPS))
def test_awkward_values_read_back_exactly_as_written(tmp_path: Path, app: str) -> None:
    root = tmp_path / 'a "quoted" \\ checkout'
    (root / "examples").mkdir(parents=True)
    (root / "examples" / "RUNBOOK.md").write_text("# Runbook\n", encoding="utf-8")
    password = 'pa"ss\\word\nwith a newline'
    database_url = "postgresql://app:p%22w@127.0.0.1:5432/app"
    stack = DemoStack(workdir=tmp_path / "work", root=root, smoke_password=password, app_name=app)
    stack.base_url = "http://127.0.0.1:3000"
    stack.workdir.mkdir()

    env = load_config(stack._write_config(database_url)).environment("demo")

    assert env.base_url == "http://127.0.0.1:3000"
    assert env.runbook == root / "examples" / "RUNBOOK.md"
    assert env.database is not None
    assert env.database.url.reveal() == database_url
    assert env.auth is not None
    assert env.auth.password.reveal() == password
    assert env.smoke.pages == list(APPS[app].smoke_keys["pages"])
    assert bool(env.expected_version) == APPS[app].has_health_endpoint


def test_project_root_is_the_checkout_beside_the_package() -> None:
    assert project_root() == REPO
