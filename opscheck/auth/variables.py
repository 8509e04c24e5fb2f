"""Which secret and which URL a NextAuth app will use, resolved from its variables the way next-auth does.

Read from next-auth's own source (next-auth 5.0.0-beta.32 ``lib/env.js`` with @auth/core 0.41.3
``lib/utils/env.js``; next-auth 4.24.15 ``next/index.js`` and ``utils/detect-origin.js``). ``A ?? B`` is
JavaScript's: the first variable that is *defined* wins, even when it is empty.

=====================  ===============================================================================
next-auth 5 secret     ``AUTH_SECRET ?? NEXTAUTH_SECRET``; only when that is empty does Auth.js build a
                       rotation list ``[AUTH_SECRET_3, AUTH_SECRET_2, AUTH_SECRET_1]`` (the set ones):
                       the first signs, every one verifies
next-auth 5 URL        ``AUTH_URL ?? NEXTAUTH_URL``; without one, the request's Host (X-Forwarded-Host)
                       when ``trustHost = !!(AUTH_URL ?? AUTH_TRUST_HOST ?? VERCEL ?? CF_PAGES ??
                       NODE_ENV !== "production")``, else every ``/api/auth`` request answers 500
                       (UntrustedHost)
next-auth 4 secret     ``NEXTAUTH_SECRET ?? AUTH_SECRET`` (no rotation)
next-auth 4 URL        ``NEXTAUTH_URL``, else the forwarded Host when ``VERCEL ?? AUTH_TRUST_HOST``
=====================  ===============================================================================

The flavour (v4 or v5) comes from ``auth.flavor``, else from the variables' names (``AUTH_*`` or
``NEXTAUTH_*``), else from the live app's cookie prefixes (``authjs.`` or ``next-auth.``). Findings
name variables, never values.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from opscheck.auth.client import NextAuth
from opscheck.auth.flavors import FLAVOR_BY_NAME, FLAVOR_NAMES, FlavorName
from opscheck.config import Environment
from opscheck.credentials.findings import Finding, variables_listed
from opscheck.credentials.values import (
    nextauth_secret_finding,
    nextauth_url_finding,
    required_finding,
)
from opscheck.errors import OpscheckError

__all__ = [
    "REQUIRED_BY_FLAVOR",
    "FlavorChoice",
    "Origin",
    "SecretPlan",
    "choose_flavor",
    "configured_flavor",
    "flavor_from_names",
    "live_flavor",
    "origin_finding",
    "required_names",
    "required_variable_finding",
    "resolve_origin",
    "resolve_secret",
    "secret_rule_finding",
    "secret_source_finding",
    "url_rule_finding",
]

_LABEL: Final[dict[FlavorName, str]] = {"v4": "next-auth 4", "v5": "next-auth 5"}

#: ``credentials.required`` when the config does not list it
REQUIRED_BY_FLAVOR: Final[dict[FlavorName, tuple[str, ...]]] = {
    "v4": ("DATABASE_URL", "NEXTAUTH_SECRET", "NEXTAUTH_URL", "SENTRY_DSN"),
    "v5": ("DATABASE_URL", "AUTH_SECRET", "SENTRY_DSN"),
}

ROTATION: Final = ("AUTH_SECRET_1", "AUTH_SECRET_2", "AUTH_SECRET_3")
SECRET_NAMES: Final = ("AUTH_SECRET", *ROTATION, "NEXTAUTH_SECRET")
URL_NAMES: Final = ("AUTH_URL", "NEXTAUTH_URL")
_V5_NAME = re.compile(
    r"^AUTH_(SECRET(_[123])?|URL|TRUST_HOST|REDIRECT_PROXY_URL|[A-Z0-9_]+_(ID|SECRET|ISSUER))$"
)
_PLATFORM_HOSTS: Final = ((".vercel.app", "VERCEL"), (".pages.dev", "CF_PAGES"))


def _defined(values: Mapping[str, str], name: str) -> bool:
    return values.get(name) is not None


def _first_defined(values: Mapping[str, str], names: Sequence[str]) -> str | None:
    """JavaScript's ``A ?? B ?? …``: the first name that is defined (an empty value counts)."""
    return next((name for name in names if _defined(values, name)), None)


