"""The deployment's configuration: where its values come from, and the rules they must meet.

Values come from the process environment (the CI job that deploys has them) or from
``[credentials] env_file``, a dotenv file such as the output of ``vercel env pull``. Every secret value
is registered with the redactor the moment it is read. No message here contains a value, not even a
prefix: a message names the variable and the rule, and describes the value only by its properties (its
length in bytes, its scheme, which URL parts it has, the host it points at).

Each rule is a function returning a :class:`Finding` (met, broken, or not applicable with a reason);
:func:`enforce` turns a finding into the check's verdict. The rules:

==========================  ============================================================================
``set`` / ``placeholder``   a required variable is present, not empty, not a placeholder
``key-material``            NEXTAUTH_SECRET holds at least 32 bytes (decoded base64 or hex, else raw)
``entropy``                 NEXTAUTH_SECRET's bytes look random (Shannon entropy thresholds)
``deny-list``               NEXTAUTH_SECRET is not a published sample or a well-known phrase
``absolute`` … ``host``     NEXTAUTH_URL is absolute, https in production, bare, and on base_url's host
``parses`` … ``sslmode``    DATABASE_URL parses; in production not localhost and sslmode verify-full
``format``                  SENTRY_DSN is ``scheme://public_key@host/project_id``
``no-secret-key``           SENTRY_DSN carries no legacy secret key
``off-in-production``       MAINTENANCE_MODE is absent or false in production
==========================  ============================================================================

Checks that talk to a target: :func:`probe_credentials` (the database accepts DATABASE_URL),
:func:`role_privileges` (its role is not a superuser and cannot create roles or databases),
:class:`AwsAccess` (STS, the access key's age, the backup bucket's protections), :func:`find_reuse`
(no secret value shared by two environments, compared by keyed hash) and :func:`scan_site` (no secret
value, raw or base64, in the public HTML or the ``/_next/static`` JavaScript it references).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import ipaddress
import json
import math
import os
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import boto3
import botocore.exceptions
import botocore.parsers
import httpx
import psycopg
import pytest
from botocore.config import Config
from dotenv.parser import parse_stream

from opscheck.clients import aws
from opscheck.clients.bounded import BodyTooLarge, DeadlinePassed, concurrently, finish_within
from opscheck.clients.conninfo import parse_conninfo
from opscheck.clients.http import OpsClient, describe_transport_error
from opscheck.clients.postgres import ProbeResult, answered_within, connect_readonly, probe_database
from opscheck.config import ConfigFile, CredentialsSettings, Environment
from opscheck.config.environment import SECTIONS
from opscheck.config.expansion import expand
from opscheck.errors import CheckFailed, OpscheckError, SettingMissing, TargetUnreachable
from opscheck.restore.backups import BucketFacts, S3Store, parse_s3_location
from opscheck.run.context import CheckRecord, retry_sink
from opscheck.secrets import (
    aligned_base64,
    is_secret_name,
    mask_url,
    redactor,
    register_aws_credentials,
    url_password,
    url_secrets,
)

__all__ = [
    "BUCKET_RULES",
    "DATABASE_URL_RULES",
    "MAX_ACCESS_KEY_AGE_DAYS",
    "MIN_BITS_PER_BYTE",
    "MIN_KEY_BYTES",
    "MIN_TOTAL_BITS",
    "NEXTAUTH_DOCS_SAMPLE_SECRET",
    "NEXTAUTH_SECRET_RULES",
    "NEXTAUTH_URL_RULES",
    "SENTRY_DSN_RULES",
    "AwsAccess",
    "CredentialSource",
    "EnvFileError",
    "Exposure",
    "Finding",
    "KeyMaterial",
    "Needle",
    "PostgresUrl",
    "Reuse",
    "RolePrivileges",
    "SiteScan",
    "enforce",
    "exposure_finding",
    "exposure_needles",
    "find_reuse",
    "key_material",
    "load_source",
    "maintenance_mode_finding",
    "nextauth_secret_finding",
    "nextauth_url_finding",
    "parse_env_file",
    "parse_postgres_url",
    "placeholder_kind",
    "postgres_url_finding",
    "probe_credentials",
    "public_copies",
    "required_finding",
    "role_privileges",
    "scan_site",
    "script_references",
    "sentry_dsn_finding",
    "shannon_entropy",
]

T = TypeVar("T")


# =========================================================================================== sources


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


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one variable.

    ``seen`` set: the rule is broken (what was seen, described without the value). ``skipped`` set: the
    rule does not apply here, and why. ``notes`` are warnings recorded in the result either way.
    """

    variable: str
    rule: str
    expected: str
    seen: str | None = None
    skipped: str | None = None
    notes: tuple[str, ...] = ()
    metrics: Mapping[str, Any] = field(default_factory=dict)
    retries: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.seen is None and self.skipped is None


