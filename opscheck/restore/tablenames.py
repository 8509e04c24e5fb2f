"""Table names as ``restore.expect_tables`` / ``restore.min_rows`` spell them: exact identifiers (case
kept), optionally schema-qualified; unqualified means ``public``."""

from __future__ import annotations

import re

from opscheck.errors import ConfigError

__all__ = ["display_name", "parse_table_name"]

_QUOTED_PART = re.compile(r'"((?:[^"]|"")*)"|([^".]+)')


def parse_table_name(name: str) -> tuple[str, str]:
    """``schema.table`` → (schema, table); no schema → public. Names are exact (case kept); a part with a
    dot in it is written in double quotes (``"my.schema"."Orders"``)."""
    parts: list[str] = []
    pos = 0
    while pos <= len(name):
        match = _QUOTED_PART.match(name, pos)
        if match is None:
            raise ConfigError(f"table name {name!r} is not [schema.]table")
        parts.append(match.group(1).replace('""', '"') if match.group(1) is not None else match.group(2))
        pos = match.end()
        if pos == len(name):
            break
        if name[pos] != ".":
            raise ConfigError(f"table name {name!r} is not [schema.]table")
        pos += 1
    if len(parts) == 1:
        return "public", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ConfigError(f"table name {name!r} has {len(parts)} parts: write schema.table")


def display_name(schema: str, table: str) -> str:
    return table if schema == "public" else f"{schema}.{table}"
