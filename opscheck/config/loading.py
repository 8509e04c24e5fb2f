"""Reading ``opscheck.toml``: the file is decoded, parsed and every environment validated when it is
loaded (TOML syntax with file and line, unknown keys with the nearest valid spelling, value types), and
where the file is found (``--opscheck-config``, ``OPSCHECK_CONFIG`` or ``<rootdir>/opscheck.toml``)."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opscheck.config.environment import Environment
from opscheck.config.schema import unknown_key
from opscheck.errors import ConfigError, UsageError

__all__ = ["MAX_NESTING", "ConfigFile", "find_config", "load_config", "nesting_depth"]

#: tables and arrays nested deeper than this are no configuration opscheck knows (and would exhaust the stack)
MAX_NESTING = 16


@dataclass(frozen=True)
class ConfigFile:
    """A loaded ``opscheck.toml``, and the environment variables ``${NAME}`` is resolved from (those
    given to :func:`load_config`, else the process environment). Its repr holds no value."""

    path: Path
    environments: Mapping[str, Mapping[str, Any]] = field(repr=False)
    environ: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

    def environment(self, name: str, environ: Mapping[str, str] | None = None) -> Environment:
        """The named environment, or a UsageError listing the configured ones."""
        if name not in self.environments:
            prefixed = [env for env in self.environments if env.startswith(name)]
            near = prefixed[:1] or difflib.get_close_matches(name, list(self.environments), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise UsageError(f"unknown environment {name!r}{hint}; {self.path} configures: {self.listing()}")
        env = Environment(
            self.environments[name],
            f"environments.{name}",
            name,
            self.path.parent,
            _first_given(environ, self.environ, os.environ),
        )
        env.name = name
        return env

    def listing(self) -> str:
        return ", ".join(sorted(self.environments)) or "(none)"


def _first_given(*environs: Mapping[str, str] | None) -> Mapping[str, str]:
    return next(environ for environ in environs if environ is not None)


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> ConfigFile:
    """Read and validate ``path``; raise ConfigError naming the file, line or key that is wrong."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line}, column {column} "
            "(save the file as UTF-8)"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: arrays or tables nested too deeply to read") from None
    if nesting_depth(data) > MAX_NESTING:
        raise ConfigError(f"{path}: arrays or tables nested more than {MAX_NESTING} levels deep")
    for name in data:
        if name != "environments":
            raise ConfigError(f"{path}: {unknown_key(name, name, {'environments': None})}")
    environments = data.get("environments", {})
    if not isinstance(environments, dict) or not environments:
        raise ConfigError(f"{path}: no [environments.NAME] table is configured")
    config = ConfigFile(path.resolve(), environments, environ)
    for name, table in environments.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: environments.{name} must be a table")
        env = config.environment(name)
        try:
            env.validate()
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        if "base_url" not in table:
            raise ConfigError(f"{path}: environments.{name}.base_url is required")
    return config


def find_config(option: str | None, env_value: str | None, rootdir: Path) -> tuple[Path | None, str]:
    """Where the config file is, and where that choice came from (option, env or default)."""
    if option:
        return Path(option).expanduser().resolve(), "option --opscheck-config"
    if env_value:
        return Path(env_value).expanduser().resolve(), "env OPSCHECK_CONFIG"
    candidate = rootdir / "opscheck.toml"
    return (candidate if candidate.is_file() else None), "default <rootdir>/opscheck.toml"


def nesting_depth(raw: Any) -> int:
    """How deeply lists and tables nest in ``raw`` (iteratively: any depth is measured, none overflows)."""
    deepest, stack = 0, [(raw, 0)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
    return deepest
