"""The rules a variable's value must meet, judged from the value alone: set and not a placeholder,
NEXTAUTH_SECRET's key material, NEXTAUTH_URL, SENTRY_DSN and MAINTENANCE_MODE. A finding describes the value
only by its properties (its length in bytes, its scheme, which URL parts it has, the host it points at)."""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, urlsplit

from opscheck.credentials.findings import Finding
from opscheck.secrets import url_password

__all__ = [
    "FALSE_VALUES",
    "MIN_BITS_PER_BYTE",
    "MIN_KEY_BYTES",
    "MIN_TOTAL_BITS",
    "NEXTAUTH_DOCS_SAMPLE_SECRET",
    "SECRET_RULES",
    "SENTRY_DSN_RULES",
    "TRUE_VALUES",
    "URL_RULES",
    "KeyMaterial",
    "key_material",
    "maintenance_mode_finding",
    "nextauth_secret_finding",
    "nextauth_url_finding",
    "placeholder_kind",
    "required_finding",
    "sentry_dsn_finding",
    "shannon_entropy",
]


# ====================================================================================== placeholders

#: the example secret in NextAuth.js's documentation and example apps (copied into many deployments)
NEXTAUTH_DOCS_SAMPLE_SECRET: Final = "INp8IvdIyeMcoGAgFGoA61DdBglwwSqnXJZkgz8PSnw"  # noqa: S105 - published

_PLACEHOLDER_VALUES: Final = frozenset(
    {
        "changeme", "change-me", "change_me", "replaceme", "replace-me", "replace_me", "placeholder",
        "example", "todo", "tbd", "fixme", "xxx", "secret", "password", "test", "dummy", "none", "null",
        "undefined", "your-secret", "your_secret", "yoursecret", "your-secret-here", "-", "...",
    }
)  # fmt: skip
_PLACEHOLDER_WORDS: Final = frozenset({"changeme", "replaceme", "placeholder", "example"})
_WORK_MARKERS: Final = frozenset({"TODO", "FIXME", "TBD"})
_PLACEHOLDER_PASSWORDS: Final = frozenset({"password", "pass", "passwd", "secret", "changeme", "xxx"})
_ANGLE_PLACEHOLDER = re.compile(r"<[^<>\n]{1,80}>")
_RUN_OF_X = re.compile(r"[xX]{3,}")
_MASKED = re.compile(r"[*•.…]+")
_PLACEHOLDER_PHRASE = re.compile(
    r"change[-_ ]?me|replace[-_ ]?me|your[-_ ]?(?:own[-_ ]?)?(?:secret|password|key|token|dsn|url)"
    r"|(?:put|insert|paste)[-_ ]\w+[-_ ]here",
    re.IGNORECASE,
)
_TOKEN_SPLIT = re.compile(r"[^A-Za-z0-9]+")
_MIN_RANDOM_BYTES = 16


def placeholder_kind(value: str) -> str | None:
    """What kind of placeholder ``value`` is (words describing the rule, never the value), or None.

    Whole values (``changeme``, ``xxx``, ``********``), words inside a value (``https://example.com``,
    ``sk_TODO``), ``<…>`` segments, phrases (``your-secret-here``), the NextAuth docs' sample secret and
    placeholder passwords in URLs. Words are not looked for inside a value that decodes (hex, base64) to
    random-looking key material: a random key may spell ``+xXx+`` by chance.
    """
    text = value.strip().strip("\"'")
    if text == NEXTAUTH_DOCS_SAMPLE_SECRET:
        return "the sample secret from the NextAuth docs"
    if _ANGLE_PLACEHOLDER.search(text):
        return "an angle-bracket placeholder"
    if _MASKED.fullmatch(text):
        return "a masked value (asterisks or dots)"
    if text.lower() in _PLACEHOLDER_VALUES:
        return "a placeholder word"
    if _looks_random(key_material(text)):
        return None
    for token in _TOKEN_SPLIT.split(text):
        if token.lower() in _PLACEHOLDER_WORDS:
            return "a placeholder word"
        if token in _WORK_MARKERS:
            return "an unfinished-work marker"
        if _RUN_OF_X.fullmatch(token):
            return "a run of x's"
    if _PLACEHOLDER_PHRASE.search(text):
        return "a placeholder phrase"
    password = url_password(text)
    if password is not None and unquote(password).lower() in _PLACEHOLDER_PASSWORDS:
        return "a placeholder password in the URL"
    return None


