"""Which roles does a dump need on the server it is restored into? Read from the dump's own statements.

A restore into a fresh server fails with ``role "x" does not exist`` for every role the dump names and the
server lacks. pg_dump writes each statement that names a role on one line of its own (comments and COPY
data excluded, which :class:`~opscheck.restore.dumpscan.DumpScanner` already does), so each such line is read with
a small tokenizer that knows quoted identifiers and string literals:

* ``ALTER … OWNER TO r``, ``CREATE SCHEMA … AUTHORIZATION r``;
* ``GRANT … TO r[, …] [WITH GRANT OPTION] [GRANTED BY g]``, ``REVOKE … FROM r[, …] [GRANTED BY g]``;
* ``ALTER DEFAULT PRIVILEGES FOR ROLE a[, …] [IN SCHEMA s] GRANT … TO b`` / ``REVOKE … FROM b``;
* ``CREATE POLICY … TO r[, …]``, ``ALTER POLICY … TO r[, …]``;
* ``SET SESSION AUTHORIZATION r``, ``SET ROLE r`` (identifier or string literal);
* ``ALTER ROLE r …`` / ``ALTER USER r …`` (``pg_dump -C`` writes per-database role settings).

``PUBLIC``, ``CURRENT_USER``/``SESSION_USER``/``CURRENT_ROLE``, the ``pg_*`` roles every server has and the
bootstrap superuser ``postgres`` are never reported. :func:`undeclared_roles_advice` says what to tell an
operator whose backup needs roles the recovery procedure does not create.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from opscheck.restore.servers.base import ident

__all__ = [
    "BUILTIN_ROLES",
    "ROLE_STATEMENT_STARTS",
    "create_role_sql",
    "roles_in_statement",
    "undeclared_roles_advice",
]

#: roles every PostgreSQL server has (``pg_*`` too): a dump may name them freely
BUILTIN_ROLES: Final = frozenset({"postgres"})
_PSEUDO_ROLES: Final = frozenset({"public", "current_user", "session_user", "current_role", "group"})

#: how the statements that can name roles start
ROLE_STATEMENT_STARTS: Final = (
    "ALTER ", "GRANT ", "REVOKE ", "CREATE POLICY ", "CREATE SCHEMA ", "SET SESSION AUTHORIZATION ", "SET ROLE ",
)  # fmt: skip

_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<quoted>"(?:[^"]|"")*")
      | (?P<string>[Ee]?'(?:[^'\\]|''|\\.)*')
      | (?P<word>[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*)
      | (?P<other>\S)
    )""",
    re.VERBOSE,
)


class _Token:
    __slots__ = ("kind", "text")

    def __init__(self, kind: str, text: str) -> None:
        self.kind = kind
        self.text = text

    def keyword(self) -> str:
        """Upper-case text of an unquoted word, else ""."""
        return self.text.upper() if self.kind == "word" else ""

    def name(self) -> str | None:
        """The identifier this token spells (quoted: exact; unquoted: folded to lower case), else None."""
        if self.kind == "quoted":
            return self.text[1:-1].replace('""', '"')
        if self.kind == "word":
            return self.text.lower()
        if self.kind == "string":
            body = self.text[2:-1] if self.text[0] in "Ee" else self.text[1:-1]
            return body.replace("''", "'")
        return None


