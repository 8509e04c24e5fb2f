"""How a table of ``opscheck.toml`` is declared: a :class:`Setting` per key (its parser, default and
whether it holds a credential), resolved from a :class:`Section`'s raw table when a check reads it."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar, overload
from urllib.parse import urlsplit

from opscheck.config.expansion import check_references, expand_all, variables_in
from opscheck.config.values import Parser
from opscheck.errors import ConfigError, SectionNotConfigured, SettingMissing
from opscheck.secrets import url_secrets

__all__ = ["Attribute", "Section", "Setting", "unknown_key"]

T = TypeVar("T")
Owner = TypeVar("Owner")
_REQUIRED: Any = object()


class Attribute(Generic[Owner, T]):
    """A class attribute that knows its own name and is read from the instance on access (on the class,
    it is the descriptor itself): a :class:`Setting` of a section, a table of an environment."""

    name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, objtype: type) -> Self: ...
    @overload
    def __get__(self, obj: Owner, objtype: type) -> T: ...
    def __get__(self, obj: Owner | None, objtype: type) -> Self | T:
        return self if obj is None else self.read(obj)

    def read(self, obj: Owner) -> T:
        raise NotImplementedError


class Setting(Attribute["Section", T]):
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

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def read(self, obj: Section) -> T:
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
                raise unknown_key(f"{self.key}.{name}", name, known)
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


def unknown_key(key: str, name: str, known: Mapping[str, object]) -> ConfigError:
    """A ConfigError for an unknown key, with the nearest valid spelling (or the valid keys)."""
    near = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {near[0]!r}?" if near else f"; valid keys: {', '.join(sorted(known))}"
    return ConfigError(f"unknown key {key}{hint}")
