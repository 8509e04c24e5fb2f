"""Restore drill suite: says in the report header which PostgreSQL the drill will restore into, and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from opscheck import run_state
from opscheck.errors import OpscheckError
from opscheck.restore.servers.provider import select_provider


def pytest_report_collectionfinish(
    config: pytest.Config, start_path: Path, items: list[pytest.Item]
) -> list[str]:
    ops = run_state(config)
    if ops is None or ops.environment is None or not any("suites/restore/" in i.nodeid for i in items):
        return []
    try:
        restore = ops.environment.restore
        provider, why = select_provider(restore.provider, restore.image)
    except OpscheckError as exc:
        return [f"opscheck: restore provider {ops.environment.restore.provider}: cannot run ({exc})"]
    image = f" image {restore.image}" if provider == "testcontainers" else ""
    return [f"opscheck: restore provider {provider}{image} ({why}); backup {ops.backup}"]
