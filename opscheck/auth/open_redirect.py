"""Open redirects through ``callbackUrl``: a battery of foreign-host payloads, tried on sign-in and sign-out,
judged as a browser would resolve what the app answers.

The host-based payloads are built from the origin the app itself reports (its JSON ``url`` answers:
Next.js reports ``127.0.0.1`` as ``localhost``) as well as from ``base_url``, because the classic bug,
``if (url.startsWith(baseUrl)) return url``, is fooled only by a payload that starts with the app's own
origin. A payload the app answers with an error counts as refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

from opscheck.auth.advice import open_redirect_advice
from opscheck.auth.answers import AuthServerError
from opscheck.auth.client import NextAuth
from opscheck.auth.flavors import Flavor, cookie_kind
from opscheck.errors import CheckFailed
from opscheck.run.context import CheckRecord
from opscheck.secrets import mask_url

__all__ = [
    "CANARY_HOST",
    "RedirectPayload",
    "RedirectTrial",
    "browser_target",
    "expect_no_open_redirect",
    "honoured",
    "redirect_payloads",
    "try_redirect",
]

#: a host that cannot exist (.invalid is reserved): a callbackUrl that leads there is an open redirect
CANARY_HOST = "opscheck-canary.invalid"


@dataclass(frozen=True)
class RedirectPayload:
    """One ``callbackUrl`` an open redirect would honour: what kind of trick it is, and the value."""

    label: str
    url: str

    def describe(self) -> str:
        return f"{self.label} {mask_url(self.url)}"


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def redirect_payloads(origins: Iterable[str]) -> list[RedirectPayload]:
    """The open-redirect battery: foreign hosts spelled every way redirect checks get wrong.

    The host-based ones are built from each of ``origins`` (the app's own origin, as its redirects and JSON
    ``url`` answers show it, and ``base_url``): a check like ``url.startsWith(baseUrl)`` honours
    ``http://HOST:PORT.evil`` and ``http://HOST:PORT@evil``.
    """
    evil = CANARY_HOST
    payloads = [
        RedirectPayload("another host", f"https://{evil}/after-sign-in"),
        RedirectPayload("scheme-relative", f"//{evil}/after-sign-in"),
        RedirectPayload("backslash", f"/\\{evil}/after-sign-in"),
        RedirectPayload("scheme without slashes", f"https:{evil}/after-sign-in"),
        RedirectPayload("scheme without slashes", f"http:{evil}/after-sign-in"),
        RedirectPayload("percent-encoded slashes", f"/%2F%2F{evil}/after-sign-in"),
        RedirectPayload("percent-encoded slashes", f"%2F%2F{evil}%2Fafter-sign-in"),
        RedirectPayload("javascript: URL", "javascript:alert(document.domain)//"),
    ]
    seen: set[str] = set()
    for origin in origins:
        root = _origin(origin)
        if root is None or root in seen:
            continue
        seen.add(root)
        payloads.append(RedirectPayload("host suffix", f"{root}.{evil}/after-sign-in"))
        payloads.append(RedirectPayload("user info", f"{root}@{evil}/after-sign-in"))
    return payloads


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", re.DOTALL)
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
_SCRIPT_SCHEMES = {"javascript", "data", "vbscript"}


def browser_target(url: str, base: str) -> str:
    """Where a browser goes for this ``Location`` or JSON ``url`` on page ``base`` (the WHATWG rules that
    open redirects exploit: backslashes are slashes in http(s) URLs, tabs and newlines are dropped, and
    ``https:host`` is absolute unless the page is https too)."""
    text = _TAB_OR_NEWLINE.sub("", url).strip("\x00 ")
    match = _SCHEME.match(text)
    if match is None:
        return urljoin(base, text.replace("\\", "/"))
    scheme, rest = match.group(1).lower(), str(match.group(2))
    if scheme not in ("http", "https"):
        return text
    rest = rest.replace("\\", "/")
    if rest.startswith("//"):
        return f"{scheme}:{rest}"
    if scheme == urlsplit(base).scheme.lower():
        return urljoin(base, rest)
    return f"{scheme}://{rest.lstrip('/')}"


def honoured(url: str | None, base: str) -> bool:
    """Whether sending the browser to ``url`` would take it to the canary host or run script."""
    if not url:
        return False
    target = urlsplit(browser_target(url, base))
    return target.scheme.lower() in _SCRIPT_SCHEMES or CANARY_HOST in target.netloc.lower()


@dataclass(frozen=True)
class RedirectTrial:
    """What the app did with one payload: where sign-in and sign-out would send the browser."""

    payload: RedirectPayload
    sign_in: str | None
    callback_cookie: str | None
    sign_out: str | None

    def honoured_by(self, base: str) -> list[str]:
        flows = []
        if honoured(self.sign_in, base) or honoured(self.callback_cookie, base):
            flows.append("sign-in")
        if honoured(self.sign_out, base):
            flows.append("sign-out")
        return flows


def try_redirect(nextauth: NextAuth, payload: RedirectPayload) -> RedirectTrial:
    """Sign the smoke user in asking to be sent to ``payload`` afterwards, then sign out asking the same.

    A payload the app rejects with an error (an error page, a 4xx/5xx) is recorded as no redirect at all.
    """
    username, password = nextauth.credentials()
    attempt = nextauth.attempt_sign_in(username, password, callback_url=payload.url)
    returned = attempt.url if attempt.status < 400 and not attempt.error else None
    cookie = next(
        (unquote(c.value) for c in attempt.cookies if cookie_kind(c) == "callback-url" and not c.clears), None
    )
    after = None
    if attempt.succeeded:
        session = attempt.session_cookie
        try:
            result = nextauth.sign_out(
                attempt.client, session.name if session else "", callback_url=payload.url
            )
        except AuthServerError:  # next-auth v4 answers 500 to every request carrying an invalid callback-url
            result = None
        after = result.url if result is not None and result.status < 400 else None
    return RedirectTrial(payload, returned, cookie, after)


def expect_no_open_redirect(
    trials: Iterable[RedirectTrial], base: str, check: CheckRecord, flavor: Flavor | None = None
) -> None:
    """No payload is honoured by sign-in (returned URL or callback-url cookie) or sign-out."""
    __tracebackhide__ = True
    trials = list(trials)
    check.metric("payloads", len(trials))
    found = [
        f"{payload} on {' and '.join(flows)}"
        for trial in trials
        if (flows := trial.honoured_by(base)) and (payload := trial.payload.describe())
    ]
    check.metric("honoured", len(found))
    if found:
        failure = CheckFailed(
            f"sign-in and sign-out with {len(trials)} foreign callbackUrl payloads",
            "every one refused (a URL on the app's own origin, or an error)",
            f"{len(found)} honoured (open redirect): " + "; ".join(found),
        )
        failure.lead = open_redirect_advice(flavor)
        raise failure