# ============================================================================================ flavour


@dataclass(frozen=True)
class FlavorChoice:
    """The detected flavour (None: undecided) and what decided it, for messages and the report."""

    flavor: FlavorName | None
    source: str

    @property
    def label(self) -> str:
        return _LABEL[self.flavor] if self.flavor else "next-auth (version unknown)"

    def __str__(self) -> str:
        return f"{self.label} ({self.source})"


def flavor_from_names(names: Iterable[str]) -> FlavorChoice:
    """v5 when only Auth.js names (``AUTH_SECRET``, ``AUTH_URL``, ``AUTH_SECRET_1``, ``AUTH_GITHUB_ID`` …)
    are set, v4 when only ``NEXTAUTH_*`` names are; undecided with both or neither."""
    present = set(names)
    v5 = sorted(name for name in present if _V5_NAME.match(name))
    v4 = sorted(name for name in present if name.startswith("NEXTAUTH_"))
    if v5 and not v4:
        return FlavorChoice("v5", f"the variables' names: {variables_listed(v5)}")
    if v4 and not v5:
        return FlavorChoice("v4", f"the variables' names: {variables_listed(v4)}")
    if v4 and v5:
        return FlavorChoice(None, f"both next-auth 4 and 5 names are set ({variables_listed(v4 + v5)})")
    return FlavorChoice(None, "no AUTH_* or NEXTAUTH_* variable is set")


def choose_flavor(
    configured: str | None, names: Iterable[str], live: Callable[[], FlavorChoice] | None = None
) -> FlavorChoice:
    """``auth.flavor`` when it is v4 or v5, else the variables' names, else the live app (if asked)."""
    if configured in FLAVOR_BY_NAME:
        return FlavorChoice(FLAVOR_BY_NAME[configured].name, "auth.flavor")
    by_names = flavor_from_names(names)
    if by_names.flavor is not None or live is None:
        return by_names
    by_app = live()
    if by_app.flavor is not None:
        return by_app
    return FlavorChoice(None, f"{by_names.source}; {by_app.source}")


def required_names(listed: Sequence[str] | None, flavor: FlavorName | None) -> list[str]:
    """``credentials.required`` as configured, else the flavour's defaults (v4's when undecided)."""
    if listed is not None:
        return list(listed)
    return list(REQUIRED_BY_FLAVOR[flavor or "v4"])


def _alias_reader(name: str, values: Mapping[str, str], flavor: FlavorName) -> str | None:
    """The variable that ``flavor`` reads for the setting ``name`` stands for, when ``name`` is unset."""
    if name in ("AUTH_SECRET", "NEXTAUTH_SECRET"):
        return resolve_secret(values, flavor).signing
    if name in URL_NAMES:
        return resolve_origin(values, flavor).url_variable
    return None


