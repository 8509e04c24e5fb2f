"""DATABASE_URL: the URL taken apart the way libpq reads it and the rules it must meet in production, and
what the database says about it (it accepts the credentials; its role is not over-privileged)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, quote, urlencode

import psycopg

from opscheck.clients.conninfo import parse_conninfo
from opscheck.clients.postgres import ProbeResult, answered_within, connect_readonly, probe_database
from opscheck.credentials.findings import Finding
from opscheck.errors import CheckFailed, TargetUnreachable
from opscheck.secrets import redactor

__all__ = [
    "DATABASE_URL_RULES",
    "PostgresUrl",
    "RolePrivileges",
    "parse_postgres_url",
    "postgres_url_finding",
    "probe_credentials",
    "role_privileges",
]


DATABASE_URL_RULES: Final = ("parses", "not-localhost", "sslmode")
_SSLMODES: Final = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


@dataclass(frozen=True)
class PostgresUrl:
    """A ``postgresql://`` URL taken apart the way libpq reads it (several hosts allowed)."""

    hosts: tuple[str, ...]
    ports: tuple[str, ...]
    dbname: str
    user: str
    has_password: bool
    #: the parameters as libpq reads them
    params: Mapping[str, str]
    #: query parameters libpq does not know, left out (Prisma's ``schema=`` …)
    ignored: tuple[str, ...] = ()

    @property
    def sslmode(self) -> str | None:
        return self.params.get("sslmode")


def _libpq_keywords() -> frozenset[str]:
    return frozenset(option.keyword.decode() for option in psycopg.pq.Conninfo.get_defaults())


def parse_postgres_url(value: str) -> PostgresUrl:
    """Take a PostgreSQL URL apart the way libpq does (it is libpq's own parser, after leaving out the query
    parameters libpq does not know, such as Prisma's ``schema=``); ValueError says what is wrong without
    quoting the value."""
    text = value.strip()
    scheme, sep, _ = text.partition("://")
    if not sep or scheme not in {"postgres", "postgresql"}:
        raise ValueError("not a postgres:// or postgresql:// URL")
    libpq_url, ignored = _libpq_url(text)
    params = parse_conninfo(libpq_url)
    ports = tuple(params["port"].split(",")) if params.get("port") else ()
    if not all(port.isdigit() for port in ports if port):
        raise ValueError("its port is not a number")
    if not all(0 < int(port) < 65536 for port in ports if port):
        raise ValueError("its port is out of range")
    sslmode = params.get("sslmode")
    if sslmode is not None and sslmode not in _SSLMODES:
        raise ValueError("its sslmode is not one libpq knows")
    return PostgresUrl(
        hosts=tuple(params["host"].split(",")) if params.get("host") else (),
        ports=ports,
        dbname=params.get("dbname", ""),
        user=params.get("user", ""),
        has_password="password" in params,
        params=params,
        ignored=tuple(ignored),
    )


def _is_local(host: str) -> bool:
    name = host.strip().strip("[]").rstrip(".").lower()
    if not name or name.startswith(("/", "@")):
        return True  # a unix-domain socket: the database runs on the same machine
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def postgres_url_finding(
    rule: str, value: str, *, production: bool, variable: str = "DATABASE_URL"
) -> Finding:
    """One of :data:`DATABASE_URL_RULES`. ``sslmode``: verify-full passes, require/verify-ca pass with a
    note, disable/allow/prefer/absent fail (production only, like ``not-localhost``)."""
    expected_parse = "a postgresql://user:password@host:port/dbname URL libpq can use"
    try:
        url = parse_postgres_url(value)
    except ValueError as exc:
        if rule == "parses":
            return Finding(variable, rule, expected_parse, str(exc))
        return Finding(variable, rule, "", skipped="it does not parse (see the parses rule)")
    if rule == "parses":
        return Finding(variable, rule, expected_parse)
    if not production:
        return Finding(variable, rule, "", skipped="production = false: this rule applies to production only")
    if rule == "not-localhost":
        expected = "the production database's network host, not localhost or a socket"
        hosts = list(url.hosts) or ([] if "hostaddr" in url.params else [""])
        if "hostaddr" in url.params:
            hosts += url.params["hostaddr"].split(",")
        local = [h or "(default unix socket)" for h in hosts if _is_local(h)]
        seen = f"a local host: {', '.join(local)}" if local else None
        return Finding(variable, rule, expected, seen)
    if rule == "sslmode":
        expected = "sslmode=verify-full (encrypted, server certificate and host name verified)"
        mode = url.sslmode
        if mode == "verify-full":
            return Finding(variable, rule, expected)
        if mode in {"require", "verify-ca"}:
            what = (
                "does not verify the server certificate"
                if mode == "require"
                else "does not verify the host name"
            )
            return Finding(
                variable, rule, expected, notes=(f"sslmode={mode} encrypts but {what}; use verify-full",)
            )
        if mode is None:
            return Finding(
                variable, rule, expected, "no sslmode (libpq then uses prefer, which falls back to plaintext)"
            )
        return Finding(variable, rule, expected, f"sslmode={mode}, which allows an unencrypted connection")
    raise ValueError(f"unknown DATABASE_URL rule {rule!r}")


