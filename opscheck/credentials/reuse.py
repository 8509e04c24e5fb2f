"""No secret value shared by two environments: each environment's secrets (env file and config tables)
compared with the others' by a keyed hash, so a value is never shown."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import unquote

from opscheck.config import ConfigFile, Environment
from opscheck.config.environment import SECTIONS
from opscheck.config.expansion import expand
from opscheck.credentials.findings import Finding, variables_listed
from opscheck.credentials.sources import CredentialSource, EnvFileError, parse_env_file
from opscheck.errors import OpscheckError, SettingMissing
from opscheck.secrets import is_secret_name, redactor, url_password

__all__ = ["Reuse", "find_reuse"]


_MIN_COMPARED_CHARS: Final = 8
_NOT_COMPARED: Final = frozenset({"SENTRY_DSN", "NEXT_PUBLIC_SENTRY_DSN"})


def _secret_atoms(values: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """(label, secret) pairs worth comparing: secret-named values, and the passwords of URL values."""
    for name, value in values.items():
        if not value or name in _NOT_COMPARED or name.startswith("NEXT_PUBLIC_"):
            continue
        password = url_password(value)
        if password:
            yield f"{name} password", unquote(password)
        elif is_secret_name(name) and "://" not in value:
            yield name, value


def _config_atoms(env: Environment) -> Iterator[tuple[str, str, str]]:
    """(label, raw template, secret) for the credential keys of an environment's config tables."""
    for section_name in SECTIONS:
        if not env.has(section_name):
            continue
        section = env.section(section_name)
        for name, setting in section.settings().items():
            raw = section.raw.get(name)
            if not setting.secret or not isinstance(raw, str):
                continue
            key = f"{section.key}.{name}"
            try:
                value = expand(raw, key, section.environ)
            except SettingMissing:
                continue
            password = url_password(value)
            secret = unquote(password) if password else ("" if "://" in value else value)
            if secret:
                redactor().add(secret)
                yield key + (" password" if password else ""), raw, secret


@dataclass(frozen=True)
class Reuse:
    """The outcome of comparing one environment's secrets with the other environments'.

    ``shared``: (our variable or key, the other environment, its variable or key) for each value both use.
    """

    shared: tuple[tuple[str, str, str], ...]
    compared: tuple[str, ...]
    notes: tuple[str, ...]

    def finding(self) -> Finding:
        expected = "secrets of its own in every environment"
        if not self.compared:
            why = "; ".join(self.notes) or "it is the only environment in the config"
            return Finding("secrets", "not-reused", expected, skipped=f"nothing to compare with: {why}")
        ours = variables_listed(label for label, _, _ in self.shared) if self.shared else "secrets"
        seen = "; ".join(f"{label} is also {env}'s {theirs}" for label, env, theirs in self.shared)
        metrics = {"environments_compared": list(self.compared)}
        return Finding(ours, "not-reused", expected, seen or None, notes=self.notes, metrics=metrics)


def find_reuse(config: ConfigFile, current: str, source: CredentialSource) -> Reuse:
    """Secrets of environment ``current`` that another environment uses too.

    Compared are the secret-named variables (URL values by their password) of each environment's own
    env file, and the credential keys of each environment's config tables. Values are compared by a
    keyed BLAKE2 digest with a key made for this run; a value is never shown. An environment without
    an env file of its own (or with the same file) is not compared by its variables: its values would
    be this run's own.
    """
    key = secrets.token_bytes(32)

    def digest(secret: str) -> bytes:
        return hashlib.blake2b(secret.encode(), key=key, digest_size=32).digest()

    notes: list[str] = []
    ours: dict[bytes, list[str]] = {}
    for label, secret in _secret_atoms(source.values):
        if len(secret) >= _MIN_COMPARED_CHARS and not secret.isdigit():
            ours.setdefault(digest(secret), []).append(label)
    env = config.environment(current)
    our_templates: dict[bytes, set[str]] = {}
    for label, raw, secret in _config_atoms(env):
        if len(secret) >= _MIN_COMPARED_CHARS:
            ours.setdefault(digest(secret), []).append(label)
            our_templates.setdefault(digest(secret), set()).add(raw)

    shared: list[tuple[str, str, str]] = []
    compared: list[str] = []
    for name in sorted(config.environments):
        if name == current:
            continue
        other = config.environment(name)
        theirs: list[tuple[str, bytes, str | None]] = []
        file_path = _other_env_file(other, notes)
        if file_path is not None and file_path != source.path:
            try:
                values = parse_env_file(file_path)
            except EnvFileError as exc:
                notes.append(f"environment {name}: {exc}")
            else:
                theirs += [(label, digest(secret), None) for label, secret in _secret_atoms(values)]
        elif file_path is not None:
            notes.append(f"environment {name} reads the same env file: its variables are not compared")
        else:
            notes.append(f"environment {name} has no env file of its own: its variables are not compared")
        theirs += [(label, digest(secret), template) for label, template, secret in _config_atoms(other)]
        if not theirs:
            continue
        compared.append(name)
        for label, their_digest, their_template in theirs:
            if their_digest not in ours:
                continue
            if their_template is not None and their_template in our_templates.get(their_digest, set()):
                continue  # both environments name the same ${VARIABLE}: one value, not two
            shared += [(our_label, name, label) for our_label in ours[their_digest]]
    return Reuse(tuple(dict.fromkeys(shared)), tuple(compared), tuple(notes))


def _other_env_file(env: Environment, notes: list[str]) -> Path | None:
    if not env.has("credentials"):
        return None
    try:
        return env.credentials.env_file
    except OpscheckError as exc:
        notes.append(f"environment {env.name}: {exc}")
        return None
