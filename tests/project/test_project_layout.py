"""The README's "Project layout" is the tree: every module of ``opscheck/`` is named there, and every path it
names exists. A module added, moved or removed without the README saying so fails here."""

from __future__ import annotations

import re

from tests.support.project import REPO

_ENTRY = re.compile(r"^(?P<indent> *)(?P<name>[\w.-]+(?:/|\.py))(?:\s|$)")


def _layout_block() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Project layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1].splitlines()


def _listed_paths() -> set[str]:
    """Every path the layout block names: ``opscheck/run/session.py``, ``suites/smoke/``, ..."""
    listed: set[str] = set()
    parents: list[tuple[int, str]] = []  # (indent, directory path) of the enclosing entries
    for line in _layout_block():
        match = _ENTRY.match(line)
        if match is None:  # a description carried on to the next line
            continue
        indent, name = len(match["indent"]), match["name"]
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = (parents[-1][1] if parents else "") + name
        listed.add(path)
        if name.endswith("/"):
            parents.append((indent, path))
    return listed


def _modules() -> set[str]:
    package = REPO / "opscheck"
    found = {
        path.relative_to(REPO).as_posix() for path in package.rglob("*.py") if path.name != "__init__.py"
    }
    found |= {
        f"{path.relative_to(REPO).as_posix()}/"
        for path in package.rglob("*")
        if (path / "__init__.py").is_file()
    }
    return found


def test_every_module_of_the_package_is_in_the_readmes_layout() -> None:
    listed = _listed_paths()
    assert sorted(_modules() - listed) == [], "modules the README's Project layout does not name"


def test_every_path_the_readmes_layout_names_exists() -> None:
    missing = sorted(path for path in _listed_paths() if not (REPO / path).exists())
    assert missing == [], "paths the README's Project layout names that are not in the tree"


def test_the_layout_parser_reads_nesting() -> None:
    listed = _listed_paths()
    assert {"opscheck/", "opscheck/restore/servers/", "opscheck/restore/servers/local.py"} <= listed
    assert "opscheck/local.py" not in listed
