"""Running the shipped credentials suite (``suites/credentials``) and judging what it gives: its check names
and runbook sections, a Next.js-like site that can leak a secret in a script, the config and dotenv files of
a run's environments (``Env``, ``write_project``), and the scan of every output for planted values."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.project import all_output_text
from tests.support.servers import Route
from tests.support.suite_run import CREDENTIALS_SUITE, RUNBOOK, SuiteRun, run_suite, write_environments

__all__ = [
    "AUTH",
    "BACKUPS",
    "CONNECT",
    "DB",
    "DEMO_REQUIRED",
    "ENV_VARS",
    "EXPOSURE",
    "HTML_HEADERS",
    "INCIDENT",
    "KEY_AGE",
    "MAINTENANCE",
    "MAINTENANCE_SECTION",
    "MONITORING",
    "NO_REMOTE_DB",
    "READ_ONLY_ROLE",
    "REUSE",
    "ROLE",
    "ROLES",
    "ROTATION",
    "SCRIPT_HEADERS",
    "STS",
    "Env",
    "assert_no_leaks",
    "assert_verdict",
    "bucket_rule",
    "db_rule",
    "required",
    "run_credentials",
    "secret_rule",
    "sentry_rule",
    "site_routes",
    "token",
    "url_rule",
    "write_project",
]

# -- check names (test ids inside suites/credentials) -------------------------------------------------
CONNECT = "test_database_credentials_work"
ROLE = "test_database_role_is_least_privileged"
MAINTENANCE = "test_maintenance_flag_is_off"
STS = "test_aws_credentials_are_accepted"
KEY_AGE = "test_aws_access_key_is_recent"
REUSE = "test_secrets_are_not_reused"
EXPOSURE = "test_secrets_are_not_exposed"
#: reads database.url through the db fixture: skipped (naming the section) where no [database] is configured
READ_ONLY_ROLE = "test_opscheck_database_role_is_read_only"
NO_REMOTE_DB = "not database_credentials_work and not least_privileged"
DEMO_REQUIRED = ["DATABASE_URL", "NEXTAUTH_SECRET", "NEXTAUTH_URL"]


def required(name: str) -> str:
    return f"test_required_variable_is_set[{name}]"


def secret_rule(rule: str) -> str:
    return f"test_nextauth_secret_is_strong[{rule}]"


def url_rule(rule: str) -> str:
    return f"test_nextauth_url_matches_the_site[{rule}]"


def db_rule(rule: str) -> str:
    return f"test_database_url_is_safe[{rule}]"


def sentry_rule(rule: str) -> str:
    return f"test_sentry_dsn_is_valid[{rule}]"


def bucket_rule(rule: str) -> str:
    return f"test_backup_bucket_is_protected[{rule}]"


# -- runbook sections of examples/RUNBOOK.md -----------------------------------------------------------
ENV_VARS = "Environment Variables"
AUTH = "Authentication Issues"
DB = "Database Connection Errors"
ROLES = "Database Role Privileges"
MONITORING = "3. Monitoring"
MAINTENANCE_SECTION = "Scheduled Maintenance"
ROTATION = "Credential Rotation"
BACKUPS = "Backup Strategy"
INCIDENT = "Security Incident"

# -------------------------------------------------------------------------------------------- the site

HTML_HEADERS = {"Content-Type": "text/html; charset=utf-8"}
SCRIPT_HEADERS = {"Content-Type": "application/javascript; charset=utf-8"}


def _page(title: str, body: str = "") -> Route:
    html = (
        "<!doctype html><html><head>"
        f"<title>{title}</title>"
        '<link rel="preload" as="script" href="/_next/static/chunks/webpack-1a2b.js"/>'
        '<script src="/_next/static/chunks/main-app-3c4d.js" async=""></script>'
        '<script src="/_next/static/chunks/x.js" async=""></script>'
        '<script src="https://cdn.elsewhere.test/_next/static/chunks/cdn-only.js" async=""></script>'
        f"</head><body>{title}{body}"
        '<script>self.__next_f.push([1,"2:I[\\"7\\",[\\"static/chunks/app/page-5e6f.js\\"],\\"default\\"]"])'
        "</script></body></html>"
    )
    return Route(body=html, headers=HTML_HEADERS)


def site_routes(leaks: Mapping[str, str] | None = None) -> dict[str, Route]:
    """A Next.js-like site: pages referencing scripts by tag, preload link, flight payload and import().

    ``leaks`` maps a secret to how ``/_next/static/chunks/x.js`` leaks it: "raw" inlines it, "base64"
    embeds it in a base64-encoded JSON config (at whatever alignment the JSON puts it).
    """
    chunk = ["(self.webpackChunk=self.webpackChunk||[]).push([[42],{}]);"]
    for value, how in (leaks or {}).items():
        if how == "raw":
            chunk.append(f'const nextAuthSecret="{value}";')
        else:
            config = base64.b64encode(json.dumps({"region": "us-east-1", "key": value}).encode()).decode()
            chunk.append(f'const cfg=JSON.parse(atob("{config}"));')
    return {
        "/": _page("Home"),
        "/login": _page("Sign in", "<form></form>"),
        "/_next/static/chunks/webpack-1a2b.js": Route(body="(()=>{var e={};})();", headers=SCRIPT_HEADERS),
        "/_next/static/chunks/main-app-3c4d.js": Route(
            body='import("/_next/static/chunks/lazy-9f8e.js");', headers=SCRIPT_HEADERS
        ),
        "/_next/static/chunks/lazy-9f8e.js": Route(body="export default 1;", headers=SCRIPT_HEADERS),
        "/_next/static/chunks/app/page-5e6f.js": Route(
            body="export default function Page(){}", headers=SCRIPT_HEADERS
        ),
        "/_next/static/chunks/x.js": Route(body="\n".join(chunk), headers=SCRIPT_HEADERS),
    }


# ------------------------------------------------------------------------------------- writing a run


@dataclass
class Env:
    """One ``[environments.NAME]`` of a config, and its dotenv file (written when ``dotenv`` is set)."""

    base_url: str
    production: bool = False
    dotenv: dict[str, str] | None = None
    env_file: str | None = None  # overrides where the file is said to be
    required: list[str] | None = None
    backups: dict[str, str] | None = None
    ca_bundle: str | None = None
    auth: dict[str, str] | None = None


def write_project(directory: Path, environments: Mapping[str, Env]) -> Path:
    tables: dict[str, dict[str, Any]] = {}
    for name, env in environments.items():
        table: dict[str, Any] = {"base_url": env.base_url, "production": env.production, "runbook": RUNBOOK}
        table["timeout_s"] = 3
        if env.ca_bundle:
            table["ca_bundle"] = env.ca_bundle
        table["smoke"] = {"pages": ["/", "/login"]}
        credentials: dict[str, Any] = {}
        if env.dotenv is not None:
            path = directory / f"{name}.env"
            path.write_text(
                "# written by the test, like `vercel env pull`\n"
                + "".join(f"{key}={_dotenv_quote(value)}\n" for key, value in env.dotenv.items()),
                encoding="utf-8",
            )
            credentials["env_file"] = path.name
        if env.env_file is not None:
            credentials["env_file"] = env.env_file
        if env.required is not None:
            credentials["required"] = env.required
        if credentials:
            table["credentials"] = credentials
        if env.backups is not None:
            table["backups"] = env.backups
        if env.auth is not None:
            table["auth"] = env.auth
        tables[name] = table
    return write_environments(directory, tables)


def _dotenv_quote(value: str) -> str:
    """Quote like ``vercel env pull`` does: double quotes, with backslash and quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_credentials(
    pytester: pytest.Pytester, config: Path, reports: Path, *args: str, env: str = "x"
) -> SuiteRun:
    return run_suite(pytester, CREDENTIALS_SUITE, config, reports, *args, env=env)


