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
of secrets. The automata index only the first 8 bytes of each form, and a match is checked against the
whole forms (a dict by prefix): building them costs a fraction of indexing whole forms. URL-safe base64
is folded into standard base64 (in the forms and in the text searched), which halves the forms.
Registering a secret only queues it; the automata are built when the next text is scrubbed, in levels
that merge like a binary counter (a new level absorbs every older level not larger than itself), so
registering secrets one at a time between scrubs costs O(n log n) in all, never O(n²).
"""

from __future__ import annotations

import base64
import bisect
import math
import os
import re
import threading
from binascii import b2a_base64
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

from ahocorasick_rs import BytesAhoCorasick, Implementation, MatchKind

__all__ = [
    "MASK",
    "Redactor",
    "RedactorState",
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
#: characters that URL encoding and JSON escaping leave as they are: such a value has one text form
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]+")
#: URL-safe base64 folded into standard base64; applied to forms and to the text searched alike
_FOLD: Final = bytes.maketrans(b"-_", b"+/")
#: bytes of each form the automata index; a match is checked against the whole form
_PREFIX: Final = 8


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


def _texts(value: str) -> list[str]:
    """``value`` and its URL-encoded and JSON-escaped spellings, without repeats; one for a value made of
    characters none of these encodings change (most tokens)."""
    if _PLAIN.fullmatch(value):
        return [value]
    strict = quote(value, safe="")
    texts = [value, strict, quote(value), quote_plus(value, safe=""), encode_basestring_ascii(value)[1:-1]]
    if not value.isascii():
        texts.append(encode_basestring(value)[1:-1])
    return list(dict.fromkeys(texts))


def _families(value: str) -> list[tuple[bytes, ...]]:
    """The spellings (UTF-8, folded by :data:`_FOLD`) under which a secret may show up in output, in
    families: the forms of a family begin alike, shortest first, each a prefix of the next (base64 cut
    at the last whole character, without padding, padded), so finding the first finds them all.

    Folding ``-``/``_`` into ``+``/``/`` makes standard and URL-safe base64 one spelling (the text is
    folded alike before it is searched): half the forms. The price is that a text differing from a
    secret only by those characters is masked too.
    """
    raw = value.encode("utf-8", "surrogatepass")
    families: list[tuple[bytes, ...]] = [
        (text.encode("utf-8", "surrogatepass").translate(_FOLD),) for text in _texts(value)
    ]
    size = len(raw)
    whole = b2a_base64(raw, newline=False)
    families.append(tuple(dict.fromkeys((whole[: (8 * size) // 6], whole.rstrip(b"="), whole))))
    families.append((b2a_base64(b"\0" + raw, newline=False)[2 : (8 * (1 + size)) // 6],))
    families.append((b2a_base64(b"\0\0" + raw, newline=False)[3 : (8 * (2 + size)) // 6],))
    kept = []
    for family in families:
        forms = tuple(form for form in family if len(form) >= MIN_SECRET_LENGTH)
        if forms:
            kept.append(forms)
    return kept


class _Level:
    """An automaton over the first :data:`_PREFIX` bytes of a fixed list of forms, and the forms by those
    prefixes: a match of a prefix is a candidate, checked against the whole forms. Indexing a short
    prefix instead of the whole form makes the automaton several times cheaper to build (cookies' base64
    forms run to hundreds of bytes) and smaller to scan with; overlapping matches are reported, so a form
    that begins inside another one's match (one secret's tail is another's head) is found too. Levels
    are immutable once built."""

    __slots__ = ("_by_prefix", "automaton", "forms")

    def __init__(self, forms: list[bytes]) -> None:
        self.forms = forms
        by_prefix: dict[bytes, list[bytes]] = {}
        for form in forms:
            by_prefix.setdefault(form[:_PREFIX], []).append(form)
        self._by_prefix = [sorted(group, key=len, reverse=True) for group in by_prefix.values()]
        self.automaton = BytesAhoCorasick(
            list(by_prefix), matchkind=MatchKind.Standard, implementation=Implementation.ContiguousNFA
        )

    def spans(self, data: bytes) -> list[tuple[int, int]]:
        """Where forms occur in ``data``, overlapping ones included."""
        spans = []
        for index, start, _ in self.automaton.find_matches_as_indexes(data, overlapping=True):
            for form in self._by_prefix[index]:  # longest first: the shorter ones are inside its span
                if data.startswith(form, start):
                    spans.append((start, start + len(form)))
                    break
        return spans


class _Built(Protocol):
    forms: list[bytes]


_L = TypeVar("_L", bound=_Built)


def _merged(
    levels: tuple[_L, ...], pending: list[bytes], build: Callable[[list[bytes]], _L]
) -> tuple[_L, ...]:
    """``levels`` with a new level for ``pending``, merged like a binary counter: the new level absorbs
    every newer level not larger than itself, so each form is rebuilt O(log n) times in all."""
    kept = list(levels)
    merged = pending
    while kept and len(kept[-1].forms) <= len(merged):
        merged = kept.pop().forms + merged
    kept.append(build(merged))
    return tuple(kept)


class _Fragments:
    """Every form sorted, and every form reversed and sorted: whether the text just before (after) a cut
    mark is the beginning (end) of a secret that a truncating formatter cut in two."""

    def __init__(self, forms: list[bytes]) -> None:
        self.forms = forms
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


@dataclass(frozen=True)
class RedactorState:
    """What a :class:`Redactor` knows at one moment (its automata are immutable, so they are shared)."""

    values: frozenset[str]
    pending: tuple[str, ...]
    levels: tuple[_Level, ...]
    cut_pending: tuple[bytes, ...]
    cut: tuple[_Fragments, ...]


class Redactor:
    """Replaces every known secret, in all its forms, with ``***``. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pending: list[str] = []
        self._levels: tuple[_Level, ...] = ()
        self._cut_pending: list[bytes] = []
        self._cut: tuple[_Fragments, ...] = ()

    def add(self, value: str | Secret | None) -> None:
        """Register a secret value; short or obviously non-secret values are ignored. Cheap: the value
        is queued, and its forms are filed when the next text is scrubbed."""
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
            self._levels = ()
            self._cut_pending.clear()
            self._cut = ()

    def snapshot(self) -> RedactorState:
        """The secrets known now, for :meth:`restore` (tests isolate the process-wide redactor with it)."""
        with self._lock:
            return RedactorState(
                frozenset(self._values),
                tuple(self._pending),
                self._levels,
                tuple(self._cut_pending),
                self._cut,
            )

    def restore(self, state: RedactorState) -> None:
        """Know exactly the secrets of ``state`` again, forgetting any added since."""
        with self._lock:
            self._values = set(state.values)
            self._pending = list(state.pending)
            self._levels = state.levels
            self._cut_pending = list(state.cut_pending)
            self._cut = state.cut

    def __contains__(self, value: str) -> bool:
        return value in self._values

    def __len__(self) -> int:
        return len(self._values)

    def _file_pending(self) -> None:
        """Index the forms of the secrets queued since the last scrub, in a new automaton level (merged
        with older levels like a binary counter); the cut-mark index is built when a cut mark is seen."""
        with self._lock:
            if not self._pending:
                return
            queued, self._pending = self._pending, []
            forms = list({form for value in queued for family in _families(value) for form in family})
            self._levels = _merged(self._levels, forms, _Level)
            self._cut_pending += forms

    def _spans(self, data: bytes) -> list[tuple[int, int]]:
        levels = self._levels
        if len(levels) == 1:
            return levels[0].spans(data)
        return [span for level in levels for span in level.spans(data)]

    def _cut_spans(self, data: bytes) -> list[tuple[int, int]]:
        """Fragments of secrets that something outside opscheck cut before it could be scrubbed."""
        with self._lock:
            if self._cut_pending:
                self._cut = _merged(self._cut, self._cut_pending, _Fragments)
                self._cut_pending = []
            levels = self._cut
        return [span for level in levels for span in level.spans(data)]

    def scrub_bytes(self, data: bytes) -> bytes:
        """``data`` (UTF-8 text, or mostly) with every secret form replaced by ``***``.

        Occurrences that overlap (one secret's tail is another's head) are masked as one span, so no
        fragment of either is left behind; so is a fragment of a secret next to a cut mark (``...``,
        ``…``) that a truncating formatter outside opscheck left.
        """
        if self._pending:
            self._file_pending()
        if not data or not self._values:
            return data
        folded = data.translate(_FOLD)
        spans = self._spans(folded)
        if folded.find(b"\n", 0, len(folded) - 1) != -1:  # wrapped literals span lines; a log line has none
            spans += _matches_across_joins(self._spans, folded)
        if _CUT_MARKS[0] in folded or _CUT_MARKS[1] in folded:
            spans += self._cut_spans(folded)
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
        if not text or not self._values:
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


def _matches_across_joins(
    matches: Callable[[bytes], list[tuple[int, int]]], data: bytes
) -> list[tuple[int, int]]:
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
        for start, end in matches(b"".join(pieces))
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