def enforce(finding: Finding, check: CheckRecord | None = None, origin: str = "") -> None:
    """Record the finding's notes and metrics, then skip, fail or pass. A failure reads
    ``VARIABLE [rule]: expected …, saw …, in ORIGIN`` (where the value came from)."""
    __tracebackhide__ = True
    label = f"{finding.variable} [{finding.rule}]"
    if check is not None:
        for note in finding.notes:
            check.note(f"{label}: {note}")
        for name, value in finding.metrics.items():
            check.metric(name, value)
        check.retries.extend(finding.retries)
    if finding.skipped is not None:
        pytest.skip(f"{label}: {finding.skipped}")
    if finding.seen is not None:
        raise CheckFailed(label, finding.expected, f"{finding.seen}, in {origin}" if origin else finding.seen)


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


NEXTAUTH_SECRET_RULES: Final = ("key-material", "entropy", "deny-list")


def nextauth_secret_finding(rule: str, value: str, variable: str = "NEXTAUTH_SECRET") -> Finding:
    """One of :data:`NEXTAUTH_SECRET_RULES` applied to the secret."""
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

NEXTAUTH_URL_RULES: Final = ("absolute", "https", "no-extras", "host")


def _host_of(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None


def nextauth_url_finding(
    rule: str, value: str, *, base_url: str, production: bool, variable: str = "NEXTAUTH_URL"
) -> Finding:
    """One of :data:`NEXTAUTH_URL_RULES`: absolute http(s), https in production, no user info, query or
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


# ====================================================================================== DATABASE_URL

DATABASE_URL_RULES: Final = ("parses", "not-localhost", "sslmode")
_SSLMODES: Final = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


@dataclass(frozen=True)
class PostgresUrl:
    """A ``postgresql://`` URL taken apart the way libpq reads it (several hosts allowed)."""

    hosts: tuple[str, ...]
    ports: tuple[str, ...]
    dbname: str
    user: str
    has_password: bool
    #: the parameters as libpq reads them
    params: Mapping[str, str]
    #: query parameters libpq does not know, left out (Prisma's ``schema=`` …)
    ignored: tuple[str, ...] = ()

    @property
    def sslmode(self) -> str | None:
        return self.params.get("sslmode")


def _libpq_keywords() -> frozenset[str]:
    return frozenset(option.keyword.decode() for option in psycopg.pq.Conninfo.get_defaults())


def parse_postgres_url(value: str) -> PostgresUrl:
    """Take a PostgreSQL URL apart the way libpq does (it is libpq's own parser, after leaving out the query
    parameters libpq does not know, such as Prisma's ``schema=``); ValueError says what is wrong without
    quoting the value."""
    text = value.strip()
    scheme, sep, _ = text.partition("://")
    if not sep or scheme not in {"postgres", "postgresql"}:
        raise ValueError("not a postgres:// or postgresql:// URL")
    libpq_url, ignored = _libpq_url(text)
    params = parse_conninfo(libpq_url)
    ports = tuple(params["port"].split(",")) if params.get("port") else ()
    if not all(port.isdigit() for port in ports if port):
        raise ValueError("its port is not a number")
    if not all(0 < int(port) < 65536 for port in ports if port):
        raise ValueError("its port is out of range")
    sslmode = params.get("sslmode")
    if sslmode is not None and sslmode not in _SSLMODES:
        raise ValueError("its sslmode is not one libpq knows")
    return PostgresUrl(
        hosts=tuple(params["host"].split(",")) if params.get("host") else (),
        ports=ports,
        dbname=params.get("dbname", ""),
        user=params.get("user", ""),
        has_password="password" in params,
        params=params,
        ignored=tuple(ignored),
    )


def _is_local(host: str) -> bool:
    name = host.strip().strip("[]").rstrip(".").lower()
    if not name or name.startswith(("/", "@")):
        return True  # a unix-domain socket: the database runs on the same machine
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def postgres_url_finding(
    rule: str, value: str, *, production: bool, variable: str = "DATABASE_URL"
) -> Finding:
    """One of :data:`DATABASE_URL_RULES`. ``sslmode``: verify-full passes, require/verify-ca pass with a
    note, disable/allow/prefer/absent fail (production only, like ``not-localhost``)."""
    expected_parse = "a postgresql://user:password@host:port/dbname URL libpq can use"
    try:
        url = parse_postgres_url(value)
    except ValueError as exc:
        if rule == "parses":
            return Finding(variable, rule, expected_parse, str(exc))
        return Finding(variable, rule, "", skipped="it does not parse (see the parses rule)")
    if rule == "parses":
        return Finding(variable, rule, expected_parse)
    if not production:
        return Finding(variable, rule, "", skipped="production = false: this rule applies to production only")
    if rule == "not-localhost":
        expected = "the production database's network host, not localhost or a socket"
        hosts = list(url.hosts) or ([] if "hostaddr" in url.params else [""])
        if "hostaddr" in url.params:
            hosts += url.params["hostaddr"].split(",")
        local = [h or "(default unix socket)" for h in hosts if _is_local(h)]
        seen = f"a local host: {', '.join(local)}" if local else None
        return Finding(variable, rule, expected, seen)
    if rule == "sslmode":
        expected = "sslmode=verify-full (encrypted, server certificate and host name verified)"
        mode = url.sslmode
        if mode == "verify-full":
            return Finding(variable, rule, expected)
        if mode in {"require", "verify-ca"}:
            what = (
                "does not verify the server certificate"
                if mode == "require"
                else "does not verify the host name"
            )
            return Finding(
                variable, rule, expected, notes=(f"sslmode={mode} encrypts but {what}; use verify-full",)
            )
        if mode is None:
            return Finding(
                variable, rule, expected, "no sslmode (libpq then uses prefer, which falls back to plaintext)"
            )
        return Finding(variable, rule, expected, f"sslmode={mode}, which allows an unencrypted connection")
    raise ValueError(f"unknown DATABASE_URL rule {rule!r}")


def _libpq_url(value: str) -> tuple[str, list[str]]:
    """``value`` without query parameters libpq does not know (Prisma's ``schema=`` …), and their names."""
    head, sep, query = value.strip().partition("?")
    if not sep:
        return value.strip(), []
    known = _libpq_keywords()
    pairs = parse_qsl(query.split("#", 1)[0], keep_blank_values=True)
    dropped = [name for name, _ in pairs if name not in known]
    if not dropped:
        return value.strip(), []  # libpq reads it as written
    kept = [(name, v) for name, v in pairs if name in known]
    return (head + ("?" + urlencode(kept, quote_via=quote) if kept else "")), dropped


def probe_credentials(
    value: str, *, timeout_s: float, variable: str = "DATABASE_URL"
) -> tuple[ProbeResult, list[str]]:
    """Connect read-only with ``value`` and run ``SELECT 1``; failures name the variable and the endpoint.

    Returns the probe and the names of query parameters left out because libpq does not know them.
    """
    __tracebackhide__ = True
    url, dropped = _libpq_url(value)
    try:
        return probe_database(url, timeout_s=timeout_s), dropped
    except CheckFailed as exc:
        raise CheckFailed(f"{variable} [connect]: {exc.checked}", exc.expected, exc.seen) from None
    except TargetUnreachable as exc:
        raise TargetUnreachable(f"{variable} [connect]: {exc.checked}", exc.reason) from None


@dataclass(frozen=True)
class RolePrivileges:
    """What the role of a connection can do, directly or through roles it is a member of."""

    superuser: tuple[str, ...]
    create_role: tuple[str, ...]
    create_db: tuple[str, ...]

    def problems(self) -> list[str]:
        """What the role should not be able to do (a superuser can do everything: said once)."""
        if self.superuser:
            return [f"it is a superuser{_via(self.superuser)}"]
        found = []
        for roles, what in (
            (self.create_role, "can create roles (CREATEROLE)"),
            (self.create_db, "can create databases (CREATEDB)"),
        ):
            if roles:
                found.append(f"it {what}" + _via(roles))
        return found

    def finding(self, variable: str = "DATABASE_URL") -> Finding:
        problems = self.problems()
        return Finding(
            variable,
            "least-privilege",
            "a role that is not a superuser and cannot create roles or databases",
            "; ".join(problems) or None,
        )


def _via(roles: Sequence[str]) -> str:
    others = [r for r in roles if r != ""]
    return f" through membership in {', '.join(others)}" if others and "" not in roles else ""


_PRIVILEGES_SQL: Final = """
SELECT CASE WHEN r.rolname = current_user THEN '' ELSE r.rolname END,
       r.rolsuper, r.rolcreaterole, r.rolcreatedb
FROM pg_catalog.pg_roles AS r
WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')
"""


def role_privileges(value: str, *, timeout_s: float, variable: str = "DATABASE_URL") -> RolePrivileges:
    """Superuser, CREATEROLE and CREATEDB of the URL's role and of every role it can become.

    The login role itself appears as "" (its name is part of the value), other roles by name.
    """
    __tracebackhide__ = True
    url, _ = _libpq_url(value)
    try:
        conn = connect_readonly(url, timeout_s=timeout_s, application_name="opscheck-credentials")
    except CheckFailed as exc:
        raise CheckFailed(f"{variable} [least-privilege]: {exc.checked}", exc.expected, exc.seen) from None
    except TargetUnreachable as exc:
        raise TargetUnreachable(f"{variable} [least-privilege]: {exc.checked}", exc.reason) from None
    where = f"{variable} [least-privilege]: reading pg_roles"
    try:  # bounded like the db fixture's statements: libpq has no client-side timeout once connected
        with answered_within(conn, timeout_s + 1, where), conn.cursor() as cursor:
            cursor.execute(_PRIVILEGES_SQL)
            rows = cursor.fetchall()
    except psycopg.Error as exc:
        raise TargetUnreachable(where, redactor().scrub(type(exc).__name__)) from None
    finally:
        conn.close()
    return RolePrivileges(
        superuser=tuple(sorted(str(r[0]) for r in rows if r[1])),
        create_role=tuple(sorted(str(r[0]) for r in rows if r[2])),
        create_db=tuple(sorted(str(r[0]) for r in rows if r[3])),
    )


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

_FALSE: Final = frozenset({"", "false", "0", "no", "off"})
_TRUE: Final = frozenset({"true", "1", "yes", "on"})


def maintenance_mode_finding(
    value: str | None, *, production: bool, variable: str = "MAINTENANCE_MODE"
) -> Finding:
    """MAINTENANCE_MODE is absent or false in production."""
    expected = "absent or false in production"
    if not production:
        return Finding(
            variable, "off-in-production", expected, skipped="production = false: maintenance may be on"
        )
    if value is None or value.strip().lower() in _FALSE:
        return Finding(variable, "off-in-production", expected)
    if value.strip().lower() in _TRUE:
        return Finding(
            variable, "off-in-production", expected, "it is set to a true value: the site is in maintenance"
        )
    return Finding(variable, "off-in-production", expected, "a value that is neither true nor false")


# ================================================================================================ AWS

MAX_ACCESS_KEY_AGE_DAYS: Final = 90
#: for the IAM, STS and S3-settings calls made here, a bodiless 404 means the endpoint has no such action
#: (an S3 object call's 404 means no such key: that is why it is not in the shared map)
_UNSUPPORTED: Final = aws.UNSUPPORTED | {"404"}
_PUBLIC_ACCESS_FLAGS: Final = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)
BUCKET_RULES: Final = ("versioning", "encryption", "public-access-block")


