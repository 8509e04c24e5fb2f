"""End-of-session verdict tables (fault matrix, restore corpus): rows logged as JSON lines by whichever
process ran the test, printed by the controller."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest


def log_path(config: pytest.Config, name: str) -> Path:
    """``name`` in the controller's pytest basetemp (an xdist worker's basetemp is a child of it)."""
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    if hasattr(config, "workerinput"):
        base = base.parent
    return Path(base) / name


def append_row(path: Path, row: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def logged_rows(config: pytest.Config, name: str) -> list[dict[str, Any]]:
    """The rows logged this session; none on a worker, or when nothing ran (e.g. --collect-only)."""
    if hasattr(config, "workerinput"):
        return []
    try:
        path = log_path(config, name)
    except Exception:  # no basetemp: nothing ran
        return []
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_table(terminalreporter: Any, title: str, table: Sequence[Sequence[object]]) -> None:
    """``table`` (head first) in aligned columns under a ``title`` separator."""
    widths = [max(len(str(line[i])) for line in table) for i in range(len(table[0]))]
    terminalreporter.write_sep("=", title)
    for line in table:
        terminalreporter.write_line(
            "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        )
