"""Secrets and the redactor that every output channel goes through.

A *secret* is any value opscheck must never print: credential values from the config file, process
environment variables whose names look secret, the password part of any URL, and session or CSRF cookie
values received at run time. Teams add more with the ``pytest_opscheck_secrets`` hook.

The redactor replaces each secret, and its URL-encoded, JSON-escaped and base64 forms, with ``***``.
One process-wide redactor is used so that log records, HTTP clients and report writers share it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

__all__ = [
    "MASK",
    "Redactor",
    "Secret",
    "mask_url",
    "redactor",
    "secret_env_values",
    "url_password",
]

MASK: Final = "***"

#: a value shorter than this is too common to scrub from every line of output without destroying it
MIN_SECRET_LENGTH: Final = 4
_NOT_SECRET_VALUES: Final = frozenset({"true", "false", "none", "null", "yes", "no", "on", "off"})
_SECRET_NAME = re.compile(
    r"(SECRET|PASSWORD|PASSWD|TOKEN|(^|_)KEY($|_)|PRIVATE|CREDENTIAL|DSN|DATABASE_URL|REDIS_URL|WEBHOOK|COOKIE)",
    re.IGNORECASE,
)
_NOT_SECRET_NAMES: Final = frozenset({"NEXTAUTH_URL", "AWS_ACCESS_KEY_ID", "PYTEST_XDIST_AUTO_NUM_WORKERS"})


class Secret:
    """A value that prints as ``***``: call :meth:`reveal` where the real value is needed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        redactor().add(value)

    def reveal(self) -> str:
        """The real value. Never log or format it."""
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _forms(value: str) -> set[str]:
    """The spellings under which a secret may show up in output."""
    raw = value.encode()
    forms = {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class Redactor:
    """Replaces every known secret, in all its forms, with ``***``. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | Secret | None) -> None:
        """Register a secret value; short or obviously non-secret values are ignored."""
        if isinstance(value, Secret):
            value = value.reveal()
        if not value or len(value) < MIN_SECRET_LENGTH or value.lower() in _NOT_SECRET_VALUES:
            return
        if _is_plain_url(value):
            return  # a URL with no password, query or fragment carries no secret; its host stays readable
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            self._pattern = None
        password = url_password(value)
        if password:
            self.add(password)
            self.add(unquote(password))

    def add_all(self, values: Iterable[str | Secret | None]) -> None:
        for value in values:
            self.add(value)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def __contains__(self, value: str) -> bool:
        return value in self._values

    def __len__(self) -> int:
        return len(self._values)

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                forms = set().union(*(_forms(v) for v in self._values))
                ordered = sorted(forms, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(f) for f in ordered))
            return self._pattern

    def scrub(self, text: str) -> str:
        """``text`` with every secret form replaced by ``***``.

        Occurrences that overlap (one secret's tail is another's head) are masked as one span, so no
        fragment of either is left behind.
        """
        pattern = self._compiled()
        if pattern is None or not text:
            return text
        spans: list[list[int]] = []
        match = pattern.search(text)
        while match is not None:
            start, end = match.span()
            if spans and start < spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
            match = pattern.search(text, start + 1)
        if not spans:
            return text
        pieces: list[str] = []
        position = 0
        for start, end in spans:
            pieces += [text[position:start], MASK]
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    def scrub_bytes(self, data: bytes) -> bytes:
        """Scrub a byte string that is (mostly) UTF-8 text; undecodable bytes are kept as they are."""
        if self._compiled() is None:
            return data
        text = data.decode("utf-8", errors="surrogateescape")
        return self.scrub(text).encode("utf-8", errors="surrogateescape")

    def scrub_obj(self, obj: Any) -> Any:
        """Scrub every string inside a JSON-like structure (dicts, lists, tuples)."""
        if isinstance(obj, str):
            return self.scrub(obj)
        if isinstance(obj, Mapping):
            return {self.scrub_obj(k): self.scrub_obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.scrub_obj(v) for v in obj)
        return obj


_REDACTOR = Redactor()


def redactor() -> Redactor:
    """The process-wide redactor."""
    return _REDACTOR


def _is_plain_url(value: str) -> bool:
    """``scheme://[user@]host[:port][/path]`` with no password, query or fragment."""
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^\s]+$", value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.hostname) and parts.password is None and not parts.query and not parts.fragment


def url_password(url: str) -> str | None:
    """The password part of a URL such as ``postgresql://user:pw@host/db``, if any."""
    if "://" not in url or "@" not in url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def mask_url(url: str) -> str:
    """``url`` with its password (and any query string) replaced by ``***``, safe for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}"
    query = MASK if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def is_secret_name(name: str) -> bool:
    """Whether an environment variable name says its value is a secret."""
    return name not in _NOT_SECRET_NAMES and bool(_SECRET_NAME.search(name))


def secret_env_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look secret, plus passwords inside any URL value."""
    environ = os.environ if environ is None else environ
    values: list[str] = []
    for name, value in environ.items():
        if is_secret_name(name):
            values.append(value)
        password = url_password(value)
        if password:
            values += dict.fromkeys((password, unquote(password)))
    return values