def _looks_random(material: KeyMaterial) -> bool:
    """Decoded (hex or base64) material of 16 bytes or more with at least 80% of the entropy its length allows."""
    size = len(material.data)
    return (
        material.encoding != "raw"
        and size >= _MIN_RANDOM_BYTES
        and material.bits_per_byte >= 0.8 * math.log2(min(size, 256))
    )


def required_finding(name: str, value: str | None) -> Finding:
    """``name`` is present, not blank and not a placeholder."""
    expected = "a real value (present, not empty, not a placeholder)"
    if value is None:
        return Finding(name, "set", expected, "it is not set")
    if not value.strip():
        return Finding(name, "set", expected, "it is set but empty")
    kind = placeholder_kind(value)
    if kind is not None:
        return Finding(name, "placeholder", expected, f"a placeholder: {kind}")
    return Finding(name, "set", expected)


# =================================================================================== NEXTAUTH_SECRET

#: ``openssl rand -base64 32`` gives 32 bytes
MIN_KEY_BYTES: Final = 32
#: 32 random bytes have at least ~4.3 bits per byte of empirical Shannon entropy (seen: minimum over
#: 300 000 samples 4.33); repeats, counting sequences and most short phrases stay below
MIN_BITS_PER_BYTE: Final = 4.0
#: bits per byte x bytes: 32 random bytes give at least ~138
MIN_TOTAL_BITS: Final = 128.0

_DENY_LIST: Final = frozenset(
    phrase.lower()
    for phrase in (
        NEXTAUTH_DOCS_SAMPLE_SECRET,
        "secret", "supersecret", "super-secret", "super_secret", "mysecret", "my-secret", "my_secret",
        "nextauth", "nextauth-secret", "nextauth_secret", "nextauthsecret", "next-auth-secret",
        "development", "development-secret", "dev-secret", "devsecret", "test-secret", "testsecret",
        "production-secret", "changeme", "change-me", "password", "password123", "keyboard cat",
        "complex_password_at_least_32_characters_long",
        "this-is-a-secret-value-with-at-least-32-characters",
        "thisisasecretkeythatisatleast32characterslong",
        "your-secret-key", "your_secret_key", "secret-key", "secret_key", "secretkey",
        "a-very-long-and-random-secret", "random-string", "randomstring",
    )
)  # fmt: skip

_HEX = re.compile(r"[0-9a-fA-F]+")
_BASE64_STD = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_BASE64_URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_MIN_BASE64_CHARS = 16


@dataclass(frozen=True)
class KeyMaterial:
    """The bytes a secret string stands for, and how they were read from it."""

    data: bytes
    encoding: str

    @property
    def bits_per_byte(self) -> float:
        return shannon_entropy(self.data)

    @property
    def total_bits(self) -> float:
        return self.bits_per_byte * len(self.data)


def shannon_entropy(data: bytes) -> float:
    """Empirical Shannon entropy of ``data`` in bits per byte (0 for empty or constant data)."""
    if not data:
        return 0.0
    size = len(data)
    return max(0.0, -sum(count / size * math.log2(count / size) for count in Counter(data).values()))


