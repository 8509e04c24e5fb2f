"""Value parsers for ``opscheck.toml``: each turns a raw (already expanded) value into a typed one, or
raises ConfigError naming the key and saying what is wrong, never echoing a credential."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from opscheck.errors import ConfigError
from opscheck.restore.tablenames import parse_table_name
from opscheck.secrets import Secret

__all__ = [
    "Parser",
    "as_base_url",
    "as_bool",
    "as_choice",
    "as_connection_string",
    "as_float",
    "as_health_path",
    "as_int_map",
    "as_optional_path",
    "as_optional_url_path",
    "as_positive_float",
    "as_secret",
    "as_secret_headers",
    "as_str",
    "as_str_list",
    "as_str_map",
    "as_table_list",
    "as_table_map",
    "as_timeout_s",
    "as_url_path",
    "number_in",
    "whole_number_in",
]

T = TypeVar("T")
#: (value, key, base_dir) -> typed value, raising ConfigError naming the key
Parser = Callable[[Any, str, Path], T]


def _type_error(key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{key} must be {expected}, got {type(value).__name__} {value!r}")


def as_str(value: Any, key: str, base: Path) -> str:
    if not isinstance(value, str):
        raise _type_error(key, "a string", value)
    return value


def as_secret(value: Any, key: str, base: Path) -> Secret:
    if not isinstance(value, str):  # the message must not echo what may be a credential
        raise ConfigError(f"{key} must be a string, got {type(value).__name__}")
    return Secret(value)


def as_bool(value: Any, key: str, base: Path) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0", "yes", "no"}:
        return value.strip().lower() in {"true", "1", "yes"}
    raise _type_error(key, "true or false", value)


def as_float(value: Any, key: str, base: Path) -> float:
    """A finite number: ``nan`` and ``inf`` (literal, or from a variable) are no setting's value."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _type_error(key, "a number", value)
    try:
        number = float(value)
    except ValueError:
        raise _type_error(key, "a number", value) from None
    except OverflowError:  # a TOML integer beyond any float
        raise ConfigError(
            f"{key} must be a finite number, got an integer of {len(str(value))} digits"
        ) from None
    if not math.isfinite(number):
        raise ConfigError(f"{key} must be a finite number, got {number}")
    return number


def number_in(low: float, high: float, *, above_low: bool = False) -> Parser[float]:
    """A finite number from ``low`` (excluded with ``above_low``) to ``high``."""
    bounds = f"{'greater than' if above_low else 'at least'} {low:g} and at most {high:g}"

    def parse(value: Any, key: str, base: Path) -> float:
        number = as_float(value, key, base)
        if number < low or (above_low and number == low) or number > high:
            raise ConfigError(f"{key} must be a number {bounds}, got {number:g}")
        return number

    return parse


def whole_number_in(low: int, high: int) -> Parser[int]:
    """A whole number from ``low`` to ``high`` (``3`` and ``3.0`` and ``"3"`` from a variable alike)."""

    def parse(value: Any, key: str, base: Path) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number: float = value
        else:
            number = as_float(value, key, base)
            if not number.is_integer():
                raise ConfigError(f"{key} must be a whole number from {low} to {high}, got {number:g}")
        if not low <= number <= high:
            digits = str(number)
            shown = (
                f"{number:g}"
                if isinstance(number, float)
                else digits
                if len(digits) < 20
                else "too many digits"
            )
            raise ConfigError(f"{key} must be a whole number from {low} to {high}, got {shown}")
        return int(number)

    return parse


#: any duration, count or budget opscheck waits for or compares with: positive and finite, and small
#: enough that no timedelta or C timeout overflows
as_positive_float = number_in(0, 1e9, above_low=True)
#: seconds one network operation (or a notification) may take
as_timeout_s = number_in(0, 3600, above_low=True)