class _Refused(Exception):
    """An AWS call that was denied, is not implemented by the endpoint, or found nothing configured."""

    def __init__(self, code: str, kind: str) -> None:
        super().__init__(code)
        self.code = code
        self.kind = kind

    def why(self) -> str:
        return {"denied": "is denied", "unsupported": "is not implemented by the endpoint"}.get(
            self.kind, "failed"
        )


@dataclass
class AwsAccess:
    """The AWS credentials an environment's backups use, and the backup bucket they are for.

    Credentials are ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``) from the
    env file when it has them, else the standard AWS credential chain. STS and IAM are asked at the
    backups' ``s3_endpoint_url`` when one is set (an S3-compatible stack such as moto or LocalStack),
    else at AWS. Every call has connect and read timeouts of ``timeout_s`` and is made once.
    """

    session: boto3.session.Session
    variables: str
    origin: str
    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str
    timeout_s: float
    clients: dict[str, Any] = field(default_factory=dict, repr=False)
    identity: dict[str, str] | None = field(default=None, repr=False)
    identity_error: CheckFailed | TargetUnreachable | None = field(default=None, repr=False)
    facts: BucketFacts | None = field(default=None, repr=False)

    @classmethod
    def for_environment(cls, env: Environment, source: CredentialSource) -> AwsAccess:
        """From ``[backups]`` (an ``s3://`` location) and the credentials in ``source``."""
        backups = env.backups
        bucket, prefix = parse_s3_location(backups.location.strip())
        region = (
            backups.region.strip()
            or source.get("AWS_REGION")
            or source.get("AWS_DEFAULT_REGION")
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )
        key_id, secret = source.get("AWS_ACCESS_KEY_ID"), source.get("AWS_SECRET_ACCESS_KEY")
        if source.path is not None and (key_id or secret):
            if not (key_id and secret):
                missing = "AWS_SECRET_ACCESS_KEY" if key_id else "AWS_ACCESS_KEY_ID"
                raise CheckFailed(
                    f"AWS credentials in {source.origin}",
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY together",
                    f"{missing} is missing",
                )
            session = boto3.session.Session(
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                aws_session_token=source.get("AWS_SESSION_TOKEN") or None,
                region_name=region,
            )
            variables, origin = "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", source.origin
        else:
            session = boto3.session.Session(region_name=region)
            variables, origin = "AWS credentials", "the standard AWS credential chain"
        return cls(
            session=session,
            variables=variables,
            origin=origin,
            bucket=bucket,
            prefix=prefix,
            endpoint_url=backups.s3_endpoint_url.strip() or None,
            region=region,
            timeout_s=env.timeout_s,
        )

    def client(self, service: str) -> Any:
        """A boto3 client with the environment's timeouts and a single attempt per call."""
        if service not in self.clients:
            config = Config(
                connect_timeout=self.timeout_s,
                read_timeout=self.timeout_s,
                retries={"total_max_attempts": 1},
                user_agent_extra="opscheck",
            )
            self.clients[service] = self.session.client(  # type: ignore[call-overload]
                service, endpoint_url=self.endpoint_url, config=config
            )
            register_aws_credentials(self.session)
        return self.clients[service]

    def _rejected(self, expected: str, seen: str) -> CheckFailed:
        return CheckFailed(f"{self.variables} [accepted]", expected, f"{seen}, in {self.origin}")

    def endpoint(self, service: str) -> str:
        return mask_url(str(self.client(service).meta.endpoint_url))

    def call(
        self, service: str, operation: str, call: Callable[[], T], *, absent: frozenset[str] = frozenset()
    ) -> T:
        """One AWS call. Rejected or missing credentials → CheckFailed naming the variables; unreachable
        → TargetUnreachable naming the endpoint; denied, not implemented, or one of the ``absent`` codes
        (nothing configured) → :class:`_Refused`."""
        __tracebackhide__ = True
        where = f"{service.upper()} {operation} at {self.endpoint(service)}"
        try:  # bounded as a whole: botocore's timeouts apply to each read, which a dribble never trips
            return finish_within(call, self.timeout_s)
        except DeadlinePassed as exc:
            raise TargetUnreachable(where, str(exc)) from None
        except botocore.exceptions.ClientError as exc:
            code = aws.error_code(exc)
            if code in aws.CREDENTIAL_ERRORS:
                raise self._rejected(
                    f"credentials {service.upper()} accepts", f"{aws.rejected(code)} by {where}"
                ) from None
            if code in absent:
                raise _Refused(code, "absent") from None
            if code in aws.DENIED or code in _UNSUPPORTED:
                raise _Refused(code, "denied" if code in aws.DENIED else "unsupported") from None
            message = redactor().scrub(aws.error_message(exc))
            raise CheckFailed(
                where, "a successful answer", f"{code}: {message}" if message else code
            ) from None
        except aws.NO_CREDENTIALS as exc:
            raise self._rejected(
                "credentials from the env file or the standard AWS chain", type(exc).__name__
            ) from None
        except aws.UNREACHABLE as exc:
            raise TargetUnreachable(
                where, redactor().scrub(aws.connection_reason(exc, self.timeout_s))
            ) from None
        except botocore.parsers.ResponseParserError:
            raise _Refused("an answer that is not the AWS API's", "unsupported") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise TargetUnreachable(where, redactor().scrub(f"{type(exc).__name__}: {exc}")) from None

    def caller_identity(self) -> dict[str, str]:
        """STS GetCallerIdentity: Arn, Account, UserId. Asked once per run; a failure is raised again
        (without asking again) to every later caller, so a blackholed endpoint costs one timeout."""
        if self.identity_error is not None:
            raise self.identity_error
        if self.identity is None:
            sts = self.client("sts")
            try:
                answer = self.call("sts", "GetCallerIdentity", sts.get_caller_identity)
            except _Refused as refused:
                if refused.kind == "unsupported":
                    pytest.skip(
                        f"{self.endpoint('sts')} does not implement STS GetCallerIdentity ({refused.code})"
                    )
                self.identity_error = self._rejected(
                    "STS GetCallerIdentity to succeed (AWS never denies it to valid credentials)",
                    refused.code,
                )
                raise self.identity_error from None
            except (CheckFailed, TargetUnreachable) as exc:
                self.identity_error = exc
                raise
            self.identity = {k: str(answer.get(k, "")) for k in ("Arn", "Account", "UserId")}
        return self.identity

    def access_key_finding(self, now: datetime, max_age_days: float = MAX_ACCESS_KEY_AGE_DAYS) -> Finding:
        """The access key in use is younger than ``max_age_days``; skipped when IAM does not tell."""
        variable, rule = "AWS_ACCESS_KEY_ID", "max-age"
        expected = f"an access key younger than {max_age_days:g} days"
        arn = self.caller_identity()["Arn"]
        credentials = self.session.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
        if frozen is None:
            return Finding(variable, rule, expected, skipped="no credentials were found")
        if frozen.token or ":assumed-role/" in arn or ":federated-user/" in arn:
            return Finding(
                variable, rule, expected, skipped=f"{arn} uses temporary credentials: no key to age"
            )
        iam = self.client("iam")

        def listed() -> list[dict[str, Any]]:
            keys: list[dict[str, Any]] = []
            for page in iam.get_paginator("list_access_keys").paginate():
                keys.extend(page.get("AccessKeyMetadata", []))
            return keys

        try:
            keys = self.call("iam", "ListAccessKeys", listed, absent=frozenset({"NoSuchEntity"}))
        except _Refused as refused:
            if refused.kind == "absent":
                why = f"IAM has no access keys for {arn} ({refused.code}): it is not an IAM user's key"
            else:
                why = (
                    f"IAM ListAccessKeys {refused.why()} for {arn} ({refused.code}): the key's age cannot be "
                    "read (allow iam:ListAccessKeys on the user to check it)"
                )
            return Finding(variable, rule, expected, skipped=why)
        created = next((k.get("CreateDate") for k in keys if k.get("AccessKeyId") == frozen.access_key), None)
        if not isinstance(created, datetime):
            return Finding(
                variable, rule, expected, skipped=f"the access key is not among {arn}'s keys in IAM"
            )
        age_days = round((now - created).total_seconds() / 86400, 1)
        metrics = {"access_key_age_days": age_days}
        if age_days >= max_age_days:
            seen = f"a key created {age_days:.0f} days ago, on {created.date().isoformat()}"
            return Finding(variable, rule, expected, seen, metrics=metrics)
        return Finding(variable, rule, expected, metrics=metrics)

    def bucket_facts(self) -> BucketFacts:
        """Versioning and default encryption of the backup bucket (see :meth:`S3Store.bucket_facts`),
        asked once per run."""
        if self.facts is None:
            store = S3Store(
                self.bucket,
                self.prefix,
                region=self.region,
                timeout_s=self.timeout_s,
                client=self.client("s3"),
            )
            self.facts = store.bucket_facts()
        return self.facts

    def bucket_finding(self, rule: str) -> Finding:
        """One of :data:`BUCKET_RULES` for the backup bucket (skipped when the setting cannot be read)."""
        variable = f"backup bucket s3://{self.bucket}"
        if rule == "versioning":
            expected = "versioning Enabled (an overwritten or deleted backup can be recovered)"
            fact = self.bucket_facts().versioning
            if fact.state in {"unavailable", "not applicable"}:
                return Finding(variable, rule, expected, skipped=f"versioning is {fact}")
            seen = None if fact.value == "Enabled" else f"versioning {fact}"
            return Finding(variable, rule, expected, seen)
        if rule == "encryption":
            expected = "default encryption (SSE-S3 or SSE-KMS)"
            fact = self.bucket_facts().encryption
            if fact.state in {"unavailable", "not applicable"}:
                return Finding(variable, rule, expected, skipped=f"default encryption is {fact}")
            return Finding(variable, rule, expected, None if fact.is_set else f"default encryption {fact}")
        if rule == "public-access-block":
            return self._public_access_finding(variable)
        raise ValueError(f"unknown bucket rule {rule!r}")

    def _public_access_finding(self, variable: str) -> Finding:
        rule = "public-access-block"
        expected = f"a public access block with all four settings on ({', '.join(_PUBLIC_ACCESS_FLAGS)})"
        s3 = self.client("s3")
        try:
            answer = self.call(
                "s3",
                "GetPublicAccessBlock",
                lambda: s3.get_public_access_block(Bucket=self.bucket),
                absent=frozenset({"NoSuchPublicAccessBlockConfiguration"}),
            )
        except _Refused as refused:
            if refused.kind == "absent":
                return Finding(variable, rule, expected, "no public access block on the bucket")
            return Finding(
                variable,
                rule,
                expected,
                skipped=f"GetPublicAccessBlock {refused.why()} ({refused.code}): cannot tell",
            )
        settings = answer.get("PublicAccessBlockConfiguration", {})
        off = [flag for flag in _PUBLIC_ACCESS_FLAGS if not settings.get(flag)]
        return Finding(variable, rule, expected, f"{', '.join(off)} off" if off else None)


