"""``opscheck.toml`` → typed, validated environment settings.

The file is validated when it is loaded (TOML syntax with file and line, unknown keys with the nearest
valid spelling, value types). ``${NAME}`` and ``${NAME:-default}`` are resolved *lazily*, when a check
reads the value: an unset variable errors only the checks that need it, with a message naming the
variable and the key. A section an environment does not configure makes the checks that need it skip.

Suites read settings as attributes (``opscheck_env.smoke.pages``), never as dictionary lookups.

The public API is listed here once; the modules behind it:

- ``loading``: reading and validating the file (:func:`load_config`), finding it (:func:`find_config`);
- ``environment``: :class:`Environment`, its top-level keys and its tables as typed attributes;
- ``sections``: the tables (:class:`SmokeSettings` … :class:`MetricsSettings`), key by key;
- ``schema``: how a table is declared (``Setting``) and resolved on access (``Section``);
- ``values``: the value parsers; ``expansion``: ``${NAME}`` references.
"""

from opscheck.config.environment import Environment
from opscheck.config.loading import ConfigFile, find_config, load_config
from opscheck.config.sections import (
    AuthSettings,
    BackupSettings,
    CacheSettings,
    CredentialsSettings,
    DatabaseSettings,
    MetricsSettings,
    NotifySettings,
    RestoreSettings,
    SmokeSettings,
)

__all__ = [
    "AuthSettings",
    "BackupSettings",
    "CacheSettings",
    "ConfigFile",
    "CredentialsSettings",
    "DatabaseSettings",
    "Environment",
    "MetricsSettings",
    "NotifySettings",
    "RestoreSettings",
    "SmokeSettings",
    "find_config",
    "load_config",
]
