"""What a smoke page must (and must not) say, and the error markers of the framework serving it.

``smoke.pages`` entries are paths or tables ``{ path, contains, not_contains }`` (a string or a list of
strings each). Besides those expectations, a page that answers 200 fails when its body carries Next.js's own
error markers, as the real reference app serves them (seen with next 16, App Router):

* ``<html id="__next_error__">``: the error document Next.js renders when a server component throws;
* ``N:E{"digest":"…"}``: an error row in the React Server Components payload: a part of the page that
  threw while streaming, after the 200 status was sent (the page shows an error instead of its content);
* ``Application error: a server-side exception has occurred`` (and its client-side twin) and the Pages
  Router's ``next-error-h1`` "500" heading, as older and Pages-Router apps render them.

None of these appears in the reference app's normal pages (whose payload does carry the "404 / This page
could not be found" template and the ``next-error-h1`` style, which are therefore not markers). A
*client-side* exception is not visible in the served HTML at all (the page is a normal 200; React renders
"Application error: a client-side exception has occurred" in the browser): only a browser check finds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from opscheck.errors import ConfigError

__all__ = ["ERROR_MARKERS", "PageExpectation", "error_marker_in", "page_paths", "parse_pages"]

#: (what it means, pattern) of each Next.js error marker
ERROR_MARKERS: Final = (
    (
        'Next.js\'s error document (<html id="__next_error__">)',
        re.compile(r"<html[^>]*\bid=\"__next_error__\""),
    ),
    (
        "an error row in the React Server Components payload (a part of the page threw while streaming)",
        re.compile(r"(?:^|\\n|\n|\")[0-9a-f]+:E\{\\?\"digest\\?\":"),
    ),
    (
        '"Application error: a server-side exception has occurred"',
        re.compile(r"Application error: a (?:server|client)-side exception has occurred"),
    ),
    ("the Next.js 500 error page", re.compile(r"class=\"next-error-h1\"[^>]*>\s*500\s*<")),
)

_KEYS: Final = ("path", "contains", "not_contains")


@dataclass(frozen=True)
class PageExpectation:
    path: str
    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{key} must be a string or a list of strings, got {type(value).__name__}")


def parse_pages(value: Any, key: str) -> list[PageExpectation]:
    """``smoke.pages``: paths, or tables ``{ path, contains, not_contains }``; ConfigError names the entry."""
    if not isinstance(value, list):
        raise ConfigError(
            f"{key} must be a list of strings (paths) or {{ path, contains, not_contains }} tables"
        )
    found = []
    for index, entry in enumerate(value):
        where = f"{key}[{index}]"
        if isinstance(entry, str):
            found.append(PageExpectation(entry))
            continue
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{key} must be a list of strings (paths) or {{ path, contains, not_contains }} tables; "
                f"entry {index} is a {type(entry).__name__}"
            )
        unknown = sorted(set(entry) - set(_KEYS))
        if unknown:
            raise ConfigError(f"unknown key {where}.{unknown[0]}; valid keys: {', '.join(_KEYS)}")
        if not isinstance(entry.get("path"), str):
            raise ConfigError(f"{where}.path must be set to a path string")
        found.append(
            PageExpectation(
                entry["path"],
                _strings(entry.get("contains", []), f"{where}.contains"),
                _strings(entry.get("not_contains", []), f"{where}.not_contains"),
            )
        )
    return found


def page_paths(value: Any, key: str, base: Any = None) -> list[str]:
    """The paths of ``smoke.pages`` (a config parser: entries validated, tables reduced to their path)."""
    return [page.path for page in parse_pages(value, key)]


def error_marker_in(body: str) -> str | None:
    """What the first Next.js error marker found in ``body`` means, or None."""
    for meaning, pattern in ERROR_MARKERS:
        if pattern.search(body):
            return meaning
    return None
