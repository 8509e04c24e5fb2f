"""Secrets and the redactor that every output channel goes through.

A *secret* is any value opscheck must never print: credential values from the config file, process
environment variables whose names look secret, the password part of any URL (read from the raw text, so
a password holding ``/``, ``?``, ``#`` or ``@`` is found even where URL parsers misread it), the
``user:password`` pair HTTP Basic auth encodes, query parameters whose names look secret, and session or
CSRF cookie values received at run time. Teams add more with the ``pytest_opscheck_secrets`` hook.

The redactor replaces each secret, and its URL-encoded, JSON-escaped and base64 forms (base64 at every
alignment, so a secret inside a longer encoded value such as ``Basic base64(user:pass)`` is found too),
with ``***``. One process-wide redactor is used so that log records, HTTP clients and report writers
share it.

Matching is an Aho-Corasick automaton (``ahocorasick_rs``): one pass over the text whatever the number
of secrets. Registering a secret only queues it; the automata are built when the next text is scrubbed,
in levels that merge like a binary counter (a new level absorbs every older level not larger than
itself), so registering secrets one at a time between scrubs costs O(n log n) in all, never O(n²).
"""

from __future__ import annotations

import base64
import bisect
import json
import math
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

from ahocorasick_rs import BytesAhoCorasick, Implementation, MatchKind

__all__ = [
    "MASK",
    "Redactor",
    "Secret",
    "aligned_base64",
    "clip",
    "is_secret_name",
    "mask_url",
    "redactor",
    "register_aws_credentials",
    "secret_env_values",
    "url_password",
    "url_secrets",
]

MASK: Final = "***"

#: a value shorter than this is too common to scrub from every line of output without destroying it
MIN_SECRET_LENGTH: Final = 4
_NOT_SECRET_VALUES: Final = frozenset({"true", "false", "none", "null", "yes", "no", "on", "off"})
_SECRET_NAME = re.compile(
    r"(SECRET|PASSWORD|PASSWD|PASSPHRASE|(^|_)PASS($|_)|PWD($|_)|TOKEN|(^|_)(API|AUTH|ACCESS|SECRET|PRIVATE|SIGNING|ENCRYPTION|MASTER|LICENSE)?KEYS?($|_)|PRIVATE|CREDENTIAL"
    r"|DSN|DATABASE_URL|REDIS_URL|WEBHOOK|COOKIE)",
    re.IGNORECASE,
)
#: ``PWD``/``OLDPWD`` are the shell's working directories (every shell sets them), not passwords
_NOT_SECRET_NAMES: Final = frozenset(
    {"NEXTAUTH_URL", "AWS_ACCESS_KEY_ID", "PYTEST_XDIST_AUTO_NUM_WORKERS", "PWD", "OLDPWD"}
)
#: what a truncating formatter (pytest's saferepr, reprlib, ``text[:n] + "…"``) leaves at a cut
_CUT_MARKS: Final = (b"...", "…".encode())
#: how far before and after a cut mark a fragment of a secret is looked for
_CUT_WINDOW: Final = 512
_WORD_BEFORE = re.compile(rb"\S+\Z")
_WORD_AFTER = re.compile(rb"\S+")
#: the end of one string literal and the start of the next, where a pretty-printer wrapped a long one
_LITERAL_JOIN = re.compile(rb"""['"](?:\\n|\s)*\n\s*[bfru]?['"]""")


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