# ============================================================================================== reuse

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


# =========================================================================================== exposure

MAX_SCRIPTS: Final = 100
MAX_FILE_BYTES: Final = 5 * 1024 * 1024
MAX_TOTAL_BYTES: Final = 40 * 1024 * 1024
MIN_NEEDLE_CHARS: Final = 8
_FETCH_WORKERS: Final = 8


@dataclass(frozen=True)
class Needle:
    """One spelling of one secret to look for in public files."""

    variable: str
    form: str
    data: bytes


def _forms(secret: str) -> dict[str, set[bytes]]:
    """Spellings of ``secret`` by form; a spelling belongs to the first form that has it."""
    raw = secret.encode()
    forms: dict[str, set[bytes]] = {
        "raw": {raw},
        "JSON-escaped": {json.dumps(secret)[1:-1].encode()},
        "URL-encoded": {quote(secret, safe="").encode()},
        "base64": aligned_base64(raw) | aligned_base64(raw, b"-_"),
    }
    taken: set[bytes] = set()
    result: dict[str, set[bytes]] = {}
    for form, spellings in forms.items():
        result[form] = {n for n in spellings - taken if len(n) >= MIN_NEEDLE_CHARS}
        taken |= spellings
    return result


def exposure_needles(values: Mapping[str, str]) -> tuple[list[Needle], list[str]]:
    """What to look for (each secret raw, JSON-escaped, URL-encoded and base64 at every alignment), and
    the names of secrets too short to search for without false alarms.

    Secrets are the values of secret-named variables and the passwords of URL values; NEXT_PUBLIC_*
    variables (public by design) and SENTRY_DSN's public part are not, but a DSN's legacy secret key is.
    """
    needles: list[Needle] = []
    short: list[str] = []
    for name, value in sorted(values.items()):
        if not value or name.startswith("NEXT_PUBLIC_"):
            continue
        secrets_of: list[str] = []
        password = url_password(value)
        if password:
            secrets_of += [password, unquote(password)]
        if is_secret_name(name) and not name.endswith("DSN") and value.strip().lower() not in _TRUE | _FALSE:
            secrets_of.append(value)
        for secret in dict.fromkeys(secrets_of):
            if len(secret) < MIN_NEEDLE_CHARS:
                short.append(name)
                continue
            for form, spellings in _forms(secret).items():
                needles += [Needle(name, form, spelling) for spelling in sorted(spellings)]
    return needles, sorted(set(short))


