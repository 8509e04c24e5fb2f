"""``Set-Cookie`` headers: one parser and one rule for which cookie values are secrets.

Every code path that sees a cookie (the probes' :class:`~opscheck.clients.http.OpsClient`, the NextAuth client,
another xdist worker's responses) goes through :func:`parse_set_cookie`, so whether a value is redacted, and in
which forms, never depends on which path saw it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote

from opscheck.secrets import redactor

if TYPE_CHECKING:
    import httpx

__all__ = [
    "CALLBACK_URL_COOKIE",
    "COOKIE_PREFIXES",
    "MAX_COOKIE_BYTES",
    "SECRET_COOKIE",
    "SIGN_IN_HELPER_COOKIE",
    "SetCookie",
    "is_secret_cookie",
    "parse_set_cookie",
    "register_cookie_secrets",
    "register_cookie_value",
    "unprefixed",
]

#: the largest cookie (name=value) every browser keeps; larger ones are dropped silently
MAX_COOKIE_BYTES = 4096
#: the name prefixes browsers enforce attributes for (``__Secure-``: Secure; ``__Host-``: Secure, Path=/, no Domain)
COOKIE_PREFIXES: Final = ("__Secure-", "__Host-")
_CHUNK = re.compile(r"^(?P<base>.+?)\.(?P<index>\d+)$")

#: the cookies a sign-in sets around the session cookie, the callback URL's aside: CSRF, PKCE, state and
#: nonce (NextAuth's names and the usual custom spellings)
_SIGN_IN_CREDENTIALS = r"csrf|pkce|code[-_.]?verifier|state|nonce"
#: names of cookies that carry a credential: session, CSRF, tokens, and the PKCE/state/nonce cookies a
#: sign-in sets
SECRET_COOKIE: Final = re.compile(rf"session|token|auth|sid|jwt|{_SIGN_IN_CREDENTIALS}", re.IGNORECASE)
#: the one cookie a sign-in sets that carries no credential: the page to return to
CALLBACK_URL_COOKIE: Final = re.compile(r"callback[-_.]?url", re.IGNORECASE)
#: the cookies a sign-in sets besides the session cookie
SIGN_IN_HELPER_COOKIE: Final = re.compile(
    rf"{CALLBACK_URL_COOKIE.pattern}|{_SIGN_IN_CREDENTIALS}", re.IGNORECASE
)


def unprefixed(name: str) -> str:
    """``name`` without its ``__Secure-`` or ``__Host-`` prefix."""
    for prefix in COOKIE_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


@dataclass(frozen=True)
class SetCookie:
    """One ``Set-Cookie`` header. Its value never shows in ``repr`` or :meth:`describe`."""

    name: str
    value: str = field(repr=False)
    #: attribute names in lower case; flags (``HttpOnly``, ``Secure``) map to ""
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return next((p for p in COOKIE_PREFIXES if self.name.startswith(p)), "")

    @property
    def base_name(self) -> str:
        """The name without ``__Secure-``/``__Host-`` prefix and without a chunk suffix (``.0``)."""
        base = unprefixed(self.name)
        chunk = _CHUNK.match(base)
        return chunk.group("base") if chunk else base

    @property
    def helper(self) -> bool:
        """A CSRF, callback-URL, PKCE, state or nonce cookie: set around a sign-in, never the session."""
        return bool(SIGN_IN_HELPER_COOKIE.search(self.base_name))

    @property
    def http_only(self) -> bool:
        return "httponly" in self.attributes

    @property
    def secure(self) -> bool:
        return "secure" in self.attributes

    @property
    def same_site(self) -> str | None:
        value = self.attributes.get("samesite")
        return value.lower() if value else None

    @property
    def path(self) -> str | None:
        return self.attributes.get("path")

    @property
    def domain(self) -> str | None:
        return self.attributes.get("domain") or None

    @property
    def max_age(self) -> int | None:
        raw = self.attributes.get("max-age")
        try:
            return int(raw) if raw is not None else None
        except ValueError:
            return None

    @property
    def expires(self) -> datetime | None:
        raw = self.attributes.get("expires")
        if not raw:
            return None
        with contextlib.suppress(TypeError, ValueError, IndexError):
            parsed = parsedate_to_datetime(raw)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return None

    @property
    def clears(self) -> bool:
        """Whether this header deletes the cookie (empty value, ``Max-Age<=0`` or an expiry in the past)."""
        if not self.value:
            return True
        if self.max_age is not None:
            return self.max_age <= 0
        expires = self.expires
        return expires is not None and expires <= datetime.now(UTC)

    @property
    def size(self) -> int:
        """Bytes of ``name=value``, what browsers hold against their 4096-byte limit."""
        return len(self.name.encode()) + 1 + len(self.value.encode())

    def describe(self) -> str:
        """The header without its value: ``name=…; Path=/; HttpOnly; SameSite=Lax``."""
        parts = [f"{self.name}=…"]
        for key, value in self.attributes.items():
            label = _ATTRIBUTE_LABELS.get(key, key)
            parts.append(f"{label}={value}" if value else label)
        return "; ".join(parts)


_ATTRIBUTE_LABELS = {
    "httponly": "HttpOnly",
    "secure": "Secure",
    "samesite": "SameSite",
    "path": "Path",
    "domain": "Domain",
    "max-age": "Max-Age",
    "expires": "Expires",
    "partitioned": "Partitioned",
    "priority": "Priority",
}


def parse_set_cookie(header: str, *, set_by_sign_in: bool = False) -> SetCookie:
    """Parse one ``Set-Cookie`` header, registering its value as a secret when it may be a credential
    (see :func:`register_cookie_value`).

    Parsed by hand: ``http.cookies.SimpleCookie`` silently drops a cookie whose value it finds invalid (a
    space, a backslash, JSON quotes), which would leave a session value unregistered. The value loses its
    surrounding quotes; attribute names are lower-cased, and flags such as ``HttpOnly`` map to "".
    """
    pair, _, rest = header.partition(";")
    name, _, value = pair.partition("=")
    name, value = name.strip(), value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    attributes: dict[str, str] = {}
    for item in rest.split(";"):
        key, _, attr = item.partition("=")
        key = key.strip().lower()
        if key:
            attributes[key] = attr.strip()
    register_cookie_value(name, value, set_by_sign_in=set_by_sign_in)
    return SetCookie(name, value, attributes)


def register_cookie_secrets(headers: httpx.Headers) -> None:
    """Register the session/CSRF cookie values ``headers`` set as secrets (also for responses another
    xdist worker received: see :class:`~opscheck.run.share.RunShare`)."""
    for header in headers.get_list("set-cookie"):
        parse_set_cookie(header)


def is_secret_cookie(name: str, *, set_by_sign_in: bool = False) -> bool:
    """Whether the cookie ``name`` may carry a credential. A cookie the auth endpoints set during a
    sign-in (``set_by_sign_in``) is one whatever its name, except the callback URL."""
    if CALLBACK_URL_COOKIE.search(name):
        return False
    return set_by_sign_in or bool(SECRET_COOKIE.search(name))


def register_cookie_value(name: str, value: str, *, set_by_sign_in: bool = False) -> None:
    """Register a cookie value that may be a credential, in its raw and URL-decoded forms and its parts
    (the NextAuth v4/v5 CSRF cookie is ``token|sha256(token + secret)``)."""
    if not value or not is_secret_cookie(name, set_by_sign_in=set_by_sign_in):
        return
    r = redactor()
    decoded = unquote(value)
    r.add(value)
    r.add(decoded)
    for part in decoded.split("|"):
        r.add(part)