def assert_verdict(
    run: SuiteRun,
    name: str,
    outcome: str,
    *,
    says: tuple[str, ...] = (),
    section: str | None = None,
    severity: str | None = None,
) -> dict[str, Any]:
    """One check's outcome; a failed or errored one names what ``says`` lists and its runbook section."""
    check = run.check(name)
    context = f"{name}: {json.dumps(check, indent=1)}\n--- output ---\n{run.output}"
    assert check["outcome"] == outcome, context
    for text in says:
        assert text in (check["message"] or ""), context
    if section is not None:
        assert check["runbook_section"] == section, context
        assert check["remediation"], context
    if severity is not None:
        assert check["severity"] == severity, context
    return check


def _spellings(value: str) -> set[str]:
    raw = value.encode()
    forms = {
        value,
        quote(value, safe=""),
        json.dumps(value)[1:-1],
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    if len(value) >= 12:
        forms |= {value[:8], value[-8:]}  # not even a prefix or a suffix
    return {form for form in forms if len(form) >= 6}


def assert_no_leaks(run: SuiteRun, planted: Mapping[str, str]) -> None:
    """No planted value, in any spelling, in the terminal output, summary JSON, JUnit or Allure results."""
    assert (run.reports / "allure-results").is_dir()
    assert (run.reports / "junit.xml").is_file()
    everything = "\n".join([*run.result.outlines, *run.result.errlines, all_output_text(run.reports)])
    leaks = [
        (name, form) for name, value in planted.items() for form in _spellings(value) if form in everything
    ]
    assert leaks == [], leaks


def token(n: int = 24) -> str:
    """A fresh random value, to plant where it must never be seen."""
    return secrets.token_urlsafe(n)