def public_copies(values: Mapping[str, str], needles: Sequence[Needle]) -> list[tuple[str, str]]:
    """(secret variable, NEXT_PUBLIC_* variable holding it): Next.js bundles the latter into public JavaScript."""
    found = []
    for name, value in sorted(values.items()):
        if not name.startswith("NEXT_PUBLIC_") or not value:
            continue
        data = value.encode()
        found += [
            (variable, name)
            for variable in dict.fromkeys(n.variable for n in needles if n.form == "raw" and n.data in data)
        ]
    return found


# a reference to a script: [scheme://host][/basePath]/_next/static/PATH.js; PATH may hold the brackets of
# dynamic routes and the parentheses of route groups
_STATIC_REF = re.compile(
    rb"""[^\s"'`<>(){}\[\]\\,;=]*_next/static/[^\s"'`<>{}\\,;?#]+?\.js(?![A-Za-z0-9_])"""
)
# React Server Component payloads list chunks as "static/chunks/….js" (inside a JS string: \"…\")
_FLIGHT_REF = re.compile(rb"""(?<=["'])static/[^\s"'`<>{}\\,;?#]+?\.js(?=\\?["'])""")


def script_references(body: bytes, base_url: str) -> tuple[list[str], list[str]]:
    """URLs of the ``/_next/static/…js`` files ``body`` references (script tags, preload links, React
    Server Component payloads): those on ``base_url``'s origin, and those elsewhere (a CDN)."""
    base = httpx.URL(base_url)
    found: list[str] = []
    foreign: list[str] = []
    refs = [m.group(0) for m in _STATIC_REF.finditer(body)]
    refs += [b"/_next/" + m.group(0) for m in _FLIGHT_REF.finditer(body)]
    for ref in refs:
        text = ref.decode("ascii", errors="ignore")
        if text.startswith("_next/"):
            text = "/" + text
        try:
            url = base.join(text)
        except (httpx.InvalidURL, ValueError):
            continue
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            foreign.append(str(url))
            continue
        found.append(str(url))
    return list(dict.fromkeys(found)), list(dict.fromkeys(foreign))


