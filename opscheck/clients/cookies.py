"""``Set-Cookie`` headers: one parser and one rule for which cookie values are secrets.

Every code path that sees a cookie (the probes' :class:`~opscheck.clients.http.OpsClient`, the NextAuth client,
another xdist worker's responses) goes through :func:`register_cookie_value`, so whether a value is
redacted, and in which forms, never depends on which path saw it.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote

from opscheck.secrets import redactor

__all__ = [
    "CALLBACK_URL_COOKIE",
    "SECRET_COOKIE",
    "is_secret_cookie",
    "register_cookie_value",
    "split_set_cookie",
]

#: names of cookies that carry a credential: session, CSRF, tokens, and the PKCE/state/nonce cookies a
#: sign-in sets (NextAuth's names and the usual custom spellings)
SECRET_COOKIE: Final = re.compile(
    r"session|csrf|token|auth|sid|jwt|pkce|code[-_.]?verifier|state|nonce", re.IGNORECASE
)
#: the one cookie a sign-in sets that carries no credential: the page to return to
CALLBACK_URL_COOKIE: Final = re.compile(r"callback[-_.]?url", re.IGNORECASE)


def split_set_cookie(header: str) -> tuple[str, str, dict[str, str]]:
    """One ``Set-Cookie`` header → (name, value without quotes, attributes with lower-case names; flags
    such as ``HttpOnly`` map to ""). Parsed by hand: ``http.cookies.SimpleCookie`` silently drops a cookie
    whose value it finds invalid (a space, a backslash, JSON quotes), which would leave a session value
    unregistered."""
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
    return name, value, attributes


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