def required_variable_finding(
    name: str, values: Mapping[str, str], choice: FlavorChoice, *, from_defaults: bool, base_url: str = ""
) -> Finding:
    """``name`` is set to a real value; for the secret and URL, the variable next-auth reads in its place
    counts (``NEXTAUTH_SECRET`` is satisfied by ``AUTH_SECRET`` under next-auth 5, and so on). A default
    URL name is not needed by next-auth 5, nor on Vercel / Cloudflare Pages, which set the trusted Host."""
    literal = required_finding(name, values.get(name))
    if literal.ok or (values.get(name) or "").strip():
        return literal
    if name not in (*URL_NAMES, "AUTH_SECRET", "NEXTAUTH_SECRET"):
        return literal
    flavors = (choice.flavor,) if choice.flavor else FLAVOR_NAMES
    if from_defaults and name in URL_NAMES:
        origins = [resolve_origin(values, flavor, base_url) for flavor in flavors]
        on_platform = all(o.url_variable is None and o.trusted_by in ("VERCEL", "CF_PAGES") for o in origins)
        needs_url = choice.flavor is None or any(n in REQUIRED_BY_FLAVOR[choice.flavor] for n in URL_NAMES)
        if on_platform or not needs_url:
            because = f"{origins[0].trusted_by} is set" if on_platform else choice.source
            why = (
                f"{choice.label} does not need it ({because}); which URL the app uses is checked by "
                "test_auth_url_source_is_pinned"
            )
            return Finding(name, "set", literal.expected, skipped=why)
    readers = {flavor: _alias_reader(name, values, flavor) for flavor in flavors}
    usable = {
        flavor: reader
        for flavor, reader in readers.items()
        if reader is not None and required_finding(reader, values.get(reader)).ok
    }
    if len(usable) == len(flavors):
        readers_text = variables_listed(f"{_LABEL[f]} reads {r}" for f, r in usable.items())
        note = f"{name} is not set, but {readers_text}, which is set ({choice.source})"
        return Finding(name, "set", literal.expected, notes=(note,))
    if usable:
        missing = [f for f in flavors if f not in usable]
        return Finding(
            name,
            "set",
            literal.expected,
            seen=(
                f"{literal.seen}; {variables_listed(_LABEL[f] for f in usable)} would read "
                f"{variables_listed(usable.values())} instead, but {variables_listed(_LABEL[f] for f in missing)} "
                f"would not, and the version is unknown ({choice.source}): set auth.flavor"
            ),
        )
    return literal


# ============================================================================================= secret


@dataclass(frozen=True)
class SecretPlan:
    """The secret variables of an app: which are set, which the flavour reads (the first signs)."""

    flavor: FlavorName
    configured: tuple[str, ...]
    used: tuple[str, ...]
    ignored: tuple[str, ...]

    @property
    def signing(self) -> str | None:
        return self.used[0] if self.used else None


def _set(values: Mapping[str, str], name: str) -> bool:
    return bool((values.get(name) or "").strip())


def resolve_secret(values: Mapping[str, str], flavor: FlavorName) -> SecretPlan:
    """What ``flavor`` signs and verifies with (see the module's table)."""
    configured = tuple(name for name in SECRET_NAMES if _set(values, name))
    if flavor == "v4":
        chosen = _first_defined(values, ("NEXTAUTH_SECRET", "AUTH_SECRET"))
        used: tuple[str, ...] = (chosen,) if chosen and _set(values, chosen) else ()
    else:
        chosen = _first_defined(values, ("AUTH_SECRET", "NEXTAUTH_SECRET"))
        if chosen is not None and values.get(chosen):
            used = (chosen,)
        else:
            used = tuple(name for name in reversed(ROTATION) if _set(values, name))
    return SecretPlan(flavor, configured, used, tuple(n for n in configured if n not in used))


def _merge(rule: str, findings: Sequence[Finding], signing: str | None) -> Finding:
    """One finding for ``rule`` over several variables: broken when any is, naming each broken one."""
    broken = [f for f in findings if f.seen is not None]
    metrics: dict[str, object] = {}
    for finding in findings:
        for key, value in finding.metrics.items():
            metrics[
                key if finding.variable == signing or len(findings) == 1 else f"{key}[{finding.variable}]"
            ] = value
    notes = tuple(note for f in findings for note in f.notes)
    expected = findings[0].expected
    if broken:
        seen = "; ".join(f"{f.variable}: {f.seen}" if len(findings) > 1 else str(f.seen) for f in broken)
        return Finding(
            variables_listed(f.variable for f in broken), rule, expected, seen, notes=notes, metrics=metrics
        )
    return Finding(
        variables_listed(f.variable for f in findings), rule, expected, notes=notes, metrics=metrics
    )