@dataclass(frozen=True)
class Exposure:
    variable: str
    form: str
    where: str

    def __str__(self) -> str:
        return f"{self.variable} ({self.form}) in {self.where}"


@dataclass
class SiteScan:
    """What :func:`scan_site` looked at and found."""

    pages: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    bytes_scanned: int = 0
    exposures: list[Exposure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)


@dataclass
class _Fetched:
    url: str
    status: int | None = None
    data: bytes = b""
    truncated: bool = False
    error: str | None = None


class _Budget:
    """Bytes left to download, reserved before each download so the total is never exceeded."""

    def __init__(self, total: int) -> None:
        self._left = total
        self._lock = threading.Lock()

    def reserve(self, wanted: int) -> int:
        with self._lock:
            granted = min(wanted, self._left)
            self._left -= granted
            return granted

    def give_back(self, unused: int) -> None:
        with self._lock:
            self._left += unused


def _fetch(client: OpsClient, url: str, budget: _Budget) -> _Fetched:
    result = _Fetched(mask_url(url))
    limit = budget.reserve(MAX_FILE_BYTES)
    if limit <= 0:
        result.error = f"not downloaded: the {MAX_TOTAL_BYTES // (1024 * 1024)} MiB budget is spent"
        return result
    buffer = bytearray()
    try:
        with client.stream("GET", url) as response:
            result.status = response.status_code
            if response.status_code == 200:
                for chunk in response.iter_bytes():
                    buffer += chunk
                    if len(buffer) > limit:
                        result.truncated = True
                        break
    except BodyTooLarge:  # max_body_mb is below the scan's own per-file limit
        result.truncated = True
    except TargetUnreachable as exc:
        result.error = exc.reason
    except httpx.TransportError as exc:
        result.error = describe_transport_error(exc)
    result.data = bytes(buffer[:limit])
    budget.give_back(limit - len(result.data))
    return result


