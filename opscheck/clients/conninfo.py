"""PostgreSQL connection strings: opscheck connects to what the configured one says, and nowhere else.

libpq fills every parameter a connection string leaves out from ``PG*`` environment variables (``PGHOST``,
``PGDATABASE``, ``PGUSER``, ``PGPASSWORD``, ``PGSSLMODE``, ...). A CI job whose ``DATABASE_URL`` secret is
missing (it expands to ``postgresql://`` or to nothing) would then check whatever database those variables
name. :func:`isolated_conninfo` pins each parameter the string leaves out, and that a ``PG*`` variable in this
process would fill, to libpq's built-in default. A user who wants a ``PG*`` variable asks for it by name in
the config: ``url = "postgresql://app:${PGPASSWORD}@db.internal/app"``.

``PGSERVICE`` cannot be pinned (an empty service name is an error in libpq): when it is set and the string
names no service, connecting is refused with a :class:`~opscheck.errors.ConfigError` saying so.
"""

from __future__ import annotations

import os
from typing import Final

from psycopg import ProgrammingError, pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from opscheck.errors import ConfigError

__all__ = ["connection_string_problem", "isolated_conninfo", "parse_conninfo"]


def isolated_conninfo(url: str) -> str:
    """``url`` as a libpq connection string that no ``PG*`` variable of this process can complete.

    Raises psycopg's ``ProgrammingError`` when ``url`` does not parse, ConfigError when ``PGSERVICE`` is set.
    """
    params = conninfo_to_dict(url)
    for option in pq.Conninfo.get_defaults():
        keyword = option.keyword.decode()
        variable = option.envvar.decode() if option.envvar else None
        if variable is None or keyword in params or variable not in os.environ:
            continue
        if keyword == "service":
            raise ConfigError(
                "PGSERVICE is set in the environment, and libpq would take connection settings from that "
                "service: opscheck connects only to what the configured URL says; unset PGSERVICE or name "
                "the service in the URL (?service=NAME)"
            )
        params[keyword] = option.compiled.decode() if option.compiled is not None else ""
    return make_conninfo("", **params)


#: libpq's parse errors quote the string (its password included): opscheck says what is wrong in its own words
_PARSE_REASONS: Final = (
    ("percent-encoded", "it has an invalid percent-escape"),
    ("IPv6 host address", "it has a malformed IPv6 host"),
)


def parse_conninfo(url: str) -> dict[str, str]:
    """libpq's own reading of ``url`` (a URL or ``key=value`` string), through
    ``psycopg.conninfo.conninfo_to_dict``. Raises ValueError in words that never quote ``url``."""
    try:
        params = conninfo_to_dict(url)
    except ProgrammingError as exc:
        message = str(exc)
        reason = next((why for marker, why in _PARSE_REASONS if marker in message), "libpq cannot parse it")
        raise ValueError(reason) from None
    return {keyword: str(value) for keyword, value in params.items()}


def connection_string_problem(url: str) -> str | None:
    """What makes ``url`` unusable as a PostgreSQL connection string, in words that never quote it."""
    try:
        params = parse_conninfo(url)
    except ValueError:
        return "libpq cannot parse it"
    ports = str(params.get("port") or "")
    if ports and not all(port.isdigit() and 0 < int(port) < 65536 for port in ports.split(",") if port):
        return "its port is not a number from 1 to 65535"
    return None