def secret_rule_finding(rule: str, values: Mapping[str, str], choice: FlavorChoice) -> Finding:
    """``rule`` (key-material, entropy, deny-list) applied to every secret variable that is set, each
    named by its own variable; skipped when none is."""
    plan = resolve_secret(values, choice.flavor or "v5")
    if not plan.configured:
        return Finding(
            "AUTH_SECRET/NEXTAUTH_SECRET",
            rule,
            "",
            skipped=f"no secret variable ({variables_listed(SECRET_NAMES)}) is set: nothing to check",
        )
    findings = [nextauth_secret_finding(rule, values[name], name) for name in plan.configured]
    return _merge(rule, findings, plan.signing)


def _same(values: Mapping[str, str], a: str, b: str) -> bool:
    return hmac.compare_digest(values[a].strip().encode(), values[b].strip().encode())


def _verdict(
    variable: str,
    rule: str,
    expected: str,
    problems: Sequence[str],
    *,
    notes: Sequence[str],
    choice: FlavorChoice,
    metrics: Mapping[str, object],
) -> Finding:
    """A finding broken by ``problems`` (none: met), noting what was resolved and the flavour used."""
    return Finding(
        variable,
        rule,
        expected,
        "; ".join(problems) or None,
        notes=(*notes, f"flavour: {choice}"),
        metrics=metrics,
    )


def secret_source_finding(values: Mapping[str, str], choice: FlavorChoice) -> Finding:
    """The secret next-auth signs with is unambiguous: not two different values under AUTH_SECRET and
    NEXTAUTH_SECRET, and no rotation variable that next-auth ignores."""
    variable, rule = "AUTH_SECRET", "one-secret"
    expected = (
        "one signing secret that next-auth reads (rotation through AUTH_SECRET_1…_3 only where it is read)"
    )
    flavors = (choice.flavor,) if choice.flavor else FLAVOR_NAMES
    plans = {flavor: resolve_secret(values, flavor) for flavor in flavors}
    configured = next(iter(plans.values())).configured
    if not configured:
        return Finding(variable, rule, expected, skipped=f"no secret variable is set ({choice.source})")
    problems: list[str] = []
    if (
        _set(values, "AUTH_SECRET")
        and _set(values, "NEXTAUTH_SECRET")
        and not _same(values, "AUTH_SECRET", "NEXTAUTH_SECRET")
    ):
        wins = "; ".join(f"{_LABEL[f]} signs with {p.signing}" for f, p in plans.items())
        problems.append(
            f"AUTH_SECRET and NEXTAUTH_SECRET hold different values ({wins}; the other is ignored): "
            "keep one of them"
        )
    for flavor, plan in plans.items():
        rotation = [name for name in plan.ignored if name in ROTATION]
        if not rotation:
            continue
        if flavor == "v4":
            why = "next-auth 4 never reads AUTH_SECRET_1…_3"
        else:
            why = (
                f"next-auth 5 passes {plan.signing} alone to Auth.js when it is set, so no rotation list is "
                "built (unset AUTH_SECRET and NEXTAUTH_SECRET to rotate with AUTH_SECRET_1…_3, or pass "
                "secret: [new, old] in the auth config)"
            )
        problems.append(
            f"{variables_listed(rotation)} {'is' if len(rotation) == 1 else 'are'} set but ignored: {why}"
        )
    signing = {f: p.signing for f, p in plans.items()}
    notes = tuple(
        f"{_LABEL[f]} signs with {p.signing}"
        + (f" and verifies with {variables_listed(p.used[1:])} too" if len(p.used) > 1 else "")
        for f, p in plans.items()
        if p.signing
    )
    metrics = {"signing_secret": signing[flavors[0]] or ""} if len(set(signing.values())) == 1 else {}
    return _verdict(variable, rule, expected, problems, notes=notes, choice=choice, metrics=metrics)


# ============================================================================================== URL