def _base64_material(text: str) -> KeyMaterial | None:
    if len(text) < _MIN_BASE64_CHARS:
        return None
    if _BASE64_STD.fullmatch(text):
        encoding, altchars = "base64", b"+/"
    elif _BASE64_URL.fullmatch(text):
        encoding, altchars = "base64url", b"-_"
    else:
        return None
    body = text.rstrip("=")
    if len(body) % 4 == 1 or (body != text and len(text) % 4 != 0):
        return None
    try:
        data = base64.b64decode(body + "=" * (-len(body) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None
    return KeyMaterial(data, encoding)


def key_material(value: str) -> KeyMaterial:
    """The secret's bytes: hex-decoded if it is hex, base64-decoded if it is base64, else its UTF-8."""
    text = value.strip()
    if len(text) >= 2 and len(text) % 2 == 0 and _HEX.fullmatch(text):
        return KeyMaterial(bytes.fromhex(text), "hex")
    return _base64_material(text) or KeyMaterial(text.encode(), "raw")


SECRET_RULES: Final = ("key-material", "entropy", "deny-list")


def nextauth_secret_finding(rule: str, value: str, variable: str = "NEXTAUTH_SECRET") -> Finding:
    """One of :data:`SECRET_RULES` applied to the secret."""
    material = key_material(value)
    read_as = "raw text" if material.encoding == "raw" else f"{material.encoding}-decoded"
    if rule == "key-material":
        expected = f"at least {MIN_KEY_BYTES} bytes of key material (e.g. `openssl rand -base64 32`)"
        seen = None
        if len(material.data) < MIN_KEY_BYTES:
            seen = f"{len(material.data)} bytes ({read_as})"
        return Finding(variable, rule, expected, seen, metrics={"key_bytes": len(material.data)})
    if rule == "entropy":
        expected = (
            f"random-looking key material: at least {MIN_BITS_PER_BYTE:g} bits of Shannon entropy per byte "
            f"and {MIN_TOTAL_BITS:g} bits in all"
        )
        per_byte, total = material.bits_per_byte, material.total_bits
        seen = None
        if per_byte < MIN_BITS_PER_BYTE or total < MIN_TOTAL_BITS:
            seen = f"{per_byte:.2f} bits per byte, {total:.0f} bits in all over {len(material.data)} bytes ({read_as})"
        metrics = {"entropy_bits_per_byte": round(per_byte, 2), "entropy_bits": round(total)}
        return Finding(variable, rule, expected, seen, metrics=metrics)
    if rule == "deny-list":
        expected = "a value of its own, not a published sample or a well-known phrase"
        seen = None
        if value.strip().strip("\"'").lower() in _DENY_LIST:
            seen = (
                "the sample secret from the NextAuth docs"
                if value.strip().strip("\"'") == NEXTAUTH_DOCS_SAMPLE_SECRET
                else "a value on the deny-list of well-known secrets"
            )
        return Finding(variable, rule, expected, seen)
    raise ValueError(f"unknown NEXTAUTH_SECRET rule {rule!r}")


# ====================================================================================== NEXTAUTH_URL

URL_RULES: Final = ("absolute", "https", "no-extras", "host")


def _host_of(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None


def nextauth_url_finding(
    rule: str, value: str, *, base_url: str, production: bool, variable: str = "NEXTAUTH_URL"
) -> Finding:
    """One of :data:`URL_RULES`: absolute http(s), https in production, no user info, query or
    fragment, and the same host as ``base_url`` (a different port or scheme is noted)."""
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    absolute = parts is not None and parts.scheme.lower() in {"http", "https"} and bool(parts.hostname)
    if rule == "absolute":
        seen = None if absolute else "not an absolute http(s) URL"
        return Finding(variable, rule, "an absolute http(s) URL such as https://app.example.com", seen)
    if not absolute or parts is None:
        return Finding(
            variable, rule, "", skipped="it is not an absolute http(s) URL (see the absolute rule)"
        )
    if rule == "https":
        expected = "an https:// URL in production"
        if not production:
            return Finding(variable, rule, expected, skipped="production = false: http is allowed here")
        seen = None if parts.scheme.lower() == "https" else f"an {parts.scheme.lower()}:// URL"
        return Finding(variable, rule, expected, seen)
    if rule == "no-extras":
        extras = [
            label
            for label, present in (
                ("user info", bool(parts.username or parts.password)),
                ("a query string", bool(parts.query)),
                ("a fragment", bool(parts.fragment) or text.endswith("#")),
            )
            if present
        ]
        seen = f"a URL with {' and '.join(extras)}" if extras else None
        return Finding(variable, rule, "no user info, query string or fragment", seen)
    if rule == "host":
        base_host = _host_of(base_url)
        host = (parts.hostname or "").rstrip(".").lower()
        expected = f"the host of base_url ({base_host})"
        if host != base_host:
            return Finding(variable, rule, expected, f"host {host}")
        notes: list[str] = []
        base = urlsplit(base_url)
        default = {"http": 80, "https": 443}
        if (port or default.get(parts.scheme.lower())) != (base.port or default.get(base.scheme.lower())):
            notes.append("its port differs from base_url's: sign-in callbacks may go to the wrong port")
        if parts.scheme.lower() != base.scheme.lower():
            notes.append(
                f"its scheme ({parts.scheme.lower()}) differs from base_url's ({base.scheme.lower()})"
            )
        return Finding(variable, rule, expected, notes=tuple(notes))
    raise ValueError(f"unknown NEXTAUTH_URL rule {rule!r}")


# ========================================================================================= SENTRY_DSN

SENTRY_DSN_RULES: Final = ("format", "no-secret-key")


def sentry_dsn_finding(rule: str, value: str, variable: str = "SENTRY_DSN") -> Finding:
    """``format``: ``http(s)://PUBLIC_KEY@HOST[/path]/PROJECT_ID``; ``no-secret-key``: no ``:SECRET``."""
    text = value.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        parts = None
    if rule == "format":
        expected = "a DSN of the form https://PUBLIC_KEY@HOST/PROJECT_ID"
        if parts is None:
            return Finding(variable, rule, expected, "not a URL")
        problems = []
        if parts.scheme.lower() not in {"http", "https"}:
            problems.append("its scheme is not http or https")
        if not parts.username or not re.fullmatch(r"[A-Za-z0-9]+", parts.username):
            problems.append("it has no public key")
        if not parts.hostname:
            problems.append("it has no host")
        project = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if not project.isdigit():
            problems.append("its project id is missing or not numeric")
        return Finding(variable, rule, expected, "; ".join(problems) or None)
    if rule == "no-secret-key":
        expected = "no legacy secret key (public_key:secret_key@) in the DSN"
        if parts is None:
            return Finding(variable, rule, expected, skipped="it is not a URL (see the format rule)")
        seen = "a secret key after the public key" if parts.password is not None else None
        return Finding(variable, rule, expected, seen)
    raise ValueError(f"unknown SENTRY_DSN rule {rule!r}")


# =================================================================================== MAINTENANCE_MODE

#: how a flag says false (absent counts too) and true, ignoring case
FALSE_VALUES: Final = frozenset({"", "false", "0", "no", "off"})
TRUE_VALUES: Final = frozenset({"true", "1", "yes", "on"})


def maintenance_mode_finding(
    value: str | None, *, production: bool, variable: str = "MAINTENANCE_MODE"
) -> Finding:
    """MAINTENANCE_MODE is absent or false in production."""
    expected = "absent or false in production"
    if not production:
        return Finding(
            variable, "off-in-production", expected, skipped="production = false: maintenance may be on"
        )
    if value is None or value.strip().lower() in FALSE_VALUES:
        return Finding(variable, "off-in-production", expected)
    if value.strip().lower() in TRUE_VALUES:
        return Finding(
            variable, "off-in-production", expected, "it is set to a true value: the site is in maintenance"
        )
    return Finding(variable, "off-in-production", expected, "a value that is neither true nor false")