def _fetch_all(client: OpsClient, urls: Sequence[str], budget: _Budget, retries: list[str]) -> list[_Fetched]:
    """GET ``urls`` concurrently (a few at a time); retries are collected into ``retries``."""
    if not urls:
        return []

    def one(url: str) -> _Fetched:
        with retry_sink(retries):
            return _fetch(client, url, budget)

    return concurrently(one, urls, _FETCH_WORKERS)  # Ctrl-C or SIGTERM ends the downloads promptly


def _search(data: bytes, needles: Sequence[Needle], where: str) -> list[Exposure]:
    found: dict[tuple[str, str], Exposure] = {}
    for needle in needles:
        if (needle.variable, needle.form) not in found and needle.data in data:
            found[(needle.variable, needle.form)] = Exposure(needle.variable, needle.form, where)
    return list(found.values())


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path or "/"


def scan_site(client: OpsClient, pages: Sequence[str], needles: Sequence[Needle]) -> SiteScan:
    """GET ``pages`` and the ``/_next/static`` scripts they reference (and scripts those reference),
    and look for every needle in each body.

    Bounded: at most :data:`MAX_SCRIPTS` scripts, :data:`MAX_FILE_BYTES` per file and
    :data:`MAX_TOTAL_BYTES` in all; each request has the client's timeouts. A page that does not answer
    200 is noted, not failed (the smoke suite owns that); no page answering at all is an error.
    """
    scan = SiteScan()
    budget = _Budget(MAX_TOTAL_BYTES)
    base = str(client.base_url)
    page_urls = [str(client.base_url.join(page)) for page in dict.fromkeys(pages)]
    to_fetch: list[str] = []
    foreign: set[str] = set()
    for fetched in _fetch_all(client, page_urls, budget, scan.retries):
        where = _path_of(fetched.url)
        if fetched.error is not None or fetched.status != 200:
            scan.notes.append(f"page {where}: {fetched.error or f'HTTP {fetched.status}'}: not scanned")
            continue
        if fetched.truncated:
            scan.notes.append(f"page {where}: only its first {len(fetched.data)} bytes were scanned")
        scan.pages.append(where)
        scan.bytes_scanned += len(fetched.data)
        scan.exposures += _search(fetched.data, needles, f"page {where}")
        refs, outside = script_references(fetched.data, base)
        foreign.update(outside)
        to_fetch += refs
    if not scan.pages:
        raise TargetUnreachable(
            f"public pages of {mask_url(base)}", "; ".join(scan.notes) or "no page is configured"
        )
    seen: set[str] = set()
    limit_hit = False
    while to_fetch:
        wave = [url for url in dict.fromkeys(to_fetch) if url not in seen]
        room = MAX_SCRIPTS - len(seen)
        if len(wave) > room:
            limit_hit = True
            wave = wave[:room]
        seen.update(wave)
        to_fetch = []
        for fetched in _fetch_all(client, wave, budget, scan.retries):
            where = _path_of(fetched.url)
            if fetched.error is not None or fetched.status != 200:
                scan.notes.append(f"script {where}: {fetched.error or f'HTTP {fetched.status}'}")
                continue
            if fetched.truncated:
                scan.notes.append(f"script {where}: only its first {len(fetched.data)} bytes were scanned")
            scan.scripts.append(where)
            scan.bytes_scanned += len(fetched.data)
            scan.exposures += _search(fetched.data, needles, where)
            refs, outside = script_references(fetched.data, base)
            foreign.update(outside)
            to_fetch += refs
    if limit_hit:
        scan.notes.append(f"more than {MAX_SCRIPTS} scripts are referenced: only {MAX_SCRIPTS} were scanned")
    if foreign:
        scan.notes.append(f"{len(foreign)} script(s) on another origin (a CDN?) were not fetched")
    return scan