@dataclass(frozen=True)
class Origin:
    """Where ``flavor`` takes the app's public URL from: a variable, or the request's Host header."""

    flavor: FlavorName
    url_variable: str | None
    trust_host: bool
    trusted_by: str | None
    notes: tuple[str, ...] = field(default=())

    @property
    def source(self) -> str:
        if self.url_variable:
            return self.url_variable
        if self.trust_host:
            return f"the request's Host header (trusted because of {self.trusted_by})"
        return "nothing (no URL variable, and the Host header is not trusted)"


def _platform(values: Mapping[str, str], base_url: str) -> tuple[dict[str, str], list[str]]:
    """``values`` plus VERCEL / CF_PAGES when base_url's host says the platform sets them at run time."""
    host = (urlsplit(base_url).hostname or "").lower()
    merged, notes = dict(values), []
    for suffix, name in _PLATFORM_HOSTS:
        if host.endswith(suffix) and name not in values:
            merged[name] = "1"
            notes.append(
                f"{name} is taken as set: base_url is on {suffix.lstrip('.')}, which sets it at run time"
            )
    return merged, notes


def resolve_origin(values: Mapping[str, str], flavor: FlavorName, base_url: str = "") -> Origin:
    """The URL source of ``flavor`` (see the module's table)."""
    env, notes = _platform(values, base_url)
    if flavor == "v5":
        url = _first_defined(env, URL_NAMES)
        chain: tuple[str, ...] = ("AUTH_URL", "AUTH_TRUST_HOST", "VERCEL", "CF_PAGES")
    else:
        url = "NEXTAUTH_URL" if _defined(env, "NEXTAUTH_URL") else None
        chain = ("VERCEL", "AUTH_TRUST_HOST")
    url = url if url and _set(env, url) else None
    decider = _first_defined(env, chain)
    by: str | None
    if decider is not None:
        trust, by = bool(env[decider]), decider
    elif flavor == "v5":
        node_env = env.get("NODE_ENV")
        trust = node_env is not None and node_env != "production"
        by = f"NODE_ENV={node_env}" if trust else None
        if node_env is None:
            notes.append("NODE_ENV is taken as production (next start sets it)")
    else:
        trust, by = False, None
    return Origin(flavor, url, trust, by if trust else None, tuple(notes))


def _origin_verdict(origin: Origin, values: Mapping[str, str]) -> str | None:
    """What is wrong with ``origin`` (None: nothing)."""
    label = _LABEL[origin.flavor]
    if origin.flavor == "v5" and origin.url_variable == "NEXTAUTH_URL" and not origin.trust_host:
        return (
            f"{label} builds URLs from NEXTAUTH_URL but trusts the host only with AUTH_URL, AUTH_TRUST_HOST, "
            "VERCEL or CF_PAGES set: in production every /api/auth request answers 500 (UntrustedHost); "
            "rename NEXTAUTH_URL to AUTH_URL"
        )
    if origin.url_variable:
        return None
    if not origin.trust_host:
        unread = [n for n in URL_NAMES if _set(values, n)]
        hint = f" ({variables_listed(unread)} is set but {label} does not read it)" if unread else ""
        consequence = (
            "every /api/auth request answers 500 (UntrustedHost)"
            if origin.flavor == "v5"
            else "callback and sign-in URLs have no public origin"
        )
        wanted = "AUTH_URL" if origin.flavor == "v5" else "NEXTAUTH_URL"
        return f"no URL variable{hint} and the Host header is not trusted: {consequence}; set {wanted}"
    if origin.trusted_by in ("VERCEL", "CF_PAGES"):
        return None
    wanted = "AUTH_URL" if origin.flavor == "v5" else "NEXTAUTH_URL"
    return (
        f"{label} builds callback and redirect URLs from the request's Host / X-Forwarded-Host header "
        f"(trusted because of {origin.trusted_by}) and no URL variable pins them: off Vercel and Cloudflare "
        f"Pages a forged Host header can point sign-in links elsewhere; set {wanted} to the site's public "
        "URL (keep AUTH_TRUST_HOST only behind a proxy that overwrites Host)"
    )