def _tokens(line: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(line):
        kind = match.lastgroup
        assert kind is not None
        tokens.append(_Token(kind, match.group(kind)))
    return tokens


def _role_list(tokens: list[_Token], start: int, stop_words: frozenset[str]) -> Iterator[str]:
    """Names in a comma-separated role list from ``tokens[start]`` up to a stop word or ``;``."""
    index = start
    while index < len(tokens):
        token = tokens[index]
        if token.text == ";" or token.keyword() in stop_words:
            return
        if token.text != ",":
            name = token.name()
            if name is not None and token.kind != "string":
                yield name
        index += 1


def _after(tokens: list[_Token], keyword: str, start: int = 0) -> int | None:
    for index in range(start, len(tokens)):
        if tokens[index].keyword() == keyword:
            return index + 1
    return None


_GRANT_STOP: Final = frozenset({"WITH", "GRANTED", "CASCADE", "RESTRICT"})
_POLICY_STOP: Final = frozenset({"USING", "WITH"})
_DEFAULT_PRIV_STOP: Final = frozenset({"IN", "GRANT", "REVOKE"})


def _grant(tokens: list[_Token], start: int, target: str) -> Iterator[str]:
    """GRANT … TO list / REVOKE … FROM list, plus GRANTED BY; without ON it grants roles: those too."""
    at = _after(tokens, target, start)
    if at is not None and _after(tokens[:at], "ON", start) is None:
        first = start
        while first + 1 < len(tokens) and tokens[first + 1].keyword() in {"OPTION", "FOR"}:
            first += 1  # REVOKE ADMIN OPTION FOR / INHERIT OPTION FOR role
        if first > start:
            first += 1
        yield from _role_list(tokens, first, frozenset({target}))
    if at is not None:
        yield from _role_list(tokens, at, _GRANT_STOP)
    granted = _after(tokens, "GRANTED", start)
    if granted is not None and granted < len(tokens) and tokens[granted].keyword() == "BY":
        yield from _role_list(tokens, granted + 1, _GRANT_STOP)


def _statement_roles(tokens: list[_Token]) -> Iterator[str]:
    words = [token.keyword() for token in tokens[:4]]
    first = words[0] if words else ""
    if first == "GRANT":
        yield from _grant(tokens, 1, "TO")
    elif first == "REVOKE":
        yield from _grant(tokens, 1, "FROM")
    elif words[:3] == ["ALTER", "DEFAULT", "PRIVILEGES"]:
        rest = 3
        if len(tokens) > 5 and tokens[3].keyword() == "FOR" and tokens[4].keyword() in {"ROLE", "USER"}:
            yield from _role_list(tokens, 5, _DEFAULT_PRIV_STOP)
            rest = 5
        verb = next((i for i in range(rest, len(tokens)) if tokens[i].keyword() in {"GRANT", "REVOKE"}), None)
        if verb is not None:
            yield from _grant(tokens, verb + 1, "TO" if tokens[verb].keyword() == "GRANT" else "FROM")
    elif words[:2] in (["CREATE", "POLICY"], ["ALTER", "POLICY"]):
        at = _after(tokens, "TO", 2)
        if at is not None:
            yield from _role_list(tokens, at, _POLICY_STOP)
    elif words[:2] in (["ALTER", "ROLE"], ["ALTER", "USER"]) and len(tokens) > 2:
        name = tokens[2].name()
        if name is not None and tokens[2].kind != "string":
            yield name
    elif words[:3] in (["SET", "SESSION", "AUTHORIZATION"],) and len(tokens) > 3:
        name = tokens[3].name()
        if name is not None and tokens[3].keyword() != "DEFAULT":
            yield name
    elif words[:2] == ["SET", "ROLE"] and len(tokens) > 2:
        name = tokens[2].name()
        if name is not None and tokens[2].keyword() not in {"NONE", "DEFAULT"}:
            yield name
    elif first == "ALTER" or words[:2] == ["CREATE", "SCHEMA"]:
        for keyword, follows in (("OWNER", "TO"), ("AUTHORIZATION", None)):
            at = _after(tokens, keyword, 1)
            if at is None:
                continue
            if follows is not None:
                if at >= len(tokens) or tokens[at].keyword() != follows:
                    continue
                at += 1
            if at < len(tokens):
                name = tokens[at].name()
                if name is not None and tokens[at].kind != "string":
                    yield name


def roles_in_statement(line: str) -> set[str]:
    """The roles one statement line names (built-in and pseudo roles left out)."""
    found = set()
    for name in _statement_roles(_tokens(line)):
        if name.lower() in _PSEUDO_ROLES or name in BUILTIN_ROLES or name.startswith("pg_"):
            continue
        found.add(name)
    return found


def create_role_sql(role: str) -> str:
    """An idempotent ``CREATE ROLE`` (NOLOGIN) for ``role``, quoted."""
    quoted = ident(role)
    literal = "'" + role.replace("'", "''") + "'"
    return (
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {literal}) "
        f"THEN CREATE ROLE {quoted} NOLOGIN; END IF; END $$"
    )


def undeclared_roles_advice(roles: list[str], backup_format: str) -> str:
    """Names every role, then the two ways out: create them first, or restore without owners and grants."""
    listed = ", ".join(repr(role) for role in roles)
    create = " ".join(f"CREATE ROLE {ident(role)} NOLOGIN;" for role in roles)
    skip = (
        "pg_restore --no-owner --no-acl"
        if backup_format == "custom"
        else "a pg_dump --no-owner --no-acl dump"
    )
    return (
        f"{len(roles)} role(s) not in [restore] roles: {listed}. A fresh server fails the restore with "
        f"'role does not exist' unless (1) they are created first: `{create}`, then listed in [restore] "
        f"roles; or (2) it restores with {skip}: objects then belong to the restoring user, GRANTs are lost, "
        "policies naming these roles still fail"
    )
