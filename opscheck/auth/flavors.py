"""The NextAuth versions opscheck talks to (next-auth v4, Auth.js v5), the conventions each answers with,
and how the version behind a server is told from what it says (unless ``auth.flavor`` names it):

==================  ==============================  ==================================
                    next-auth v4                    Auth.js v5
==================  ==============================  ==================================
cookies             ``next-auth.session-token`` …   ``authjs.session-token`` …
JSON, not redirect  form field ``json=true``        header ``X-Auth-Return-Redirect: 1``
no session          ``{}``                          ``null``
==================  ==============================  ==================================

On https the session and callback cookies carry the ``__Secure-`` prefix and the CSRF cookie ``__Host-``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from opscheck.clients.cookies import SetCookie, unprefixed

__all__ = [
    "FLAVOR_BY_NAME",
    "FLAVOR_NAMES",
    "SERVER_CONFIG_PROBLEM",
    "V4",
    "V5",
    "Flavor",
    "FlavorName",
    "ask_for_json",
    "cookie_kind",
    "detect_flavor",
    "flavor_of_server_error",
]

#: what NextAuth's 500 page says when it refuses its configuration (both versions, lower case)
SERVER_CONFIG_PROBLEM = "problem with the server configuration"
_COOKIE_KINDS = ("session-token", "csrf-token", "callback-url")


#: the version as ``auth.flavor`` spells it
FlavorName = Literal["v4", "v5"]


@dataclass(frozen=True)
class Flavor:
    """One NextAuth major version and the conventions it answers with."""

    name: FlavorName
    label: str
    cookie_prefix: str

    def cookie_name(self, kind: str, *, secure: bool) -> str:
        """Default cookie name of ``kind`` (``session-token``, ``csrf-token``, ``callback-url``)."""
        prefix = ("__Host-" if kind == "csrf-token" else "__Secure-") if secure else ""
        return f"{prefix}{self.cookie_prefix}.{kind}"

    def json_mode(self) -> tuple[dict[str, str], dict[str, str]]:
        """(form fields, headers) that make the server answer ``{"url": ...}`` instead of redirecting."""
        if self is V5:
            return {}, {"X-Auth-Return-Redirect": "1"}
        return {"json": "true"}, {}

    def __str__(self) -> str:
        return self.label


V4 = Flavor("v4", "next-auth v4", "next-auth")
V5 = Flavor("v5", "Auth.js v5", "authjs")
_FLAVORS = (V4, V5)
#: each version by its ``auth.flavor`` spelling
FLAVOR_BY_NAME: Final[dict[str, Flavor]] = {flavor.name: flavor for flavor in _FLAVORS}
FLAVOR_NAMES: Final[tuple[FlavorName, ...]] = tuple(flavor.name for flavor in _FLAVORS)


def cookie_kind(cookie: SetCookie) -> str | None:
    """``session-token``, ``csrf-token``, ``callback-url`` or None for a cookie NextAuth does not own."""
    base = cookie.base_name
    return next((kind for kind in _COOKIE_KINDS if base.endswith(kind)), None)


def ask_for_json(flavor: Flavor | None, form: dict[str, str]) -> dict[str, str]:
    """Add to ``form`` the fields, and return the headers, that ask ``flavor`` (every flavour when not
    known yet) to answer a POST with ``{"url": ...}`` instead of a redirect."""
    headers: dict[str, str] = {}
    for candidate in (flavor,) if flavor else _FLAVORS:
        fields, extra = candidate.json_mode()
        form.update(fields)
        headers.update(extra)
    return headers


def _flavor_of_cookie(name: str) -> Flavor | None:
    base = unprefixed(name)
    for flavor in _FLAVORS:
        if base.startswith(f"{flavor.cookie_prefix}."):
            return flavor
    return None


def flavor_of_server_error(body: str) -> Flavor | None:
    """The version behind a 500 that reports a configuration problem: v4 says "There is a problem with the
    server configuration", Auth.js v5 (``@auth/core``) "There was a problem ..." (an outage sets no cookie)."""
    text = body.lower()
    if f"there was a {SERVER_CONFIG_PROBLEM}" in text:
        return V5
    if f"there is a {SERVER_CONFIG_PROBLEM}" in text:
        return V4
    return None


def detect_flavor(cookie_names: Iterable[str], session_body: Any = ...) -> Flavor | None:
    """The NextAuth version behind these cookie names, else behind an empty session body, else None."""
    for name in cookie_names:
        flavor = _flavor_of_cookie(name)
        if flavor is not None:
            return flavor
    if session_body is None:
        return V5
    if session_body == {}:
        return V4
    return None