def origin_finding(values: Mapping[str, str], choice: FlavorChoice, base_url: str) -> Finding:
    """Which source the app takes its public URL from, and whether that is safe (see :func:`resolve_origin`).

    Both AUTH_URL and NEXTAUTH_URL set to different URLs is a finding too (one of them is ignored).
    Undecided flavour: the verdict must be the same under v4 and v5, else the check fails asking for
    ``auth.flavor`` (it could not be verified).
    """
    variable, rule = "AUTH_URL/NEXTAUTH_URL", "source"
    expected = "a public URL next-auth reads (or the Host header on Vercel / Cloudflare Pages)"
    flavors = (choice.flavor,) if choice.flavor else FLAVOR_NAMES
    origins = {flavor: resolve_origin(values, flavor, base_url) for flavor in flavors}
    problems: list[str] = []
    if _set(values, "AUTH_URL") and _set(values, "NEXTAUTH_URL"):
        a, b = (values[n].strip().rstrip("/") for n in URL_NAMES)
        if a != b:
            wins = "; ".join(f"{_LABEL[f]} uses {o.url_variable}" for f, o in origins.items())
            problems.append(f"AUTH_URL and NEXTAUTH_URL differ ({wins}): keep one of them")
    verdicts = {flavor: _origin_verdict(origin, values) for flavor, origin in origins.items()}
    if len(set(verdicts.values())) == 1:
        verdict = next(iter(verdicts.values()))
        if verdict:
            problems.append(verdict)
    else:
        problems.append(
            "; ".join(f"{_LABEL[f]}: {v or 'fine'}" for f, v in verdicts.items())
            + f" — the version is unknown ({choice.source}): set auth.flavor"
        )
    sources = {f: o.source for f, o in origins.items()}
    notes = tuple(dict.fromkeys(n for o in origins.values() for n in o.notes))
    notes += tuple(f"{_LABEL[f]} takes the public URL from {s}" for f, s in sources.items())
    metrics = {"auth_url_source": next(iter(sources.values()))} if len(set(sources.values())) == 1 else {}
    return _verdict(variable, rule, expected, problems, notes=notes, choice=choice, metrics=metrics)


def url_rule_finding(rule: str, values: Mapping[str, str], *, base_url: str, production: bool) -> Finding:
    """``rule`` (absolute, https, no-extras, host) applied to each URL variable that is set, each named by
    its own variable; skipped when neither is set."""
    names = [name for name in URL_NAMES if _set(values, name)]
    if not names:
        return Finding(
            "AUTH_URL/NEXTAUTH_URL",
            rule,
            "",
            skipped="neither AUTH_URL nor NEXTAUTH_URL is set (where the URL comes from is "
            "test_auth_url_source_is_pinned's check)",
        )
    findings = [
        nextauth_url_finding(rule, values[name], base_url=base_url, production=production, variable=name)
        for name in names
    ]
    if all(f.skipped is not None for f in findings):
        return findings[0]
    return _merge(rule, [f for f in findings if f.skipped is None], None)


def live_flavor(env: Environment) -> FlavorChoice:
    """The flavour the live app's CSRF cookie names (``authjs.`` or ``next-auth.``); undecided when the
    app cannot be asked or names neither."""
    try:
        with NextAuth.for_environment(env) as client:
            answer = client.csrf(require=False)
    except OpscheckError as exc:
        return FlavorChoice(None, f"the live app could not be asked ({exc})")
    if answer.flavor is None:
        return FlavorChoice(None, "the live app's cookies name neither next-auth. nor authjs.")
    return FlavorChoice(answer.flavor.name, f"the live app's cookies ({answer.flavor.cookie_prefix}.*)")


def configured_flavor(env: Environment) -> str | None:
    """``auth.flavor`` of ``env`` (None when ``[auth]`` is not configured)."""
    return env.auth.flavor if env.has("auth") else None
