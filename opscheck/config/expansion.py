"""``${NAME}`` and ``${NAME:-default}`` in raw ``opscheck.toml`` values: finding, checking and expanding
the references (also inside lists and tables). Settings expand them when a check reads the value."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from opscheck.errors import ConfigError, SettingMissing

__all__ = ["check_references", "expand", "expand_all", "variables_in"]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(raw: str, key: str, environ: Mapping[str, str], *, empty_is_unset: bool = False) -> str:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in ``raw``; raise SettingMissing for an unset NAME
    (and, with ``empty_is_unset``, for one set to "": a missing CI secret expands to the empty string)."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise SettingMissing(name, key)
            return default
        if value == "" and empty_is_unset:
            raise SettingMissing(name, key, empty=True)
        return value

    return _VARIABLE.sub(substitute, raw)


def check_references(raw: Any, key: str) -> None:
    """Raise ConfigError when a string in ``raw`` holds a ``${`` that is no valid variable reference
    (``${NAME`` without its brace, ``${1X}``, ``${}``): it would otherwise be used literally."""
    if isinstance(raw, str):
        if "${" in _VARIABLE.sub("", raw):
            raise ConfigError(
                f"{key} has an unterminated or invalid variable reference: write ${{NAME}} or "
                "${NAME:-default}, NAME made of letters, digits and _"
            )
    elif isinstance(raw, list):
        for value in raw:
            check_references(value, key)
    elif isinstance(raw, dict):
        for name, value in raw.items():
            check_references(value, f"{key}.{name}")


def variables_in(raw: Any) -> list[str]:
    """The environment variable names a raw value refers to (strings inside lists and tables too)."""
    if isinstance(raw, str):
        return [m.group(1) for m in _VARIABLE.finditer(raw)]
    if isinstance(raw, list):
        return [name for value in raw for name in variables_in(value)]
    if isinstance(raw, dict):
        return [name for value in raw.values() for name in variables_in(value)]
    return []


def expand_all(raw: Any, key: str, environ: Mapping[str, str], *, empty_is_unset: bool = False) -> Any:
    """:func:`expand` applied to every string in ``raw``, also inside lists and tables."""
    if isinstance(raw, str):
        return expand(raw, key, environ, empty_is_unset=empty_is_unset)
    if isinstance(raw, list):
        return [expand_all(value, key, environ, empty_is_unset=empty_is_unset) for value in raw]
    if isinstance(raw, dict):
        return {
            name: expand_all(value, f"{key}.{name}", environ, empty_is_unset=empty_is_unset)
            for name, value in raw.items()
        }
    return raw
