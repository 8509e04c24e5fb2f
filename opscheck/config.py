"""``opscheck.toml`` → typed, validated environment settings.

The file is validated when it is loaded (TOML syntax with file and line, unknown keys with the nearest
valid spelling, value types). ``${NAME}`` and ``${NAME:-default}`` are resolved *lazily*, when a check
reads the value: an unset variable errors only the checks that need it, with a message naming the
variable and the key. A section an environment does not configure makes the checks that need it skip.

Suites read settings as attributes (``opscheck_env.smoke.pages``), never as dictionary lookups.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, overload
from urllib.parse import urlsplit

from opscheck.errors import ConfigError, SectionNotConfigured, SettingMissing, UsageError
from opscheck.restore.tablenames import parse_table_name
from opscheck.secrets import Secret, url_secrets
from opscheck.smoke.pages import PageExpectation, page_paths, parse_pages

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

T = TypeVar("T")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_REQUIRED: Any = object()
#: tables and arrays nested deeper than this are no configuration opscheck knows (and would exhaust the stack)
MAX_NESTING = 16


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


# ---------------------------------------------------------------------------------------------------
# Value parsers: (value, key, base_dir) -> typed value, raising ConfigError naming the key
# ---------------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------------
# Settings: a descriptor per key, resolved on access
# ---------------------------------------------------------------------------------------------------
class Setting(Generic[T]):
    """One key of a config section: its parser, default, and whether its value is a credential."""

    def __init__(
        self,
        parse: Parser[T],
        default: Any = _REQUIRED,
        *,
        secret: bool = False,
        secret_path: bool = False,
        doc: str = "",
    ):
        self.parse = parse
        self.default = default
        self.secret = secret or secret_path
        self.secret_path = secret_path  # a URL whose path is the credential (Slack-style webhooks)
        self.doc = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    @overload
    def __get__(self, obj: None, objtype: type) -> Setting[T]: ...
    @overload
    def __get__(self, obj: Section, objtype: type) -> T: ...
    def __get__(self, obj: Section | None, objtype: type) -> Setting[T] | T:
        if obj is None:
            return self
        return obj.resolve(self)


@dataclass(repr=False)
class Section:
    """A table of ``opscheck.toml``; subclasses declare their keys as :class:`Setting` attributes.

    Its repr names the table only: values and the process environment never reach a log or ``--debug``.
    """

    raw: Mapping[str, Any]
    key: str
    environment: str
    base_dir: Path
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    optional: ClassVar[bool] = False

    @classmethod
    def settings(cls) -> dict[str, Setting[Any]]:
        found: dict[str, Setting[Any]] = {}
        for klass in reversed(cls.__mro__):
            found.update({k: v for k, v in vars(klass).items() if isinstance(v, Setting)})
        return found

    def resolve(self, setting: Setting[T]) -> T:
        key = f"{self.key}.{setting.name}"
        if setting.name not in self.raw:
            if setting.required:
                raise SectionNotConfigured(key, self.environment)
            return setting.default  # type: ignore[no-any-return]
        value = expand_all(self.raw[setting.name], key, self.environ, empty_is_unset=setting.secret)
        return setting.parse(value, key, self.base_dir)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key}>"

    def is_set(self, name: str) -> bool:
        """Whether the key is present in the file (regardless of whether its variables are set)."""
        return name in self.raw

    def validate(self) -> None:
        """Check types of the values that need no environment variable; reject unknown keys."""
        known = self.settings()
        for name, value in self.raw.items():
            if name not in known:
                raise _unknown_key(f"{self.key}.{name}", name, known)
            check_references(value, f"{self.key}.{name}")
            if variables_in(value):
                continue
            known[name].parse(value, f"{self.key}.{name}", self.base_dir)

    def credential_values(self) -> Iterator[str]:
        """What the redactor must know from this table, with unset variables passed over: the values
        of credential keys (and the path of a webhook-style URL), and the secrets inside any URL or
        path value (a password in ``base_url``, ``?access_token=…`` in a page path)."""
        for name, setting in self.settings().items():
            if name not in self.raw:
                continue
            try:
                value = expand_all(self.raw[name], f"{self.key}.{name}", self.environ)
            except SettingMissing:
                continue
            for text in _strings(value):
                if setting.secret:
                    yield text
                if setting.secret_path and "://" in text:
                    yield _url_path(text)
                yield from url_secrets(text)


def _strings(value: Any) -> Iterator[str]:
    """Every string in a value, also inside lists and tables."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _url_path(url: str) -> str:
    try:
        return urlsplit(url).path
    except ValueError:
        return ""


def _unknown_key(key: str, name: str, known: Mapping[str, object]) -> ConfigError:
    near = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {near[0]!r}?" if near else f"; valid keys: {', '.join(sorted(known))}"
    return ConfigError(f"unknown key {key}{hint}")


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


