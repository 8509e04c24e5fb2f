"""The selected environment: the top-level keys of ``[environments.NAME]``, and each of its tables
(``smoke``, ``database``, …) as a typed attribute that is read, expanded and parsed on access."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar, cast

from opscheck.config import sections
from opscheck.config.expansion import check_references, variables_in
from opscheck.config.schema import Attribute, Section, Setting, unknown_key
from opscheck.config.values import (
    as_base_url,
    as_bool,
    as_optional_path,
    as_positive_float,
    as_secret_headers,
    as_str,
    as_str_map,
    as_timeout_s,
    whole_number_in,
)
from opscheck.errors import ConfigError, SectionNotConfigured

__all__ = ["SECTIONS", "Environment", "EnvironmentSettings", "Table"]

T = TypeVar("T")
S = TypeVar("S", bound=Section)


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


class Table(Attribute["Environment", S]):
    """One table of an environment (``[environments.NAME.smoke]``) as a typed attribute of
    :class:`Environment`; a required table the file leaves out reads as empty, an optional one raises
    SectionNotConfigured."""

    def __init__(self, cls: type[S]):
        self.cls = cls

    def read(self, obj: Environment) -> S:
        return cast(S, obj.section(self.name))


class Environment(EnvironmentSettings):
    """The selected environment's settings; each section is a typed attribute."""

    smoke = Table(sections.SmokeSettings)
    database = Table(sections.DatabaseSettings)
    cache = Table(sections.CacheSettings)
    backups = Table(sections.BackupSettings)
    restore = Table(sections.RestoreSettings)
    auth = Table(sections.AuthSettings)
    credentials = Table(sections.CredentialsSettings)
    notify = Table(sections.NotifySettings)
    metrics = Table(sections.MetricsSettings)

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
                raise unknown_key(f"{self.key}.{name}", name, known)
            else:
                check_references(value, f"{self.key}.{name}")
                if not variables_in(value):
                    self.settings()[name].parse(value, f"{self.key}.{name}", self.base_dir)

    def credential_values(self) -> Iterator[str]:
        yield from super().credential_values()
        for name in SECTIONS:
            if self.has(name):
                yield from self.section(name).credential_values()


#: the tables an environment may have, by key, in the order they are documented
SECTIONS: dict[str, type[Section]] = {
    name: table.cls for name, table in vars(Environment).items() if isinstance(table, Table)
}
