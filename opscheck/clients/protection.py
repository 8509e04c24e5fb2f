"""Deployment Protection: a deployment that answers every path with its platform's sign-in wall.

Vercel protects preview deployments (and, if asked, production) with Vercel Authentication, Password
Protection or Trusted IPs: every path answers 401 with Vercel's SSO page (a ``_vercel_sso_nonce``
cookie, a link to ``vercel.com/sso-api``) or redirects there. Automation passes with the project's
"Protection Bypass for Automation" secret in an ``x-vercel-protection-bypass`` request header, which
opscheck sends when the environment configures it::

    [environments.preview]
    headers = { "x-vercel-protection-bypass" = "${VERCEL_AUTOMATION_BYPASS_SECRET}" }

Without it every check that talks to the deployment would fail for one reason. :func:`hold_back`, called
by the plugin before each check that uses the ``http`` or ``nextauth`` fixture (before any fixture of
the check is set up, session-scoped sign-ins included), looks once per run, whatever the number of xdist
workers (:func:`probe_protection`: one GET of a path no app serves, since the wall covers every path),
reports the first such check of the run as this error and skips the others, pointing at it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final

import pytest

from opscheck.clients.http import OpsClient, Probe
from opscheck.config import Environment
from opscheck.errors import OpscheckError, TargetUnreachable
from opscheck.run.scope import run_scope
from opscheck.secrets import mask_url

__all__ = [
    "BYPASS_HEADER",
    "PROBE_PATH",
    "DeploymentProtected",
    "hold_back",
    "is_protection_wall",
    "probe_protection",
    "protection_problem",
]

BYPASS_HEADER: Final = "x-vercel-protection-bypass"
_WALL_STATUSES: Final = frozenset({401, 403})
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_SSO_URL = re.compile(r"vercel\.com/(?:sso-api|login|sso)", re.IGNORECASE)
_SSO_COOKIE = re.compile(r"(?:^|[\s,;])_vercel_(?:sso_nonce|jwt)=", re.IGNORECASE)
_WALL_TITLE = re.compile(
    r"<title>\s*(?:Authentication Required|Login . Vercel|Password Protected)", re.IGNORECASE
)


class DeploymentProtected(TargetUnreachable):
    """The deployment answers every path with its platform's protection wall: nothing behind it was checked.

    Reported as P0 whatever the check's own severity (no gate may pass a run that verified nothing), with
    advice about the run's configuration in place of the check's runbook section.
    """

    severity = "P0"

    def __init__(self, checked: str, reason: str) -> None:
        self.checked = checked
        self.reason = reason
        # the run's configuration is what needs changing: its advice replaces the check's runbook section
        self.advice = f"{reason[:1].upper()}{reason[1:]}. Nothing behind the protection was checked."
        OpscheckError.__init__(self, f"{checked}: {reason}")


def _served_by_vercel(headers: Mapping[str, str]) -> bool:
    return "vercel" in headers.get("server", "").lower() or "x-vercel-id" in headers


def is_protection_wall(status: int | None, headers: Mapping[str, str], text: str) -> bool:
    """Whether an answer is Vercel's protection wall rather than the app's own."""
    if status in _REDIRECTS:
        return bool(_SSO_URL.search(headers.get("location", "")))
    if status not in _WALL_STATUSES:
        return False
    cookies = " ".join(headers.get_list("set-cookie")) if hasattr(headers, "get_list") else ""
    if _SSO_COOKIE.search(cookies) or _SSO_URL.search(text):
        return True
    return _served_by_vercel(headers) and bool(_WALL_TITLE.search(text))


def _walled(probe: Probe) -> bool:
    return probe.error is None and is_protection_wall(probe.status, probe.headers, probe.text)


#: RunShare keys: the probe's outcome, and the check that reports it (once per run, under xdist too)
_PROBED: Final = "deployment protection"
_REPORTED_BY: Final = "deployment protection reported by"


#: a path no app serves: the wall covers every path, and asking here touches none of the app's routes
PROBE_PATH: Final = "/.well-known/opscheck-deployment-protection"
PROBE_TIMEOUT_S: Final = 2.0


def probe_protection(env: Environment) -> DeploymentProtected | None:
    """One bounded GET of :data:`PROBE_PATH` on ``env``'s deployment (its ``headers`` sent, no retry): the
    error to report when it answers with the protection wall. Unreachable is not protected: the checks
    report that themselves."""
    with OpsClient.for_environment(env, timeout_s=min(env.timeout_s, PROBE_TIMEOUT_S), attempts=1) as client:
        return protection_problem(client, [PROBE_PATH], env.headers)


def protection_problem(
    client: OpsClient, paths: Iterable[str], sent_headers: Iterable[str]
) -> DeploymentProtected | None:
    """GET ``paths``; when every one answers with the protection wall, the error that says what to do."""
    probes = client.probe_many(list(dict.fromkeys(paths)))
    if not probes or not all(_walled(p) for p in probes.values()):
        return None
    where = mask_url(str(client.base_url))
    seen = "/".join(sorted({f"HTTP {p.status}" for p in probes.values()}))
    if BYPASS_HEADER in {name.lower() for name in sent_headers}:
        advice = (
            f"the {BYPASS_HEADER} header was sent and refused; check that it holds the project's current "
            "Protection Bypass for Automation secret (VERCEL_AUTOMATION_BYPASS_SECRET; a regenerated secret "
            "needs a redeploy)"
        )
    else:
        advice = (
            f'configure the bypass header: headers = {{ "{BYPASS_HEADER}" = '
            '"${VERCEL_AUTOMATION_BYPASS_SECRET}" } in this environment (Vercel project settings → '
            "Deployment Protection → Protection Bypass for Automation)"
        )
    return DeploymentProtected(
        f"the deployment at {where} is protected (Vercel Deployment Protection answers {seen} with its sign-in page)",
        advice,
    )


def hold_back(item: pytest.Item, env: Environment) -> None:
    """Before a check that talks to ``env``'s deployment: nothing when it is not protected; else the first
    such check of the run (of every xdist worker) raises :class:`DeploymentProtected` and every later one
    is skipped, pointing at it. The probe runs once per run (:class:`~opscheck.run.share.RunShare`)."""
    share = run_scope(item.config).share
    try:
        share.once(_PROBED, lambda: _raise_if_protected(env))
        return
    except DeploymentProtected as exc:
        problem = exc
    first = share.once(_REPORTED_BY, lambda: item.nodeid)
    if first == item.nodeid:
        raise problem
    pytest.skip(f"the deployment is protected: reported once, by {first}")


def _raise_if_protected(env: Environment) -> None:
    """:func:`probe_protection` as a step of :meth:`RunShare.once`: its error raised (and so shared with
    every worker), not returned."""
    problem = probe_protection(env)
    if problem is not None:
        raise problem
