"""No secret value in what the site serves to anyone: each secret, raw, JSON-escaped, URL-encoded or base64,
looked for in the public pages and the ``/_next/static`` JavaScript they reference, and in NEXT_PUBLIC_*
variables (which Next.js bundles into that JavaScript)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import quote, unquote, urlsplit

import httpx

from opscheck.clients.bounded import BodyTooLarge, BodyUndecodable, concurrently
from opscheck.clients.http import OpsClient
from opscheck.credentials.findings import Finding, variables_listed
from opscheck.credentials.values import FALSE_VALUES, TRUE_VALUES
from opscheck.errors import TargetUnreachable
from opscheck.run.context import retry_sink
from opscheck.secrets import aligned_base64, is_secret_name, mask_url, url_password

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_SCRIPTS",
    "MAX_TOTAL_BYTES",
    "MIN_NEEDLE_CHARS",
    "Exposure",
    "Needle",
    "SiteScan",
    "exposure_finding",
    "exposure_needles",
    "public_copies",
    "scan_site",
    "script_references",
]


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
        if (
            is_secret_name(name)
            and not name.endswith("DSN")
            and value.strip().lower() not in TRUE_VALUES | FALSE_VALUES
        ):
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
    except (TargetUnreachable, BodyUndecodable) as exc:
        result.error = exc.reason
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


def _scan_file(
    scan: SiteScan,
    fetched: _Fetched,
    kind: Literal["page", "script"],
    *,
    needles: Sequence[Needle],
    base: str,
    foreign: set[str],
) -> list[str]:
    """Look for every needle in one fetched page or script and record it in ``scan`` (a file that did
    not answer 200 is noted); the scripts it references on ``base``'s origin (others go to ``foreign``)."""
    where = _path_of(fetched.url)
    if fetched.error is not None or fetched.status != 200:
        failed = f"{kind} {where}: {fetched.error or f'HTTP {fetched.status}'}"
        scan.notes.append(f"{failed}: not scanned" if kind == "page" else failed)
        return []
    if fetched.truncated:
        scan.notes.append(f"{kind} {where}: only its first {len(fetched.data)} bytes were scanned")
    (scan.pages if kind == "page" else scan.scripts).append(where)
    scan.bytes_scanned += len(fetched.data)
    scan.exposures += _search(fetched.data, needles, f"page {where}" if kind == "page" else where)
    refs, outside = script_references(fetched.data, base)
    foreign.update(outside)
    return refs


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
        to_fetch += _scan_file(scan, fetched, "page", needles=needles, base=base, foreign=foreign)
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
            to_fetch += _scan_file(scan, fetched, "script", needles=needles, base=base, foreign=foreign)
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