def _libpq_url(value: str) -> tuple[str, list[str]]:
    """``value`` without query parameters libpq does not know (Prisma's ``schema=`` …), and their names."""
    head, sep, query = value.strip().partition("?")
    if not sep:
        return value.strip(), []
    known = _libpq_keywords()
    pairs = parse_qsl(query.split("#", 1)[0], keep_blank_values=True)
    dropped = [name for name, _ in pairs if name not in known]
    if not dropped:
        return value.strip(), []  # libpq reads it as written
    kept = [(name, v) for name, v in pairs if name in known]
    return (head + ("?" + urlencode(kept, quote_via=quote) if kept else "")), dropped


def probe_credentials(
    value: str, *, timeout_s: float, variable: str = "DATABASE_URL"
) -> tuple[ProbeResult, list[str]]:
    """Connect read-only with ``value`` and run ``SELECT 1``; failures name the variable and the endpoint.

    Returns the probe and the names of query parameters left out because libpq does not know them.
    """
    __tracebackhide__ = True
    url, dropped = _libpq_url(value)
    try:
        return probe_database(url, timeout_s=timeout_s), dropped
    except CheckFailed as exc:
        raise CheckFailed(f"{variable} [connect]: {exc.checked}", exc.expected, exc.seen) from None
    except TargetUnreachable as exc:
        raise TargetUnreachable(f"{variable} [connect]: {exc.checked}", exc.reason) from None


@dataclass(frozen=True)
class RolePrivileges:
    """What the role of a connection can do, directly or through roles it is a member of."""

    superuser: tuple[str, ...]
    create_role: tuple[str, ...]
    create_db: tuple[str, ...]

    def problems(self) -> list[str]:
        """What the role should not be able to do (a superuser can do everything: said once)."""
        if self.superuser:
            return [f"it is a superuser{_via(self.superuser)}"]
        found = []
        for roles, what in (
            (self.create_role, "can create roles (CREATEROLE)"),
            (self.create_db, "can create databases (CREATEDB)"),
        ):
            if roles:
                found.append(f"it {what}" + _via(roles))
        return found

    def finding(self, variable: str = "DATABASE_URL") -> Finding:
        problems = self.problems()
        return Finding(
            variable,
            "least-privilege",
            "a role that is not a superuser and cannot create roles or databases",
            "; ".join(problems) or None,
        )


def _via(roles: Sequence[str]) -> str:
    others = [r for r in roles if r != ""]
    return f" through membership in {', '.join(others)}" if others and "" not in roles else ""


_PRIVILEGES_SQL: Final = """
SELECT CASE WHEN r.rolname = current_user THEN '' ELSE r.rolname END,
       r.rolsuper, r.rolcreaterole, r.rolcreatedb
FROM pg_catalog.pg_roles AS r
WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')
"""


def role_privileges(value: str, *, timeout_s: float, variable: str = "DATABASE_URL") -> RolePrivileges:
    """Superuser, CREATEROLE and CREATEDB of the URL's role and of every role it can become.

    The login role itself appears as "" (its name is part of the value), other roles by name.
    """
    __tracebackhide__ = True
    url, _ = _libpq_url(value)
    try:
        conn = connect_readonly(url, timeout_s=timeout_s, application_name="opscheck-credentials")
    except CheckFailed as exc:
        raise CheckFailed(f"{variable} [least-privilege]: {exc.checked}", exc.expected, exc.seen) from None
    except TargetUnreachable as exc:
        raise TargetUnreachable(f"{variable} [least-privilege]: {exc.checked}", exc.reason) from None
    where = f"{variable} [least-privilege]: reading pg_roles"
    try:  # bounded like the db fixture's statements: libpq has no client-side timeout once connected
        with answered_within(conn, timeout_s + 1, where), conn.cursor() as cursor:
            cursor.execute(_PRIVILEGES_SQL)
            rows = cursor.fetchall()
    except psycopg.Error as exc:
        raise TargetUnreachable(where, redactor().scrub(type(exc).__name__)) from None
    finally:
        conn.close()
    return RolePrivileges(
        superuser=tuple(sorted(str(r[0]) for r in rows if r[1])),
        create_role=tuple(sorted(str(r[0]) for r in rows if r[2])),
        create_db=tuple(sorted(str(r[0]) for r in rows if r[3])),
    )
