"""The tables of an environment in ``opscheck.toml`` (``[environments.NAME.smoke]``, ``.database``, …,
``.metrics``): each key with its parser, default and meaning. A table the suites need may be absent only
where the class says ``optional``; then the checks that need it skip."""

from __future__ import annotations

from opscheck.config.expansion import expand_all
from opscheck.config.schema import Section, Setting
from opscheck.config.values import (
    as_bool,
    as_choice,
    as_connection_string,
    as_health_path,
    as_optional_path,
    as_optional_url_path,
    as_positive_float,
    as_secret,
    as_str,
    as_str_list,
    as_table_list,
    as_table_map,
    as_timeout_s,
    as_url_path,
    number_in,
)
from opscheck.restore.servers.provider import PROVIDERS
from opscheck.secrets import Secret
from opscheck.smoke.pages import PageExpectation, page_paths, parse_pages

__all__ = [
    "AuthSettings",
    "BackupSettings",
    "CacheSettings",
    "CredentialsSettings",
    "DatabaseSettings",
    "MetricsSettings",
    "NotifySettings",
    "RestoreSettings",
    "SmokeSettings",
]


class SmokeSettings(Section):
    health_path = Setting(
        as_health_path, "/api/health", doc="health endpoint path, or false if there is none"
    )
    health_expect = Setting(
        as_choice("json-ok", "status"),
        "json-ok",
        doc='"json-ok": a JSON document with an ok status; "status": HTTP 200 is enough',
    )
    pages = Setting(
        page_paths, ["/"], doc="pages that must answer 200: paths or { path, contains, not_contains }"
    )
    max_latency_ms = Setting(
        number_in(0, 3_600_000, above_low=True), 1500.0, doc="latency budget per request"
    )
    tls_min_days = Setting(number_in(0, 3650), 14.0, doc="minimum days of certificate validity left")
    security_headers = Setting(as_bool, True, doc="check HSTS, nosniff, framing and Referrer-Policy")
    version_wait_s = Setting(
        number_in(0, 3600), 120.0, doc="how long to wait for expected_version to be deployed"
    )

    @property
    def page_expectations(self) -> dict[str, PageExpectation]:
        """Each page's ``contains`` / ``not_contains`` (entries of ``pages`` given as tables), by path."""
        key = f"{self.key}.pages"
        raw = expand_all(self.raw.get("pages", ["/"]), key, self.environ)
        return {page.path: page for page in parse_pages(raw, key)}


class DatabaseSettings(Section):
    optional = True
    url = Setting(as_connection_string, secret=True, doc="PostgreSQL URL, always opened read-only")
    max_latency_ms = Setting(number_in(0, 3_600_000, above_low=True), 1000.0, doc="connect + SELECT 1 budget")


class CacheSettings(Section):
    optional = True
    redis_url = Setting(as_connection_string, secret=True, doc="Redis URL")


class BackupSettings(Section):
    optional = True
    location = Setting(as_str, doc="s3://bucket/prefix/, file:///abs/dir or a relative dir")
    s3_endpoint_url = Setting(as_str, "", doc="S3-compatible endpoint")
    region = Setting(as_str, "", doc="AWS region of the bucket")
    rpo_hours = Setting(number_in(0, 87_600, above_low=True), 24.0, doc="at most 10 years")
    rto_minutes = Setting(number_in(0, 525_600, above_low=True), 120.0, doc="at most a year")
    retention_days = Setting(number_in(0, 36_500, above_low=True), 30.0, doc="at most 100 years")


class RestoreSettings(Section):
    provider = Setting(as_choice(*PROVIDERS), "auto")
    image = Setting(as_str, "postgres:16")
    expect_tables = Setting(
        as_table_list,
        ["User", "Account", "Session", "_prisma_migrations"],
        doc="exact table names, optionally schema.table (unqualified: public)",
    )
    min_rows = Setting(as_table_map, {}, doc="exact table name ([schema.]table, case kept) -> least rows")
    roles = Setting(as_str_list, [], doc="roles the recovery procedure creates before loading a dump")


class AuthSettings(Section):
    optional = True
    username = Setting(as_str, doc="synthetic smoke user")
    password = Setting(as_secret, secret=True, doc="smoke user's password")
    expected_providers = Setting(as_str_list, ["credentials"])
    protected_paths = Setting(as_str_list, [])
    fail_on_jwt_replay = Setting(as_bool, False)
    base_path = Setting(as_url_path, "/api/auth", doc="where NextAuth's routes are (v5 apps often use /auth)")
    session_cookie = Setting(as_str, "", doc="session cookie name; default: found from a successful sign-in")
    signin_path = Setting(
        as_optional_url_path,
        "",
        doc="where protected paths send visitors without a session; default: detected",
    )
    flavor = Setting(as_choice("auto", "v4", "v5"), "auto", doc="next-auth 4 or Auth.js v5; auto: detected")


class CredentialsSettings(Section):
    optional = True  # absent: skip, rather than judge whatever environment pytest happens to run in
    env_file = Setting(as_optional_path, None, doc="dotenv file; default: the process environment")
    required = Setting(as_str_list, ["DATABASE_URL", "NEXTAUTH_SECRET", "NEXTAUTH_URL", "SENTRY_DSN"])


class NotifySettings(Section):
    optional = True
    webhook_url = Setting(
        as_secret, Secret(""), secret_path=True, doc="receives a JSON post per new or resolved failure"
    )
    slack_webhook_url = Setting(as_secret, Secret(""), secret_path=True, doc="Slack incoming webhook")
    pagerduty_routing_key = Setting(as_secret, Secret(""), secret=True, doc="PagerDuty Events API v2 key")
    pagerduty_url = Setting(as_str, "https://events.pagerduty.com/v2/enqueue", doc="Events API v2 endpoint")
    min_severity = Setting(as_choice("P0", "P1", "P2", "P3"), "P1")
    timeout_s = Setting(as_timeout_s, 5.0)


class MetricsSettings(Section):
    optional = True
    pushgateway_url = Setting(as_str, "", doc="Prometheus Pushgateway pushed to at the end of every run")
    textfile_dir = Setting(as_optional_path, None, doc="directory for node_exporter's textfile collector")
    job = Setting(as_str, "opscheck", doc="Pushgateway job name")
    timeout_s = Setting(as_positive_float, 5.0, doc="bound on each push")