class SmokeSettings(Section):
    health_path = Setting(
        as_health_path, "/api/health", doc="health endpoint path, or false if there is none"
    )
    health_expect = Setting(
        as_choice("json-ok", "status"),
        "json-ok",
        doc='"json-ok": a JSON document with an ok status; "status": HTTP 200 is enough',
    )
    pages = Setting(
        page_paths, ["/"], doc="pages that must answer 200: paths or { path, contains, not_contains }"
    )
    max_latency_ms = Setting(
        number_in(0, 3_600_000, above_low=True), 1500.0, doc="latency budget per request"
    )
    tls_min_days = Setting(number_in(0, 3650), 14.0, doc="minimum days of certificate validity left")
    security_headers = Setting(as_bool, True, doc="check HSTS, nosniff, framing and Referrer-Policy")
    version_wait_s = Setting(
        number_in(0, 3600), 120.0, doc="how long to wait for expected_version to be deployed"
    )

    @property
    def page_expectations(self) -> dict[str, PageExpectation]:
        """Each page's ``contains`` / ``not_contains`` (entries of ``pages`` given as tables), by path."""
        key = f"{self.key}.pages"
        raw = expand_all(self.raw.get("pages", ["/"]), key, self.environ)
        return {page.path: page for page in parse_pages(raw, key)}


class DatabaseSettings(Section):
    optional = True
    url = Setting(as_connection_string, secret=True, doc="PostgreSQL URL, always opened read-only")
    max_latency_ms = Setting(number_in(0, 3_600_000, above_low=True), 1000.0, doc="connect + SELECT 1 budget")


class CacheSettings(Section):
    optional = True
    redis_url = Setting(as_connection_string, secret=True, doc="Redis URL")


class BackupSettings(Section):
    optional = True
    location = Setting(as_str, doc="s3://bucket/prefix/, file:///abs/dir or a relative dir")
    s3_endpoint_url = Setting(as_str, "", doc="S3-compatible endpoint")
    region = Setting(as_str, "", doc="AWS region of the bucket")
    rpo_hours = Setting(number_in(0, 87_600, above_low=True), 24.0, doc="at most 10 years")
    rto_minutes = Setting(number_in(0, 525_600, above_low=True), 120.0, doc="at most a year")
    retention_days = Setting(number_in(0, 36_500, above_low=True), 30.0, doc="at most 100 years")


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


class RestoreSettings(Section):
    provider = Setting(as_choice("auto", "testcontainers", "local"), "auto")
    image = Setting(as_str, "postgres:16")
    expect_tables = Setting(
        as_table_list,
        ["User", "Account", "Session", "_prisma_migrations"],
        doc="exact table names, optionally schema.table (unqualified: public)",
    )
    min_rows = Setting(as_table_map, {}, doc="exact table name ([schema.]table, case kept) -> least rows")
    roles = Setting(as_str_list, [], doc="roles the recovery procedure creates before loading a dump")


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


class AuthSettings(Section):
    optional = True
    username = Setting(as_str, doc="synthetic smoke user")
    password = Setting(as_secret, secret=True, doc="smoke user's password")
    expected_providers = Setting(as_str_list, ["credentials"])
    protected_paths = Setting(as_str_list, [])
    fail_on_jwt_replay = Setting(as_bool, False)
    base_path = Setting(as_url_path, "/api/auth", doc="where NextAuth's routes are (v5 apps often use /auth)")
    session_cookie = Setting(as_str, "", doc="session cookie name; default: found from a successful sign-in")
    signin_path = Setting(
        as_optional_url_path,
        "",
        doc="where protected paths send visitors without a session; default: detected",
    )
    flavor = Setting(as_choice("auto", "v4", "v5"), "auto", doc="next-auth 4 or Auth.js v5; auto: detected")


class CredentialsSettings(Section):
    optional = True  # absent: skip, rather than judge whatever environment pytest happens to run in
    env_file = Setting(as_optional_path, None, doc="dotenv file; default: the process environment")
    required = Setting(as_str_list, ["DATABASE_URL", "NEXTAUTH_SECRET", "NEXTAUTH_URL", "SENTRY_DSN"])


class NotifySettings(Section):
    optional = True
    webhook_url = Setting(
        as_secret, Secret(""), secret_path=True, doc="receives a JSON post per new or resolved failure"
    )
    slack_webhook_url = Setting(as_secret, Secret(""), secret_path=True, doc="Slack incoming webhook")
    pagerduty_routing_key = Setting(as_secret, Secret(""), secret=True, doc="PagerDuty Events API v2 key")
    pagerduty_url = Setting(as_str, "https://events.pagerduty.com/v2/enqueue", doc="Events API v2 endpoint")
    min_severity = Setting(as_choice("P0", "P1", "P2", "P3"), "P1")
    timeout_s = Setting(as_timeout_s, 5.0)


class MetricsSettings(Section):
    optional = True
    pushgateway_url = Setting(as_str, "", doc="Prometheus Pushgateway pushed to at the end of every run")
    textfile_dir = Setting(as_optional_path, None, doc="directory for node_exporter's textfile collector")
    job = Setting(as_str, "opscheck", doc="Pushgateway job name")
    timeout_s = Setting(as_positive_float, 5.0, doc="bound on each push")