def aligned_base64(raw: bytes, altchars: bytes | None = None) -> set[bytes]:
    """The part of the base64 of ``raw`` that is the same wherever ``raw`` sits in a longer encoded
    value: one spelling per alignment (0, 1 or 2 bytes before it in its 3-byte group)."""
    spellings = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw, altchars=altchars)
        spellings.add(encoded[math.ceil(8 * offset / 6) : (8 * (offset + len(raw))) // 6])
    return spellings


def _forms(value: str) -> set[bytes]:
    """The spellings (UTF-8) under which a secret may show up in output."""
    raw = value.encode("utf-8", "surrogatepass")
    texts = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    forms = {text.encode("utf-8", "surrogatepass") for text in texts}
    for altchars in (None, b"-_"):
        whole = base64.b64encode(raw, altchars=altchars)
        forms |= {whole, whole.rstrip(b"="), *aligned_base64(raw, altchars)}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class _Level:
    """An automaton over a fixed list of forms (leftmost-longest matches: the fastest search the
    library has, measured in ``benchmarks/redactor.py``); levels are immutable once built."""

    __slots__ = ("_fragments", "automaton", "forms", "longest")

    def __init__(self, forms: list[bytes]) -> None:
        self.forms = forms
        self.longest = max(map(len, forms))
        self._fragments: _Fragments | None = None
        self.automaton = BytesAhoCorasick(
            forms, matchkind=MatchKind.LeftmostLongest, implementation=Implementation.ContiguousNFA
        )

    def fragments(self) -> _Fragments:
        """The sorted forms for :meth:`_Fragments.spans`, built the first time a cut mark is seen."""
        if self._fragments is None:
            self._fragments = _Fragments(self.forms)
        return self._fragments

    def spans(self, data: bytes) -> list[tuple[int, int]]:
        """Where forms occur in ``data``, also a form that begins inside another one's match and runs
        past its end (one secret's tail is another's head), which a leftmost-longest search skips."""
        found = self.automaton.find_matches_as_indexes(data)
        if not found:
            return []
        spans = [(start, end) for _, start, end in found]
        for start, end in spans:  # grows while it is walked: an overlap can overlap again
            window = data[start + 1 : end + self.longest]
            spans += [
                (start + 1 + inner_start, start + 1 + inner_end)
                for _, inner_start, inner_end in self.automaton.find_matches_as_indexes(window)
                if start + 1 + inner_end > end and start + 1 + inner_start < end
            ]
        return spans


class _Fragments:
    """Every form sorted, and every form reversed and sorted: whether the text just before (after) a cut
    mark is the beginning (end) of a secret that a truncating formatter cut in two."""

    def __init__(self, forms: Iterable[bytes]) -> None:
        self.heads = sorted(forms)
        self.tails = sorted(form[::-1] for form in self.heads)

    @staticmethod
    def _longest(ordered: list[bytes], text: bytes) -> int:
        """Length of the longest suffix of ``text`` that begins some entry of ``ordered``."""
        for start in range(len(text) - MIN_SECRET_LENGTH + 1):
            candidate = text[start:]
            index = bisect.bisect_left(ordered, candidate)
            if index < len(ordered) and ordered[index].startswith(candidate):
                return len(candidate)
        return 0

    def spans(self, data: bytes) -> Iterator[tuple[int, int]]:
        """Spans next to each cut mark that hold the beginning or the end of a secret. Only the word
        touching the mark is looked at (no whitespace), so a text full of dots stays cheap."""
        for mark in _CUT_MARKS:
            at = data.find(mark)
            while at != -1:
                word = _WORD_BEFORE.search(data, max(0, at - _CUT_WINDOW), at)
                head = self._longest(self.heads, word.group()) if word else 0
                if head:
                    yield at - head, at
                after = at + len(mark)
                word = _WORD_AFTER.match(data, after, after + _CUT_WINDOW)
                tail = self._longest(self.tails, word.group()[::-1]) if word else 0
                if tail:
                    yield after, after + tail
                at = data.find(mark, after)


class Redactor:
    """Replaces every known secret, in all its forms, with ``***``. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pending: list[str] = []
        self._known_forms: set[bytes] = set()
        self._levels: tuple[_Level, ...] = ()

    def add(self, value: str | Secret | None) -> None:
        """Register a secret value; short or obviously non-secret values are ignored. Cheap: the value
        is queued, and its forms join the automata when the next text is scrubbed."""
        if isinstance(value, Secret):
            value = value.reveal()
        if not value or len(value) < MIN_SECRET_LENGTH or value.lower() in _NOT_SECRET_VALUES:
            return
        if "://" in value:
            self.add_all(url_secrets(value))
            if _is_plain_url(value):
                return  # a URL with no password, query or fragment carries no secret; its host stays readable
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            self._pending.append(value)

    def add_all(self, values: Iterable[str | Secret | None]) -> None:
        for value in values:
            self.add(value)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pending.clear()
            self._known_forms.clear()
            self._levels = ()

    def __contains__(self, value: str) -> bool:
        return value in self._values

    def __len__(self) -> int:
        return len(self._values)

    def _current(self) -> tuple[_Level, ...]:
        """The automata, after building a level for the secrets queued since the last scrub."""
        if not self._pending:
            return self._levels
        with self._lock:
            queued, self._pending = self._pending, []
            forms = set().union(*(_forms(value) for value in queued)) - self._known_forms
            if forms:
                self._known_forms |= forms
                levels = list(self._levels)
                merged = list(forms)
                while levels and len(levels[-1].forms) <= len(merged):
                    merged = levels.pop().forms + merged
                levels.append(_Level(merged))
                self._levels = tuple(levels)
            return self._levels

    def _cut_spans(self, data: bytes) -> Iterator[tuple[int, int]]:
        """Fragments of secrets that something outside opscheck cut before it could be scrubbed."""
        for level in self._levels:
            yield from level.fragments().spans(data)

    def scrub_bytes(self, data: bytes) -> bytes:
        """``data`` (UTF-8 text, or mostly) with every secret form replaced by ``***``.

        Occurrences that overlap (one secret's tail is another's head) are masked as one span, so no
        fragment of either is left behind; so is a fragment of a secret next to a cut mark (``...``,
        ``…``) that a truncating formatter outside opscheck left.
        """
        levels = self._current()
        if not levels or not data:
            return data
        spans = _matches(levels, data)
        if data.find(b"\n", 0, len(data) - 1) != -1:  # wrapped literals span lines; a log line has none
            spans += _matches_across_joins(levels, data)
        if _CUT_MARKS[0] in data or _CUT_MARKS[1] in data:
            spans += self._cut_spans(data)
        if not spans:
            return data
        spans.sort()
        pieces: list[bytes] = []
        position = 0
        for start, end in spans:
            if end <= position:
                continue
            if start > position:
                pieces.append(data[position:start])
            if start >= position:
                pieces.append(MASK.encode())
            position = end
        pieces.append(data[position:])
        return b"".join(pieces)

    def scrub(self, text: str) -> str:
        """``text`` with every secret form replaced by ``***`` (see :meth:`scrub_bytes`)."""
        if not text or (not self._levels and not self._pending):
            return text
        data = text.encode("utf-8", "surrogatepass")
        scrubbed = self.scrub_bytes(data)
        return text if scrubbed is data else scrubbed.decode("utf-8", "surrogatepass")

    def scrub_obj(self, obj: Any) -> Any:
        """Scrub every string inside a JSON-like structure (dicts, lists, tuples)."""
        if isinstance(obj, str):
            return self.scrub(obj)
        if isinstance(obj, Mapping):
            return {self.scrub_obj(k): self.scrub_obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.scrub_obj(v) for v in obj)
        return obj


def _matches(levels: tuple[_Level, ...], data: bytes) -> list[tuple[int, int]]:
    if len(levels) == 1:
        return levels[0].spans(data)
    return [span for level in levels for span in level.spans(data)]


def _matches_across_joins(levels: tuple[_Level, ...], data: bytes) -> list[tuple[int, int]]:
    """Secrets that a pretty-printer wrapped over several adjacent string literals (``'abc'\\n 'def'``,
    as pytest's ``-vv`` and ``-l`` output does): matched in the text with the joins taken out, and
    mapped back to spans of the original that include the joins."""
    joins = [(match.start(), match.end()) for match in _LITERAL_JOIN.finditer(data)]
    if not joins:
        return []
    pieces, positions, shifts = [], [], []
    previous = shifted = 0
    for start, end in joins:
        pieces.append(data[previous:start])
        shifted += end - start
        positions.append(start - (shifted - (end - start)))  # where the join sits in the joined text
        shifts.append(shifted)
        previous = end
    pieces.append(data[previous:])

    def original(position: int, *, is_end: bool) -> int:
        index = (bisect.bisect_left if is_end else bisect.bisect_right)(positions, position)
        return position + (shifts[index - 1] if index else 0)

    return [
        (original(start, is_end=False), original(end, is_end=True))
        for start, end in _matches(levels, b"".join(pieces))
    ]


_REDACTOR = Redactor()


def redactor() -> Redactor:
    """The process-wide redactor."""
    return _REDACTOR


def clip(text: str, limit: int) -> str:
    """``text`` scrubbed, then cut to at most ``limit`` characters: scrubbing after a cut would miss a
    secret the cut went through."""
    scrubbed = redactor().scrub(text)
    return scrubbed if len(scrubbed) <= limit else scrubbed[: limit - 1] + "…"


def _is_plain_url(value: str) -> bool:
    """``scheme://[user@]host[:port][/path]`` with no password, query or fragment."""
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^\s]+$", value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return (
        bool(parts.hostname)
        and parts.password is None
        and not parts.query
        and not parts.fragment
        and not _misread(value, parts.netloc)
    )


_URL_START = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://(?P<rest>\S*)")
_PASSWORD_PIECES = re.compile(r"[/?#@]")


def _misread(url: str, netloc: str) -> bool:
    """Whether an ``@`` follows the network location a parser found: a password holding ``/``, ``?``
    or ``#`` made the parser end the host part early (an ``@`` in a path or query is treated alike)."""
    rest = url.split("://", 1)[1] if "://" in url else url
    return "@" in rest[len(netloc) :]


def _userinfo_secrets(rest: str) -> Iterator[str]:
    """From what follows ``scheme://``, before any parsing: for every ``@`` that may end the user
    info, the password (raw and decoded), ``user:password`` (what Basic auth encodes) and the pieces of
    the password between ``/ ? # @`` (what a parser that misread the URL may print)."""
    at = rest.find("@")
    while at != -1:
        user, colon, password = rest[:at].partition(":")
        if colon and password:
            for name, secret in ((user, password), (unquote(user), unquote(password))):
                yield secret
                yield f"{name}:{secret}"
            yield from _PASSWORD_PIECES.split(password)
        at = rest.find("@", at + 1)


def _query_secrets(text: str) -> Iterator[str]:
    """Values of query parameters whose names look secret (``?access_token=…``), raw and decoded."""
    query = text.partition("?")[2].partition("#")[0]
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        if equals and value and is_secret_name(unquote(name)):
            yield value
            yield unquote(value)


def url_secrets(text: str) -> list[str]:
    """The secrets inside a URL or a path with a query, read from the raw text before any parsing (see
    the module docstring); never raises."""
    found: dict[str, None] = {}
    for match in _URL_START.finditer(text):
        found.update(dict.fromkeys(_userinfo_secrets(match.group("rest"))))
    found.update(dict.fromkeys(_query_secrets(text)))
    return [value for value in found if len(value) >= MIN_SECRET_LENGTH]


def url_password(url: str) -> str | None:
    """The password part of a URL such as ``postgresql://user:pw@host/db``, if any."""
    if "://" not in url or "@" not in url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def mask_url(url: str) -> str:
    """``url`` with its password (and any query string) replaced by ``***``, safe for messages. A URL
    that does not parse cleanly (a password holding ``/ ? # @`` makes parsers misread it) is never
    echoed: only its scheme is kept."""
    scheme = url.split("://", 1)[0] if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url) else ""
    unreadable = f"{scheme}://{MASK}" if scheme else MASK
    try:
        parts = urlsplit(url)
    except ValueError:
        return unreadable
    if "://" in url and _misread(url, parts.netloc):
        return unreadable
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}"
    query = MASK if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def register_aws_credentials(session: Any) -> None:
    """Register the secret access key and session token a boto3 session resolved, wherever they came
    from (environment, shared credentials file, profile): botocore's DEBUG log prints the session token
    in its canonical request."""
    credentials = session.get_credentials()
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        redactor().add_all([frozen.secret_key, frozen.token])


def is_secret_name(name: str) -> bool:
    """Whether an environment variable name says its value is a secret."""
    return name not in _NOT_SECRET_NAMES and bool(_SECRET_NAME.search(name))


def secret_env_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look secret, plus the secrets inside any URL value
    (see :func:`url_secrets`)."""
    environ = os.environ if environ is None else environ
    values: list[str] = []
    for name, value in environ.items():
        if is_secret_name(name):
            values.append(value)
        if "://" in value or "?" in value:
            values += url_secrets(value)
    return list(dict.fromkeys(values))
