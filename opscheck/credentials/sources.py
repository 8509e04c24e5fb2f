"""Where an environment's variables come from: ``credentials.env_file`` (a dotenv file such as the output of
``vercel env pull``) or the process environment. Every secret value is registered with the redactor the
moment it is read."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from dotenv.parser import parse_stream

from opscheck.config import CredentialsSettings
from opscheck.credentials.exposure import MIN_NEEDLE_CHARS
from opscheck.errors import OpscheckError
from opscheck.secrets import is_secret_name, redactor, url_secrets

__all__ = ["CredentialSource", "EnvFileError", "load_source", "parse_env_file"]


class EnvFileError(OpscheckError):
    """``credentials.env_file`` is missing, unreadable or malformed: every check that reads it errors.

    The message names the file and, for a malformed line, its number; never a value.
    """


_ASSIGNMENT_NAME = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=(.*)$", re.DOTALL)


def _register(name: str, value: str | None) -> None:
    """Register ``value`` with the redactor if the name says it is a secret, or it is a URL with a password."""
    if not value:
        return
    if is_secret_name(name):
        redactor().add(value)
    redactor().add_all(url_secrets(value))


def _register_raw_line(line: str) -> None:
    """A malformed line may still hold a secret: register what follows its ``=``, and its longer words."""
    match = _ASSIGNMENT_NAME.match(line)
    rest = (match.group(2) if match else line).strip().strip("\"'")
    redactor().add_all([rest, *(word.strip("\"'") for word in rest.split() if len(word) >= MIN_NEEDLE_CHARS)])


def parse_env_file(path: Path) -> dict[str, str]:
    """The assignments of a dotenv file, in order (the last one wins); no ``${VAR}`` interpolation.

    Comments, ``export NAME=``, single and double quotes and multi-line quoted values are understood.
    A line that is not an assignment raises :class:`EnvFileError` with its line number (and the name
    it assigns, when one can be made out), after every value read so far has been registered as a
    secret. ``NAME`` alone on a line counts as set to an empty value.
    """
    where = f"credentials.env_file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvFileError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise EnvFileError(f"{where} is a directory, not a dotenv file") from None
    except PermissionError:
        raise EnvFileError(f"{where} cannot be read: permission denied (uid {os.getuid()})") from None
    except UnicodeDecodeError as exc:
        raise EnvFileError(f"{where} is not UTF-8 text (undecodable byte at offset {exc.start})") from None
    except OSError as exc:
        raise EnvFileError(f"{where} cannot be read: {exc.strerror}") from None
    values: dict[str, str] = {}
    bad: list[str] = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            _register_raw_line(binding.original.string)
            match = _ASSIGNMENT_NAME.match(binding.original.string)
            named = f" ({match.group(1)})" if match else ""
            bad.append(f"line {binding.original.line}{named}")
            continue
        if binding.key is None:
            continue
        _register(binding.key, binding.value)
        values[binding.key] = binding.value or ""
    if bad:
        raise EnvFileError(
            f"{where}: {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not a valid dotenv assignment "
            "(expected NAME=value; check quotes and line continuations)"
        )
    return values


@dataclass(frozen=True)
class CredentialSource:
    """Where an environment's variables were read from, and what they are."""

    values: Mapping[str, str]
    origin: str
    path: Path | None = None

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def value(self, name: str) -> str:
        """The value of a variable that must be set; a skip naming the variable otherwise."""
        value = self.values.get(name)
        if value is None or not value.strip():
            pytest.skip(f"{name} is not set in {self.origin}: nothing to check")
        return value

    def __repr__(self) -> str:
        return f"CredentialSource({self.origin}, {len(self.values)} variables)"


def load_source(settings: CredentialsSettings, environ: Mapping[str, str] | None = None) -> CredentialSource:
    """The variables of ``credentials.env_file`` if set, else of the process environment."""
    path = settings.env_file
    if path is None:
        values = dict(os.environ if environ is None else environ)
        for name, value in values.items():
            _register(name, value)
        return CredentialSource(values, "the process environment")
    return CredentialSource(parse_env_file(path), f"env file {path}", path)


# ========================================================================================== findings