class EnvironmentSettings(Section):
    """The top-level keys of ``[environments.NAME]``."""

    base_url = Setting(as_base_url, doc="the deployed app")
    production = Setting(as_bool, False, doc="never anything destructive")
    runbook = Setting(as_optional_path, None, doc="markdown runbook remediation text is taken from")
    runbook_url = Setting(as_str, "", doc="where people read the runbook (links get #section)")
    expected_version = Setting(as_str, "", doc="version /api/health must report")
    ca_bundle = Setting(as_optional_path, None, doc="PEM file for private CAs")
    timeout_s = Setting(as_timeout_s, 10.0, doc="bounds each request as a whole")
    max_body_mb = Setting(as_positive_float, 10.0, doc="largest response body read, in MB")
    retries = Setting(whole_number_in(0, 10), 3, doc="attempts for transient network errors")
    runbook_sections = Setting(as_str_map, {}, doc="section slug -> your runbook's heading")
    headers = Setting(as_secret_headers, {}, secret=True, doc="sent with every request; values are secrets")


SECTIONS: dict[str, type[Section]] = {
    "smoke": SmokeSettings,
    "database": DatabaseSettings,
    "cache": CacheSettings,
    "backups": BackupSettings,
    "restore": RestoreSettings,
    "auth": AuthSettings,
    "credentials": CredentialsSettings,
    "notify": NotifySettings,
    "metrics": MetricsSettings,
}


class Environment(EnvironmentSettings):
    """The selected environment's settings; each section is a typed attribute."""

    name: str = ""
    #: where ``base_url`` comes from: the config file, or ``--base-url`` / ``OPSCHECK_BASE_URL``
    base_url_source: str = "config"
    _base_url_override: str | None = None

    def with_base_url(self, url: str, source: str) -> Environment:
        """This environment aimed at ``url`` instead of its configured ``base_url``."""
        env = Environment(self.raw, self.key, self.environment, self.base_dir, self.environ)
        env.name = self.name
        env.base_url_source = source
        env._base_url_override = url
        return env

    def resolve(self, setting: Setting[T]) -> T:
        if setting.name == "base_url" and self._base_url_override is not None:
            return self._base_url_override  # type: ignore[return-value]
        return super().resolve(setting)

    def section(self, name: str) -> Section:
        cls = SECTIONS[name]
        key = f"{self.key}.{name}"
        raw = self.raw.get(name)
        if raw is None:
            if cls.optional:
                raise SectionNotConfigured(f"[{key}]", self.environment)
            raw = {}
        return cls(raw, key, self.environment, self.base_dir, self.environ)

    def has(self, name: str) -> bool:
        return isinstance(self.raw.get(name), dict)

    @property
    def max_body_bytes(self) -> int:
        """``max_body_mb`` in bytes (decimal megabytes): the cap on every response body read."""
        return round(self.max_body_mb * 1_000_000)

    @property
    def smoke(self) -> SmokeSettings:
        return self.section("smoke")  # type: ignore[return-value]

    @property
    def database(self) -> DatabaseSettings:
        return self.section("database")  # type: ignore[return-value]

    @property
    def cache(self) -> CacheSettings:
        return self.section("cache")  # type: ignore[return-value]

    @property
    def backups(self) -> BackupSettings:
        return self.section("backups")  # type: ignore[return-value]

    @property
    def restore(self) -> RestoreSettings:
        return self.section("restore")  # type: ignore[return-value]

    @property
    def auth(self) -> AuthSettings:
        return self.section("auth")  # type: ignore[return-value]

    @property
    def credentials(self) -> CredentialsSettings:
        return self.section("credentials")  # type: ignore[return-value]

    @property
    def notify(self) -> NotifySettings:
        return self.section("notify")  # type: ignore[return-value]

    @property
    def metrics(self) -> MetricsSettings:
        return self.section("metrics")  # type: ignore[return-value]

    @property
    def is_https(self) -> bool:
        return self.base_url.lower().startswith("https://")

    def validate(self) -> None:
        known: dict[str, object] = {**self.settings(), **SECTIONS}
        for name, value in self.raw.items():
            if name in SECTIONS:
                if not isinstance(value, dict):
                    raise ConfigError(f"{self.key}.{name} must be a table ([{self.key}.{name}])")
                SECTIONS[name](value, f"{self.key}.{name}", self.environment, self.base_dir).validate()
            elif name not in known:
                raise _unknown_key(f"{self.key}.{name}", name, known)
            else:
                check_references(value, f"{self.key}.{name}")
                if not variables_in(value):
                    self.settings()[name].parse(value, f"{self.key}.{name}", self.base_dir)

    def credential_values(self) -> Iterator[str]:
        yield from super().credential_values()
        for name in SECTIONS:
            if self.has(name):
                yield from self.section(name).credential_values()


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
            raise ConfigError(f"{path}: {_unknown_key(name, name, {'environments': None})}")
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
