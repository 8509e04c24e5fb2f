"""What to do about each kind of auth problem, in the words of the NextAuth version the app runs.

The runbook's Authentication Issues section is generic; an auth bypass, an open redirect, a cookie flag and a
configuration 500 each need their own first step. These texts lead the remediation (see
:attr:`opscheck.errors.OpscheckError.lead`), before the runbook section. Auth.js v5 gets v5's names
(``AUTH_SECRET``, ``AUTH_URL``, ``AUTH_TRUST_HOST``, ``MissingSecret``, ``error=Configuration``); an app whose
version cannot be told gets both.

Rotating the secret is never advised: it signs every user out and fixes none of these problems.
"""

from __future__ import annotations

from opscheck.auth.flavors import FLAVOR_BY_NAME, FLAVOR_NAMES, V5, Flavor, FlavorName
from opscheck.auth.variables import configured_flavor, resolve_secret
from opscheck.config import Environment
from opscheck.credentials.sources import parse_env_file
from opscheck.errors import OpscheckError

__all__ = [
    "bypass_advice",
    "configuration_advice",
    "cookie_advice",
    "deployment_secret_set",
    "open_redirect_advice",
    "unprotected_path_advice",
]


def _v5(flavor: Flavor | None) -> bool:
    return flavor is V5


def _config_file(flavor: Flavor | None) -> str:
    if _v5(flavor):
        return "the NextAuth(...) config in auth.ts"
    if flavor is None:
        return "the NextAuth options (v4: authOptions; Auth.js v5: the NextAuth(...) config in auth.ts)"
    return "the NextAuth options (authOptions)"


def bypass_advice(flavor: Flavor | None) -> str:
    """An auth bypass: a sign-in that must fail was accepted (P0)."""
    return (
        "Anyone can sign in: stop the bypass first. Roll back to the last deployment whose negative canaries "
        "passed, or disable the credentials provider. Then fix the Credentials provider's authorize() in "
        f"{_config_file(flavor)}: it must return null unless the user exists and the password matches (compare "
        "hashes with a constant-time check), and must not fall back to a default user. Review sign-ins since "
        "the bad deployment and end the sessions it created."
    )


def unprotected_path_advice(path: str, flavor: Flavor | None) -> str:
    """A protected path served its data without a session (P0)."""
    check = (
        "await auth()"
        if _v5(flavor)
        else "getServerSession(authOptions)"
        if flavor
        else "getServerSession(authOptions) (v5: await auth())"
    )
    return (
        f"Protect the path: {path} serves its data to anyone. Roll back to the last deployment where it answered "
        f"401 or redirected to sign-in, then check the session in its route handler ({check}, 401 without one) "
        "and keep it covered by the middleware (proxy) matcher; a matcher alone is not enough, the handler "
        "must check too."
    )


def open_redirect_advice(flavor: Flavor | None) -> str:
    """An open redirect: sign-in or sign-out honoured a foreign callbackUrl."""
    return (
        "Fix the redirect callback: callbacks.redirect in "
        f"{_config_file(flavor)} may return only relative URLs (prefixed with baseUrl) and URLs whose "
        "new URL(url).origin === baseUrl; compare origins, never url.startsWith(baseUrl) (that lets "
        "https://app.example.com.evil.example and https://app.example.com@evil.example through). Without a "
        "custom callback NextAuth's default already does this."
    )


_COOKIE_FIXES = {
    "httponly": "httpOnly: true",
    "samesite": 'sameSite: "lax" (or "strict")',
    "secure-prefix": "secure: true and a __Secure- name",
    "csrf-host-prefix": "secure: true, path: '/', no domain and a __Host- name",
}


def cookie_advice(rule: str, flavor: Flavor | None) -> str:
    """A cookie a sign-in sets breaks ``rule`` (one of :data:`opscheck.auth.rules.COOKIE_RULES`)."""
    url = "AUTH_URL" if _v5(flavor) else ("NEXTAUTH_URL" if flavor else "NEXTAUTH_URL (v5: AUTH_URL)")
    https = (
        f" NextAuth sets Secure and the prefixes by itself when {url} is https (or useSecureCookies is true); "
        "a custom cookies option overrides that."
        if rule in ("secure-prefix", "csrf-host-prefix")
        else ""
    )
    return (
        f"Fix the cookie options: the custom cookies option in {_config_file(flavor)} must give "
        f"{_COOKIE_FIXES.get(rule, 'the default flags')}, or be removed to get NextAuth's safe defaults.{https} "
        "Users keep their sessions: no secret change is needed."
    )


def configuration_advice(flavor: Flavor | None, secret_set: bool | None) -> str:
    """Every auth endpoint answers 5xx: NextAuth refuses its configuration.

    ``secret_set``: whether the deployment's secret is set (known from ``credentials.env_file``), None when
    it cannot be told. A secret that is set is never the advice.
    """
    v5 = _v5(flavor)
    secret = (
        "AUTH_SECRET"
        if v5
        else ("NEXTAUTH_SECRET" if flavor else "NEXTAUTH_SECRET (Auth.js v5: AUTH_SECRET)")
    )
    log = (
        "[auth][error] MissingSecret, Configuration, ... (the sign-in answers error=Configuration)"
        if v5
        else "[next-auth][error][NO_SECRET], UNSUPPORTED_STRATEGY, MISSING_ADAPTER, ..."
        if flavor
        else "v4: [next-auth][error][NO_SECRET], UNSUPPORTED_STRATEGY, ...; v5: [auth][error] MissingSecret, "
        "Configuration"
    )
    read_log = (
        f"NextAuth refuses its configuration: read the deployment's server log for its error code ({log}) and "
        f"fix what it names in {_config_file(flavor)}"
    )
    keep = "Do not rotate the secret: that signs every user out and fixes nothing here."
    trust = (
        " Behind a proxy or on a platform other than Vercel, set AUTH_URL, or AUTH_TRUST_HOST=true."
        if v5
        else ""
    )
    if secret_set:
        return f"{read_log}. {secret} is set, so it is not the cause. {keep}{trust}"
    generate = "npx auth secret" if v5 else "openssl rand -base64 32"
    return (
        f"{read_log}. If {secret} is missing from the deployment's environment (the most common cause), set it "
        f"(`{generate}`) and redeploy. If it is set, it is not the cause. {keep}{trust}"
    )


def deployment_secret_set(env: Environment, flavor: Flavor | None = None) -> bool | None:
    """Whether the deployment sets a secret its NextAuth version reads, as far as ``credentials.env_file``
    (the deployment's own variables, e.g. from ``vercel env pull``) tells. The version is ``auth.flavor``,
    else ``flavor`` (what the live app answered with); when neither is known, both versions must agree.
    None when nothing tells: no env file (the environment running opscheck is not the deployment's), or an
    unknown version and variables the two versions read differently (``AUTH_SECRET_1`` alone: v5 only)."""
    try:
        path = env.credentials.env_file if env.has("credentials") else None
        values = parse_env_file(path) if path is not None else None
    except OpscheckError:
        return None
    if values is None:
        return None
    configured = configured_flavor(env)
    pinned = FLAVOR_BY_NAME.get(configured or "", flavor)
    names: tuple[FlavorName, ...] = (pinned.name,) if pinned is not None else FLAVOR_NAMES
    answers = {bool(resolve_secret(values, name).used) for name in names}
    return answers.pop() if len(answers) == 1 else None
