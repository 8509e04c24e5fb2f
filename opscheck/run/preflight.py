"""What can be known to be wrong with the selected environment before any check runs: a usage error (exit 4).

``load_config`` validates what every environment writes literally. Once an environment is selected,
:func:`preflight` goes further, so that a bad value stops the run with one line instead of passing or
erroring checks one by one:

* ``base_url`` and ``production`` are needed by every check (the header names the target, ``production``
  decides what may run at all), so an unset ``${VAR}`` in them stops the run. Every other key keeps the
  lazy rule: an unset variable errors only the checks that need that value.
* every value whose variables are all set is parsed now: ``rpo_hours = "${RPO_HOURS}"`` with
  ``RPO_HOURS=nan`` is a usage error naming the key, never a check that cannot fail.
* the files the environment names exist: ``ca_bundle`` and ``runbook``.
* connection strings parse: ``database.url`` and ``cache.redis_url`` (their text is never quoted).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from opscheck.config import Environment
from opscheck.config.environment import SECTIONS
from opscheck.config.schema import Section
from opscheck.errors import ConfigError, SettingMissing

__all__ = ["preflight"]

#: keys whose value every check needs: an unset variable here is a usage error, not a check error
NEEDED_BY_EVERY_CHECK = ("base_url", "production")
_ENCODE_HINT = "percent-encode /, ?, # and @ in a password"


def preflight(env: Environment) -> None:
    """Raise ConfigError naming the key (and the path or variable) of the first problem found."""
    for name in NEEDED_BY_EVERY_CHECK:
        try:
            getattr(env, name)
        except SettingMissing as exc:
            raise ConfigError(
                f"{exc}: {name} is needed by every check, so it must be set before the run starts"
            ) from None
    _parse_resolvable(env)
    for name in env.raw:
        if name in SECTIONS and env.has(name):
            _parse_resolvable(env.section(name))
    _require_file(env, "ca_bundle", "the CA bundle")
    _require_file(env, "runbook", "the runbook")
    _require_shape(env, "database", "url", _postgres_problem, "a PostgreSQL connection string")
    _require_shape(env, "cache", "redis_url", _redis_problem, "a Redis URL")


def _parse_resolvable(section: Section) -> None:
    settings = section.settings()
    for name in section.raw:
        if name not in settings:
            continue  # a table of the environment: parsed as its own section
        try:
            section.resolve(settings[name])
        except SettingMissing:
            continue  # the lazy rule: only the checks that need the value error


def _resolved(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except SettingMissing:
        return None


def _require_file(env: Environment, key: str, what: str) -> None:
    path = _resolved(lambda: getattr(env, key))
    if isinstance(path, Path) and not path.is_file():
        state = "is not a file" if path.exists() else "does not exist"
        raise ConfigError(f"{env.key}.{key}: {what} {path} {state}")


def _require_shape(
    env: Environment, table: str, key: str, problem_of: Callable[[str], str | None], what: str
) -> None:
    if not env.has(table) or key not in env.section(table).raw:
        return
    secret = _resolved(lambda: getattr(env.section(table), key))
    problem = problem_of(secret.reveal()) if secret is not None else None
    if problem is not None:
        raise ConfigError(f"{env.key}.{table}.{key} is not {what}: {problem} ({_ENCODE_HINT})")


def _postgres_problem(url: str) -> str | None:
    # psycopg is imported only when a database is configured (plugin start-up stays cheap)
    from opscheck.clients.conninfo import connection_string_problem  # noqa: PLC0415

    return connection_string_problem(url)


def _redis_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number from 0 to 65535
    except ValueError:
        return "its host or port cannot be read"
    if parts.scheme not in {"redis", "rediss", "unix"}:
        return "its scheme must be redis://, rediss:// or unix://"
    if parts.scheme != "unix":
        if not parts.hostname:
            return "it has no host"
        database = parts.path.strip("/")
        if database and not database.isdigit():
            return "its path (the database number) is not a whole number"
    elif not parts.path:
        return "it names no socket path"
    return None