def as_str_list(value: Any, key: str, base: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _type_error(key, "a list of strings", value)
    return list(value)


def as_str_map(value: Any, key: str, base: Path) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _type_error(key, "a table of strings", value)
    return dict(value)


def as_int_map(value: Any, key: str, base: Path) -> dict[str, int]:
    if not isinstance(value, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63 for v in value.values()
    ):
        raise _type_error(key, "a table of whole numbers from 0 to 2**63-1", value)
    return dict(value)


def as_base_url(value: Any, key: str, base: Path) -> str:
    """An http(s) URL with a host; the message says what is wrong, never the value (it may hold userinfo)."""
    text = as_str(value, key, base)
    parts = urlsplit(text) if text.isprintable() and not any(c.isspace() for c in text) else None
    if parts is None:
        problem = "it contains whitespace or control characters"
    elif parts.scheme.lower() not in {"http", "https"}:
        problem = f"its scheme is {parts.scheme!r}" if parts.scheme else "it has no scheme"
    elif not parts.hostname:
        problem = "it has no host"
    else:
        try:
            parts.port  # noqa: B018 - raises ValueError when the port is not a number from 0 to 65535
        except ValueError:
            problem = "its port is not a number from 1 to 65535"
        else:
            return text
    raise ConfigError(f"{key} must be an http:// or https:// URL with a host, but {problem}")


def as_connection_string(value: Any, key: str, base: Path) -> Secret:
    """A credential-bearing connection string; an empty one is no connection string at all."""
    secret = as_secret(value, key, base)
    if not secret.reveal().strip():
        raise ConfigError(f"{key} is empty: an empty connection string counts as not set; give one")
    return secret


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\r\n\x00]")


def as_secret_headers(value: Any, key: str, base: Path) -> dict[str, Secret]:
    """Request headers (name -> value); every value is a credential (a bypass token, an API key)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{key} must be a table of header names to strings, got {type(value).__name__}")
    headers: dict[str, Secret] = {}
    for name, text in value.items():
        if not _HEADER_NAME.match(name):
            raise ConfigError(f"{key}: {name!r} is not a valid HTTP header name")
        if not isinstance(text, str):  # the message must not echo what may be a credential
            raise ConfigError(f"{key}.{name} must be a string, got {type(text).__name__}")
        if _HEADER_VALUE_FORBIDDEN.search(text):
            raise ConfigError(f"{key}.{name} must be one line (it holds a line break or NUL)")
        headers[name] = Secret(text)
    return headers


def as_optional_path(value: Any, key: str, base: Path) -> Path | None:
    text = as_str(value, key, base).strip()
    if not text:
        return None
    path = Path(text).expanduser()
    return path if path.is_absolute() else (base / path)


def as_choice(*choices: str) -> Parser[str]:
    def parse(value: Any, key: str, base: Path) -> str:
        text = as_str(value, key, base)
        if text not in choices:
            raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {text!r}")
        return text

    return parse


def as_url_path(value: Any, key: str, base: Path) -> str:
    """A path on the site (``/auth``): starts with ``/``, no scheme or host, no query."""
    text = as_str(value, key, base).strip()
    if not text.startswith("/") or text.startswith("//") or "?" in text or "#" in text:
        raise ConfigError(
            f"{key} must be a path on the site starting with '/' (e.g. \"/auth\"), got {text!r}"
        )
    return text


def as_optional_url_path(value: Any, key: str, base: Path) -> str:
    """:func:`as_url_path`, or "" for "not set" (detect it)."""
    return as_url_path(value, key, base) if as_str(value, key, base).strip() else ""


def as_health_path(value: Any, key: str, base: Path) -> str | None:
    """The health endpoint's path, or None for ``false`` (the app has none). An empty path is an error: it
    would silently probe the home page."""
    if value is False or (isinstance(value, str) and value.strip().lower() == "false"):
        return None
    if value is True:
        raise ConfigError(
            f'{key} must be a path (e.g. "/api/health") or false (no health endpoint), got true'
        )
    if isinstance(value, str) and not value.strip():
        raise ConfigError(
            f'{key} is empty: give the health endpoint\'s path (e.g. "/api/health"), or {key} = false if the '
            "app has none (an empty path would silently check the home page instead)"
        )
    return as_url_path(value, key, base)


def as_table_list(value: Any, key: str, base: Path) -> list[str]:
    names = as_str_list(value, key, base)
    for name in names:
        _table_name(name, key)
    return names


def as_table_map(value: Any, key: str, base: Path) -> dict[str, int]:
    counts = as_int_map(value, key, base)
    for name in counts:
        _table_name(name, key)
    return counts


def _table_name(name: str, key: str) -> None:
    try:
        parse_table_name(name)
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from None