def exposure_finding(client: OpsClient, pages: Sequence[str], values: Mapping[str, str]) -> Finding:
    """No secret of ``values`` in the public pages or their scripts, nor copied into a NEXT_PUBLIC_
    variable. Skipped when there is no secret to look for."""
    expected = "no secret value (raw or base64) in the public HTML or /_next/static JavaScript"
    needles, short = exposure_needles(values)
    notes = [f"{name} is shorter than {MIN_NEEDLE_CHARS} characters: not searched for" for name in short]
    if not needles:
        return Finding(
            "secrets", "not-exposed", expected, skipped="no secret values are set: nothing to look for"
        )
    copies = public_copies(values, needles)
    scan = scan_site(client, pages, needles)
    from_scan = [str(exposure) for exposure in scan.exposures]
    metrics = {
        "pages_scanned": len(scan.pages),
        "scripts_scanned": len(scan.scripts),
        "bytes_scanned": scan.bytes_scanned,
        "secrets_searched": len({n.variable for n in needles}),
    }
    copied = [
        f"{secret} (copied into {public}, which Next.js bundles into public JavaScript)"
        for secret, public in copies
    ]
    exposed = [*(e.variable for e in scan.exposures), *(secret for secret, _ in copies)]
    return Finding(
        variables_listed(exposed) or "secrets",
        "not-exposed",
        expected,
        "; ".join([*from_scan, *copied]) or None,
        notes=(*notes, *scan.notes),
        metrics=metrics,
        retries=tuple(scan.retries),
    )


def variables_listed(items: Iterable[str]) -> str:
    """``a, b and c`` (each once)."""
    names = list(dict.fromkeys(items))
    if not names:
        return ""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
