"""The fault matrix: one row per fault, each run through the real shipped suite, proving the gate never lies.

Every row builds one broken component (a refused port, a silent one, a name that does not resolve, a bad
health answer, a bad certificate, a dead, refusing or slow database, a dead Redis, a broken or unreadable
backup, a weak or wrong credential, either real reference app (next-auth 4 or Auth.js v5) in one of its
fault modes), runs the real suite against it with ``run_suite`` and asserts:

* the run exits non-zero;
* the row's intended check has the row's outcome (``failed`` or ``error``) and runbook section (and, where
  the row says so, the words its message must contain);
* **no false green** — the rule, in one sentence: *no check in the row's ``blast`` set (the checks that read
  the broken component, so that passing would hide the fault) has outcome "passed"*;
* the suite's own duration stays within the row's configured timeouts plus ``SUITE_MARGIN_S``, and the
  wall time of the whole subprocess within that plus ``STARTUP_MARGIN_S`` (no hangs);
* the run leaves nothing in its private ``TMPDIR`` (the restore suite's autouse ``run_tmpdir`` fixture);
* no planted secret (the database role's password, the smoke user's password, the row's own token) appears
  anywhere in the terminal output or the reports (``SuiteRun.all_text()``). The ``secret-*`` rows plant one
  on a leak path of issue 12 (a token in a page path, Basic credentials a server echoes, a webhook path, a database
  password holding ``/ ? #``) and list its forms and pieces among the planted values.

Every config carries the planted values: the smoke user's password in ``[auth]``, and a database URL with a
password (the healthy read-only role's, or a wrong or dead one where the database is the fault). The table of
verdicts is printed at the end of the session (see ``conftest.py``).
"""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from psycopg.conninfo import conninfo_to_dict

from opscheck.credentials.aws import BUCKET_RULES
from tests.faults import hostile_targets
from tests.faults.conftest import PLANTED_DB_PASSWORD, MatrixLog
from tests.support import auth_run, restore_run
from tests.support.auth_run import (
    ANONYMOUS,
    ENDPOINTS,
    HTTPONLY,
    OPEN_REDIRECT,
    SECURE_PREFIX,
    UNKNOWN_USER,
    WRONG_PASSWORD,
    V4Apps,
)
from tests.support.certs import LocalPKI
from tests.support.moto import client_for
from tests.support.reference_apps import SMOKE_USER, start_app
from tests.support.reference_dumps import (
    NEWER_MAJOR,
    Dumps,
    claiming_version,
    cut_inside_copy,
    first_part_cut,
    gzip_bytes,
    with_bad_statement,
    with_missing_extension,
    without_restrict,
)
from tests.support.reference_targets import V4_TARGET, V5_TARGET, Target, anonymous, auth_checks, config_for
from tests.support.restore_run import (
    DRILL,
    ENCRYPTED,
    PREFIX,
    RESTORED,
    ROLES,
    RPO,
    SIZE,
    STREAM,
    backup_dir,
    backup_name,
    daily,
    write_backup,
)
from tests.support.servers import LocalHTTPServer, Route, closed_port, silent_tcp_server
from tests.support.slow_proxy import SlowProxy
from tests.support.smoke_run import (
    CACHE,
    DATABASE,
    HEADER_CHECKS,
    HEALTH,
    HEALTHY_BODY,
    HSTS,
    MAINTENANCE,
    PAGE_CHECKS,
    TLS,
    VERSION,
    healthy_routes,
)
from tests.support.suite_run import (
    AUTH_SUITE,
    CREDENTIALS_SUITE,
    RESTORE_SUITE,
    SMOKE_SUITE,
    SuiteRun,
    run_suite,
    write_opscheck_toml,
)

pytest_plugins = ["tests.support.s3_server", "tests.support.redis_server"]

#: a private TMPDIR per row that must be empty afterwards
pytestmark = pytest.mark.usefixtures("run_tmpdir")

PLANTED_SMOKE_PASSWORD = "planted-smoke-pw-Kd4Wq8Zn1Bs"
#: what a row's suite may spend beyond its configured timeouts (``duration_s`` of the summary)
SUITE_MARGIN_S = 3.0
#: plus a pytest subprocess's start-up, collection and reporting on a loaded 2-core machine (wall time)
STARTUP_MARGIN_S = 12.0
#: a restore row's budget: the configured timeout_s plus a throwaway cluster and a small restore
RESTORE_BUDGET_S = 10.0

# -- checks ---------------------------------------------------------------------------------------------
#: every smoke check that talks to the site over HTTP(S)
SITE = (HEALTH, VERSION, MAINTENANCE, HSTS, *HEADER_CHECKS, *PAGE_CHECKS)

SECRET_KEY_MATERIAL = "test_nextauth_secret_is_strong[key-material]"
SECRET_ENTROPY = "test_nextauth_secret_is_strong[entropy]"
DB_SSLMODE = "test_database_url_is_safe[sslmode]"
URL_HTTPS = "test_nextauth_url_matches_the_site[https]"
SENTRY_FORMAT = "test_sentry_dsn_is_valid[format]"
MAINTENANCE_FLAG = "test_maintenance_flag_is_off"
STS = "test_aws_credentials_are_accepted"
KEY_AGE = "test_aws_access_key_is_recent"


def required_var(name: str) -> str:
    return f"test_required_variable_is_set[{name}]"


# -- runbook sections of examples/RUNBOOK.md --------------------------------------------------------------
SITE_DOWN = "Site Down (P0)"
DEPLOYMENT = "1. Deployment"
CACHE_SECTION = "4. Cache Management"
DATABASE_SECTION = "Database Connection Errors"
TLS_SECTION = "TLS Certificates"
MAINTENANCE_SECTION = "Scheduled Maintenance"
BACKUP_STRATEGY = "Backup Strategy"
DATA_RECOVERY = "Data Recovery"
SYSTEM_RECOVERY = "Complete System Recovery"
AUTH_SECTION = "Authentication Issues"
ENV_VARS_SECTION = "Environment Variables"
MONITORING_SECTION = "3. Monitoring"
CREDENTIAL_ROTATION = "Credential Rotation"
#: not a runbook section: the advice for a problem of the run's own configuration (an unset variable)
RUN_CONFIGURATION = "Configuration of this opscheck run"


# ------------------------------------------------------------------------------------------ building a fault


@dataclass
class Setup:
    """What a row's builder yields: the environment's tables (for ``write_opscheck_toml``) and planted values."""

    base_url: str
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    top: dict[str, Any] = field(default_factory=dict)
    planted: dict[str, str] = field(default_factory=dict)


class Ctx:
    """What a builder may use: the test's temp dir, monkeypatch, and fixtures on demand."""

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.request = request
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch

    def fixture(self, name: str) -> Any:
        return self.request.getfixturevalue(name)

    @property
    def db_url(self) -> str:
        """The healthy read-only role's URL (its password is planted)."""
        url: str = self.fixture("db_reader")
        return url

    @property
    def dumps(self) -> Dumps:
        found: Dumps = self.fixture("dumps")
        return found

    @property
    def pki(self) -> LocalPKI:
        return LocalPKI(self.tmp_path / "pki")


Builder = Callable[[Ctx], AbstractContextManager[Setup]]


def smoke_setup(
    base_url: str, ctx: Ctx, *, timeout_s: float = 3, database_url: str | None = None, **smoke: Any
) -> Setup:
    smoke.setdefault("pages", ["/", "/login"])
    return Setup(
        base_url,
        tables={"smoke": smoke, "database": {"url": database_url or ctx.db_url}},
        top={"timeout_s": timeout_s, "retries": 2},
    )


def site(routes: dict[str, Route], **settings: Any) -> Builder:
    """A healthy app with ``routes`` replacing or adding paths."""

    @contextmanager
    def build(ctx: Ctx) -> Iterator[Setup]:
        top = {k: settings.pop(k) for k in ("expected_version",) if k in settings}
        with LocalHTTPServer(healthy_routes(extra=routes)) as server:
            setup = smoke_setup(server.url, ctx, **settings)
            setup.top.update(top)
            yield setup

    return build


@contextmanager
def refused(ctx: Ctx) -> Iterator[Setup]:
    yield smoke_setup(f"http://127.0.0.1:{closed_port()}", ctx, timeout_s=2, version_wait_s=1)


@contextmanager
def blackholed(ctx: Ctx) -> Iterator[Setup]:
    with silent_tcp_server() as port:
        yield smoke_setup(f"http://127.0.0.1:{port}", ctx, timeout_s=1)


UNRESOLVABLE = "app.invalid"
#: imported by the suite's subprocess at start-up (``PYTHONPATH``): the name does not resolve, and no
#: real DNS query is ever sent for it (each refusal is logged next to the hook); every other name goes to
#: the real resolver
DNS_HOOK = f"""import os
import socket

_getaddrinfo = socket.getaddrinfo


def getaddrinfo(host, *args, **kwargs):
    if host in ({UNRESOLVABLE!r}, {UNRESOLVABLE.encode()!r}):
        with open(os.path.join(os.path.dirname(__file__), "refused.log"), "a") as log:
            log.write(str(os.getpid()) + "\\n")
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = getaddrinfo
"""


@contextmanager
def dns_failure(ctx: Ctx) -> Iterator[Setup]:
    hooks = ctx.tmp_path / "dns-hook"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(DNS_HOOK, encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))
    ctx.monkeypatch.setenv("PYTHONPATH", path)  # the subprocess inherits it (see run_suite)
    yield smoke_setup(f"http://{UNRESOLVABLE}:80", ctx, timeout_s=2, version_wait_s=1)
    assert (hooks / "refused.log").is_file(), "the suite never asked the hook: the DNS fault was not planted"


def tls(variant: Callable[[LocalPKI], Any]) -> Builder:
    @contextmanager
    def build(ctx: Ctx) -> Iterator[Setup]:
        cert = variant(ctx.pki)
        with LocalHTTPServer(healthy_routes(), ssl_context=cert.server_context) as server:
            setup = smoke_setup(server.url, ctx)
            setup.top["ca_bundle"] = cert.ca_bundle
            yield setup

    return build


@contextmanager
def database_down(ctx: Ctx) -> Iterator[Setup]:
    password = "planted-dead-db-pw-" + secrets.token_hex(6)
    with LocalHTTPServer(healthy_routes()) as server:
        url = f"postgresql://app:{password}@127.0.0.1:{closed_port()}/app"
        setup = smoke_setup(server.url, ctx, timeout_s=2, database_url=url)
        setup.planted["dead database password"] = password
        yield setup


@contextmanager
def wrong_db_password(ctx: Ctx) -> Iterator[Setup]:
    password = "planted-wrong-db-pw-" + secrets.token_hex(6)
    wrong = ctx.db_url.replace(PLANTED_DB_PASSWORD, password)
    assert wrong != ctx.db_url
    with LocalHTTPServer(healthy_routes()) as server:
        setup = smoke_setup(server.url, ctx, database_url=wrong)
        setup.planted["wrong database password"] = password
        yield setup


@contextmanager
def database_slow(ctx: Ctx) -> Iterator[Setup]:
    """The real database behind a link that holds every chunk back 300 ms: each round trip of the
    connect + SELECT 1 exchange blows the 200 ms budget, yet stays well inside the timeout."""
    cluster = ctx.fixture("pg_cluster")
    with SlowProxy(cluster.port, delay_s=0.3) as proxy, LocalHTTPServer(healthy_routes()) as server:
        url = ctx.db_url.replace(f":{cluster.port}/", f":{proxy.port}/")
        assert url != ctx.db_url
        setup = smoke_setup(server.url, ctx, timeout_s=5, database_url=url)
        setup.tables["database"]["max_latency_ms"] = 200
        yield setup


@contextmanager
def redis_down(ctx: Ctx) -> Iterator[Setup]:
    password = "planted-redis-pw-" + secrets.token_hex(6)
    with LocalHTTPServer(healthy_routes()) as server:
        setup = smoke_setup(server.url, ctx, timeout_s=2)
        setup.tables["cache"] = {"redis_url": f"redis://:{password}@127.0.0.1:{closed_port()}/0"}
        setup.planted["redis password"] = password
        yield setup


@contextmanager
def database_url_empty(ctx: Ctx) -> Iterator[Setup]:
    """``DATABASE_URL`` is set but empty (a CI secret that is missing), while PG* variables name the healthy
    database: left to itself, libpq would check that one and pass."""
    params = conninfo_to_dict(ctx.db_url)
    for variable, key in (
        ("PGHOST", "host"),
        ("PGPORT", "port"),
        ("PGDATABASE", "dbname"),
        ("PGUSER", "user"),
        ("PGPASSWORD", "password"),
    ):
        ctx.monkeypatch.setenv(variable, str(params[key]))  # the suite's subprocess inherits them
    ctx.monkeypatch.setenv("DATABASE_URL", "")
    with LocalHTTPServer(healthy_routes()) as server:
        yield smoke_setup(server.url, ctx, database_url="${DATABASE_URL}")


# -- restore ---------------------------------------------------------------------------------------------


def restore_setup(
    location: str,
    *,
    endpoint: str | None = None,
    retention_days: float = 30,
    roles: tuple[str, ...] = ("app",),
) -> Setup:
    backups: dict[str, Any] = {"location": location, "rpo_hours": 24, "rto_minutes": 10}
    backups["retention_days"] = retention_days
    if endpoint is not None:
        backups["s3_endpoint_url"] = endpoint
    restore = {
        "provider": "local",
        "expect_tables": ["User", "Session"],
        "min_rows": {"User": 1},
        "roles": list(roles),
    }
    return Setup("http://127.0.0.1:9", tables={"backups": backups, "restore": restore}, top={"timeout_s": 5})


def backups(
    newest: Callable[[Dumps], bytes] | None = None, newest_age: timedelta = timedelta(hours=1)
) -> Builder:
    """A month of daily backups of the real dump; the newest one is ``newest(dumps)`` if given."""

    @contextmanager
    def build(ctx: Ctx) -> Iterator[Setup]:
        real = ctx.dumps
        body = None if newest is None else newest(real)
        directory = backup_dir(ctx.tmp_path, daily(newest_age=newest_age), real.gz, newest=body)
        yield restore_setup(directory.as_uri())

    return build


@contextmanager
def roles_undeclared(ctx: Ctx) -> Iterator[Setup]:
    """A healthy month of backups whose dump needs role ``app``, which ``restore.roles`` does not list."""
    directory = backup_dir(ctx.tmp_path, daily(), ctx.dumps.gz)
    yield restore_setup(directory.as_uri(), roles=())


@contextmanager
def plain_sql_truncated(ctx: Ctx) -> Iterator[Setup]:
    """Uncompressed ``backup_*.sql`` dumps, the newest cut in half."""
    directory = ctx.tmp_path / "backups"
    directory.mkdir()
    plain = ctx.dumps.plain
    times = daily(7)
    for taken in times[:-1]:
        write_backup(directory, taken, plain, ext="sql")
    write_backup(directory, times[-1], plain[: len(plain) // 2], ext="sql")
    yield restore_setup(directory.as_uri(), retention_days=6)


def flip_byte(body: bytes, at: int) -> bytes:
    flipped = bytearray(body)
    flipped[at] ^= 0xFF
    return bytes(flipped)


def first_part_cut_unrestricted(real: Dumps) -> bytes:
    """``(pg_dump -s; pg_dump -a)`` (pre-15.14, no \\restrict) in two gzip members, the schema part cut
    before its constraints: the old drill restored it and passed every check."""
    return first_part_cut(
        Dumps(
            real.plain, real.custom, real.counts, without_restrict(real.schema), without_restrict(real.data)
        )
    )


@contextmanager
def no_backups(ctx: Ctx) -> Iterator[Setup]:
    directory = ctx.tmp_path / "backups"
    directory.mkdir()
    (directory / "README.txt").write_text("backups go here\n")
    yield restore_setup(directory.as_uri())


@contextmanager
def custom_truncated(ctx: Ctx) -> Iterator[Setup]:
    real = ctx.dumps
    times = daily(7)
    directory = ctx.tmp_path / "backups"
    directory.mkdir()
    for taken in times[:-1]:
        write_backup(directory, taken, real.custom, ext="dump")
    write_backup(directory, times[-1], real.custom[: len(real.custom) * 6 // 10], ext="dump")
    yield restore_setup(directory.as_uri(), retention_days=6)


@contextmanager
def s3_unencrypted(ctx: Ctx) -> Iterator[Setup]:
    endpoint: str = ctx.fixture("s3_server")
    ctx.fixture("aws_env")
    client = client_for(endpoint)
    bucket = f"faults-plain-{secrets.token_hex(5)}"
    client.create_bucket(Bucket=bucket)  # no default encryption, objects put without SSE
    for taken in daily(3):
        client.put_object(Bucket=bucket, Key=PREFIX + backup_name(taken), Body=ctx.dumps.gz)
    setup = restore_setup(f"s3://{bucket}/{PREFIX}", endpoint=endpoint, retention_days=2)
    setup.planted["AWS secret key"] = os.environ["AWS_SECRET_ACCESS_KEY"]
    yield setup


def s3_daily_backups(ctx: Ctx) -> dict[str, bytes]:
    """Three daily backups of the real dump under ``PREFIX``, keyed by object key."""
    return {PREFIX + backup_name(taken): ctx.dumps.gz for taken in daily(3)}


@contextmanager
def s3_access_denied(ctx: Ctx) -> Iterator[Setup]:
    """A bucket on the IAM-enforcing moto, read with a user allowed nothing but s3:GetObject."""
    server = ctx.fixture("s3_iam_server")
    ctx.fixture("aws_env")
    user: dict[str, str] = ctx.fixture("get_only_user")
    ctx.monkeypatch.setenv("AWS_ACCESS_KEY_ID", user["key_id"])
    ctx.monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", user["secret"])
    setup = restore_setup(f"s3://{user['bucket']}/{PREFIX}", endpoint=server.endpoint)
    setup.planted.update({"AWS access key id": user["key_id"], "AWS secret key": user["secret"]})
    yield setup


def newer_major(real: Dumps) -> bytes:
    return gzip_bytes(claiming_version(real.plain, f"{NEWER_MAJOR}.4"))


# -- credentials -----------------------------------------------------------------------------------------


def dotenv(values: Callable[[str], dict[str, str]], *, production: bool, required: list[str]) -> Builder:
    """A dotenv file with ``values(site_url)``; every value in it is planted."""

    @contextmanager
    def build(ctx: Ctx) -> Iterator[Setup]:
        with LocalHTTPServer(healthy_routes()) as server:
            env = values(server.url)
            path = ctx.tmp_path / "x.env"
            path.write_text("".join(f'{k}="{v}"\n' for k, v in env.items()), encoding="utf-8")
            setup = Setup(
                server.url,
                tables={"credentials": {"env_file": str(path), "required": required}},
                top={"timeout_s": 3, "production": production},
            )
            setup.planted.update(
                {f"dotenv {k}": v for k, v in env.items() if len(v) >= 12 and k != "NEXTAUTH_URL"}
            )
            yield setup

    return build


SHORT_SECRET = secrets.token_hex(16)  # 16 bytes of key material, where NextAuth needs 32
DB_PW_IN_URL = "planted-url-pw-" + secrets.token_hex(8)


def short_secret(site_url: str) -> dict[str, str]:
    return {"NEXTAUTH_SECRET": SHORT_SECRET, "NEXTAUTH_URL": site_url}


def sslmode_disable(site_url: str) -> dict[str, str]:
    url = f"postgresql://app:{DB_PW_IN_URL}@localhost:{closed_port()}/app?sslmode=disable"
    return {"DATABASE_URL": url, "password": DB_PW_IN_URL}


def missing_variable(site_url: str) -> dict[str, str]:
    return {"NEXTAUTH_URL": site_url}


def placeholder(site_url: str) -> dict[str, str]:
    return {"WEBHOOK_SECRET": "changeme"}


def http_nextauth_url(site_url: str) -> dict[str, str]:
    assert site_url.startswith("http://")
    return {"NEXTAUTH_URL": site_url}


SENTRY_PUBLIC_KEY = secrets.token_hex(16)


def sentry_without_project(site_url: str) -> dict[str, str]:
    return {"SENTRY_DSN": f"https://{SENTRY_PUBLIC_KEY}@o1.ingest.sentry.io/project"}


def maintenance_mode(site_url: str) -> dict[str, str]:
    return {"MAINTENANCE_MODE": "true"}


# -- auth ------------------------------------------------------------------------------------------------

REFERENCE_APP = pytest.mark.xdist_group("reference-app")
#: what an auth run may spend: its timeout_s, and sign-ins against a real Next.js app on a loaded machine
AUTH_BUDGET_S = 10.0
REFERENCE_APP_V5 = pytest.mark.xdist_group("reference-app-v5")
#: every auth check against the v5 app but the anonymous requests to its protected route and page
V5_AUTH_BUT_ANONYMOUS = tuple(
    name for name in auth_checks(V5_TARGET) if name not in {anonymous(p) for p in V5_TARGET.protected_paths}
)
PERFORMANCE_SECTION = "Performance Degradation"
HEADERS_SECTION = "Security Headers"
SECURITY_INCIDENT_SECTION = "Security Incident"


#: planted in a page path's query (issue 12: a token in a page path must never be printed)
PLANTED_PAGE_TOKEN = "planted-page-token-" + secrets.token_hex(12)
#: a database password holding the characters URL parsers misread (issue 12: passwords with / ? #)
PLANTED_ODD_DB_PASSWORD = "pw/" + secrets.token_hex(6) + "?x#" + secrets.token_hex(6)


@contextmanager
def token_in_page_path(ctx: Ctx) -> Iterator[Setup]:
    """A page behind ``?access_token=…`` that fails and echoes the token (and its URL-encoded form) back."""
    echo = f"no such session for access_token={PLANTED_PAGE_TOKEN} ({quote(PLANTED_PAGE_TOKEN, safe='')})"
    with LocalHTTPServer(healthy_routes(extra={"/status": Route(status=500, body=echo)})) as server:
        setup = smoke_setup(server.url, ctx, pages=["/", f"/status?access_token={PLANTED_PAGE_TOKEN}"])
        setup.planted["page token"] = PLANTED_PAGE_TOKEN
        yield setup


@contextmanager
def database_password_with_url_delimiters(ctx: Ctx) -> Iterator[Setup]:
    """The database URL's password holds ``/ ? #``, percent-encoded as libpq requires (decoded, it is what
    the driver and its errors see), and nothing answers on the port."""
    encoded = quote(PLANTED_ODD_DB_PASSWORD, safe="")
    url = f"postgresql://reader:{encoded}@127.0.0.1:{closed_port()}/app?connect_timeout=2"
    with LocalHTTPServer(healthy_routes()) as server:
        setup = smoke_setup(server.url, ctx, database_url=url)
        setup.planted["database password with / ? #"] = PLANTED_ODD_DB_PASSWORD
        setup.planted["its piece after the /"] = PLANTED_ODD_DB_PASSWORD.split("/")[1].split("?")[0]
        setup.planted["its percent-encoded form"] = encoded
        yield setup


PLANTED_BASIC_PASSWORD = "planted-basic-pw-" + secrets.token_hex(8)


@contextmanager
def basic_credentials_echoed(ctx: Ctx) -> Iterator[Setup]:
    """``base_url`` carries ``user:password`` (HTTP Basic) and the failing health endpoint echoes the
    ``Authorization`` header it was sent, base64 and all."""
    pair = base64.b64encode(f"ops:{PLANTED_BASIC_PASSWORD}".encode()).decode()
    echo = {"status": "error", "seen": {"authorization": f"Basic {pair}"}}
    with LocalHTTPServer(healthy_routes(extra={"/api/health": Route(status=500, body=echo)})) as server:
        base_url = server.url.replace("http://", f"http://ops:{PLANTED_BASIC_PASSWORD}@", 1)
        setup = smoke_setup(base_url, ctx)
        setup.planted["basic password"] = PLANTED_BASIC_PASSWORD
        setup.planted["basic pair, base64"] = pair
        yield setup


PLANTED_WEBHOOK_PATH = (
    "T0" + secrets.token_hex(5) + "/B0" + secrets.token_hex(5) + "/" + secrets.token_hex(12)
)


@contextmanager
def webhook_path_echoed(ctx: Ctx) -> Iterator[Setup]:
    """The site's health fails, so the run pages a webhook whose path is its secret (Slack-style); the
    receiver refuses and echoes the path it was called on."""
    path = f"/services/{PLANTED_WEBHOOK_PATH}"
    refusal = Route(status=500, body={"error": "invalid_token", "path": path})
    failing = {"/api/health": Route(status=500, body="Internal Server Error")}
    with LocalHTTPServer({path: refusal}) as receiver, LocalHTTPServer(healthy_routes(extra=failing)) as site:
        setup = smoke_setup(site.url, ctx)
        setup.tables["notify"] = {"webhook_url": f"{receiver.url.rstrip('/')}{path}"}
        setup.planted["webhook path"] = PLANTED_WEBHOOK_PATH
        setup.planted["its last piece"] = PLANTED_WEBHOOK_PATH.rsplit("/", 1)[1]
        yield setup
        assert [request.path for request in receiver.requests] == [path], "the run did not page the webhook"


def reference_app(mode: str) -> Builder:
    """The real reference app (Next.js + next-auth) in fault mode ``mode``, signed in as its smoke user.

    The smoke user's password and every session cookie and CSRF token that went over the wire are planted.
    """

    @contextmanager
    def build(ctx: Ctx) -> Iterator[Setup]:
        # the app outlives this row: it must not live in (nor leave files in) the row's private TMPDIR
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("TMPDIR", tempfile.gettempdir())
            apps: V4Apps = ctx.fixture("fleet")
            app = apps.get(mode)
        auth = {
            "username": SMOKE_USER,
            "password": app.password,
            "expected_providers": ["credentials"],
            "protected_paths": ["/api/me"],
        }
        setup = Setup(app.base_url, tables={"auth": auth}, top={"timeout_s": 5})
        yield setup
        setup.planted.update({f"wire secret {i}": v for i, v in enumerate(sorted(app.wire_secrets()))})

    return build


def real_app(target: Target, mode: str, *, https: bool = False) -> Builder:
    """Either real reference app (``V4_TARGET``/``V5_TARGET``) in fault mode ``mode``, over http or https,
    configured the way its user would (tests/project/test_suites_on_reference_apps.py); started for this row only.

    The smoke user's password, the app's secret and every session cookie and CSRF token are planted.
    """

    @contextmanager
    def build(ctx: Ctx) -> Iterator[Setup]:
        database_url = ctx.db_url if target.spec.uses_database else ""
        with ExitStack() as stack:
            # the app's own files stay out of the row's private TMPDIR (the run must leave that empty)
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("TMPDIR", tempfile.gettempdir())
                app = stack.enter_context(
                    start_app(
                        target.spec, ctx.tmp_path / "app", fault=mode, https=https, database_url=database_url
                    )
                )
            top, tables = config_for(target, app, ctx.tmp_path, database_url)
            setup = Setup(app.base_url, tables={k: v for k, v in tables.items() if v is not None}, top=top)
            yield setup
            setup.planted.update({f"wire secret {i}": v for i, v in enumerate(sorted(app.wire_secrets()))})

    return build


@dataclass(frozen=True)
class Fault:
    id: str
    suite: Path
    build: Builder
    caught_by: str
    outcome: str  # "failed" or "error"
    section: str
    #: the checks that read the broken component: passing would hide the fault, so none may pass
    blast: tuple[str, ...]
    #: the configured timeouts the faulty run may spend inside the suite
    budget_s: float
    #: words the intended check's message must contain (none if empty)
    says: str = ""

    @property
    def max_suite_s(self) -> float:
        return self.budget_s + SUITE_MARGIN_S

    @property
    def max_wall_s(self) -> float:
        return self.budget_s + SUITE_MARGIN_S + STARTUP_MARGIN_S


def fault(*args: Any, marks: Any = (), **kwargs: Any) -> Any:
    row = Fault(*args, **kwargs)
    return pytest.param(row, id=row.id, marks=marks)


HEAVY = pytest.mark.xdist_group("faults")

MATRIX = [
    # -- the site --------------------------------------------------------------------------------------------
    fault("target-refused", SMOKE_SUITE, refused, HEALTH, "error", SITE_DOWN, SITE, 2 + 1),
    fault("target-blackholed", SMOKE_SUITE, blackholed, HEALTH, "error", SITE_DOWN, SITE, 1 * 2),
    fault(
        "dns-failure",
        SMOKE_SUITE,
        dns_failure,
        HEALTH,
        "error",
        SITE_DOWN,
        SITE,
        2 + 1,
        says="DNS lookup failed",
    ),
    fault(
        "http-500",
        SMOKE_SUITE,
        site({"/api/health": Route(status=500, body="Internal Server Error")}),
        HEALTH,
        "failed",
        SITE_DOWN,
        (HEALTH,),
        3,
    ),
    fault(
        "http-503",
        SMOKE_SUITE,
        site({"/api/health": Route(status=503, body={"status": "unavailable"})}),
        HEALTH,
        "failed",
        SITE_DOWN,
        (HEALTH,),
        3,
    ),
    fault(
        "health-degraded",
        SMOKE_SUITE,
        site({"/api/health": Route(body={**HEALTHY_BODY, "status": "degraded"})}),
        HEALTH,
        "failed",
        SITE_DOWN,
        (HEALTH,),
        3,
    ),
    fault(
        "wrong-version",
        SMOKE_SUITE,
        site({}, expected_version="v2", version_wait_s=1),
        VERSION,
        "failed",
        DEPLOYMENT,
        (VERSION,),
        1 + 3,
    ),
    fault("tls-expired", SMOKE_SUITE, tls(LocalPKI.expired), TLS, "failed", TLS_SECTION, (TLS, *SITE), 3),
    fault(
        "tls-wrong-host",
        SMOKE_SUITE,
        tls(LocalPKI.wrong_host),
        TLS,
        "failed",
        TLS_SECTION,
        (TLS, *SITE),
        3,
    ),
    fault(
        "tls-untrusted",
        SMOKE_SUITE,
        tls(LocalPKI.untrusted),
        TLS,
        "failed",
        TLS_SECTION,
        (TLS, *SITE),
        3,
    ),
    fault(
        "maintenance-on",
        SMOKE_SUITE,
        site({"/api/health": Route(status=503, body={"status": "maintenance", "maintenance": True})}),
        MAINTENANCE,
        "failed",
        MAINTENANCE_SECTION,
        (MAINTENANCE, HEALTH),
        3,
    ),
    # -- data stores -----------------------------------------------------------------------------------------
    fault("database-down", SMOKE_SUITE, database_down, DATABASE, "error", DATABASE_SECTION, (DATABASE,), 2),
    fault(
        "database-wrong-password",
        SMOKE_SUITE,
        wrong_db_password,
        DATABASE,
        "failed",
        DATABASE_SECTION,
        (DATABASE,),
        3,
    ),
    fault(
        "database-slow",
        SMOKE_SUITE,
        database_slow,
        DATABASE,
        "failed",
        DATABASE_SECTION,
        (DATABASE,),
        5,
        says="at most 200 ms",
    ),
    fault("redis-down", SMOKE_SUITE, redis_down, CACHE, "error", CACHE_SECTION, (CACHE,), 2),
    fault(
        "database-url-empty-pg-variables-set",
        SMOKE_SUITE,
        database_url_empty,
        DATABASE,
        "error",
        RUN_CONFIGURATION,  # the deployment was not judged: the advice is to set the variable
        (DATABASE,),
        3,
        says="DATABASE_URL is empty, which counts as not set",
    ),
    # -- backups ---------------------------------------------------------------------------------------------
    fault(
        "backup-missing",
        RESTORE_SUITE,
        no_backups,
        RPO,
        "failed",
        BACKUP_STRATEGY,
        restore_run.ALL_CHECKS,
        RESTORE_BUDGET_S,
    ),
    fault(
        "backup-stale",
        RESTORE_SUITE,
        backups(newest_age=timedelta(days=3)),
        RPO,
        "failed",
        BACKUP_STRATEGY,
        (RPO,),
        RESTORE_BUDGET_S,
    ),
    fault(
        "backup-empty",
        RESTORE_SUITE,
        backups(lambda d: b""),
        SIZE,
        "failed",
        BACKUP_STRATEGY,
        (SIZE, STREAM, DRILL, ROLES, *RESTORED),
        RESTORE_BUDGET_S,
    ),
    fault(
        "gzip-truncated",
        RESTORE_SUITE,
        backups(lambda d: d.gz[: len(d.gz) * 6 // 10]),
        STREAM,
        "failed",
        DATA_RECOVERY,
        (STREAM, DRILL, ROLES, *RESTORED),
        RESTORE_BUDGET_S,
    ),
    fault(
        "dump-cut-mid-copy",
        RESTORE_SUITE,
        backups(lambda d: gzip_bytes(cut_inside_copy(d.plain))),
        STREAM,
        "failed",
        DATA_RECOVERY,
        (STREAM, DRILL, ROLES, *RESTORED),
        RESTORE_BUDGET_S,
    ),
    fault(
        "dump-first-part-cut",
        RESTORE_SUITE,
        backups(first_part_cut_unrestricted),
        STREAM,
        "failed",
        DATA_RECOVERY,
        (STREAM, DRILL, ROLES, *RESTORED),
        RESTORE_BUDGET_S,
        says="part 1 of the stream",
    ),
    fault(
        "gzip-byte-flipped",
        RESTORE_SUITE,
        backups(lambda d: flip_byte(d.gz, len(d.gz) // 2)),
        STREAM,
        "failed",
        DATA_RECOVERY,
        (STREAM, DRILL, ROLES, *RESTORED),
        RESTORE_BUDGET_S,
        says="member 1 (starting at byte 0)",
    ),
    fault(
        "plain-sql-truncated",
        RESTORE_SUITE,
        plain_sql_truncated,
        STREAM,
        "failed",
        DATA_RECOVERY,
        (STREAM, DRILL, ROLES, *RESTORED),
        RESTORE_BUDGET_S,
        says="dump truncated",
    ),
    fault(
        "roles-undeclared",
        RESTORE_SUITE,
        roles_undeclared,
        ROLES,
        "failed",
        SYSTEM_RECOVERY,
        (ROLES,),
        RESTORE_BUDGET_S,
        says="'app'",
    ),
    fault(
        "extension-missing",
        RESTORE_SUITE,
        backups(lambda d: gzip_bytes(with_missing_extension(d.plain))),
        DRILL,
        "failed",
        SYSTEM_RECOVERY,
        (DRILL, *RESTORED),
        RESTORE_BUDGET_S,
        says="[restore] image",
    ),
    fault(
        "sql-error-mid-dump",
        RESTORE_SUITE,
        backups(lambda d: gzip_bytes(with_bad_statement(d.plain)[0])),
        DRILL,
        "failed",
        SYSTEM_RECOVERY,
        (DRILL, *RESTORED),
        RESTORE_BUDGET_S,
    ),
    fault(
        "dump-from-newer-major",
        RESTORE_SUITE,
        backups(newer_major),
        DRILL,
        "failed",
        SYSTEM_RECOVERY,
        (DRILL, *RESTORED),
        RESTORE_BUDGET_S,
        says=f"major {NEWER_MAJOR} or newer",
    ),
    fault(
        "custom-dump-truncated",
        RESTORE_SUITE,
        custom_truncated,
        DRILL,
        "failed",
        SYSTEM_RECOVERY,
        (DRILL, *RESTORED),
        RESTORE_BUDGET_S,
    ),
    fault(
        "s3-object-unencrypted",
        RESTORE_SUITE,
        s3_unencrypted,
        ENCRYPTED,
        "failed",
        BACKUP_STRATEGY,
        (ENCRYPTED,),
        RESTORE_BUDGET_S,
        marks=HEAVY,
    ),
    fault(
        "s3-access-denied",
        RESTORE_SUITE,
        s3_access_denied,
        RPO,
        "failed",
        BACKUP_STRATEGY,
        restore_run.ALL_CHECKS,
        RESTORE_BUDGET_S,
        says="AccessDenied",
        marks=HEAVY,
    ),
    # -- credentials -----------------------------------------------------------------------------------------
    fault(
        "nextauth-secret-short",
        CREDENTIALS_SUITE,
        dotenv(short_secret, production=False, required=["NEXTAUTH_SECRET", "NEXTAUTH_URL"]),
        SECRET_KEY_MATERIAL,
        "failed",
        AUTH_SECTION,
        (SECRET_KEY_MATERIAL,),
        3,
    ),
    fault(
        "database-url-sslmode-disable-in-production",
        CREDENTIALS_SUITE,
        dotenv(sslmode_disable, production=True, required=["DATABASE_URL"]),
        DB_SSLMODE,
        "failed",
        DATABASE_SECTION,
        (DB_SSLMODE,),
        3,
    ),
    fault(
        "required-variable-missing",
        CREDENTIALS_SUITE,
        dotenv(missing_variable, production=False, required=["NEXTAUTH_URL", "PAYMENTS_API_KEY"]),
        required_var("PAYMENTS_API_KEY"),
        "failed",
        ENV_VARS_SECTION,
        (required_var("PAYMENTS_API_KEY"),),
        3,
        says="not set",
    ),
    fault(
        "placeholder-value",
        CREDENTIALS_SUITE,
        dotenv(placeholder, production=False, required=["WEBHOOK_SECRET"]),
        required_var("WEBHOOK_SECRET"),
        "failed",
        ENV_VARS_SECTION,
        (required_var("WEBHOOK_SECRET"),),
        3,
        says="placeholder",
    ),
    fault(
        "nextauth-url-http-in-production",
        CREDENTIALS_SUITE,
        dotenv(http_nextauth_url, production=True, required=["NEXTAUTH_URL"]),
        URL_HTTPS,
        "failed",
        AUTH_SECTION,
        (URL_HTTPS,),
        3,
        says="http://",
    ),
    fault(
        "sentry-dsn-malformed",
        CREDENTIALS_SUITE,
        dotenv(sentry_without_project, production=False, required=["SENTRY_DSN"]),
        SENTRY_FORMAT,
        "failed",
        MONITORING_SECTION,
        (SENTRY_FORMAT,),
        3,
        says="project id",
    ),
    fault(
        "maintenance-mode-on-in-production",
        CREDENTIALS_SUITE,
        dotenv(maintenance_mode, production=True, required=["MAINTENANCE_MODE"]),
        MAINTENANCE_FLAG,
        "failed",
        MAINTENANCE_SECTION,
        (MAINTENANCE_FLAG,),
        3,
        says="true",
    ),
    # -- auth (the real reference app) -----------------------------------------------------------------------
    fault(
        "nextauth-without-secret",
        AUTH_SUITE,
        reference_app("no-secret"),
        ENDPOINTS,
        "failed",
        AUTH_SECTION,
        # nobody can sign in: the canaries (a wrong password, no CSRF token, an unknown user) are refused,
        # but so is the right password, so they must not pass either
        auth_run.ALL_CHECKS,
        AUTH_BUDGET_S,
        says="NEXTAUTH_SECRET",
        marks=REFERENCE_APP,
    ),
    fault(
        "nextauth-configuration-500",
        AUTH_SUITE,
        reference_app("config-500"),  # the secret is set; NextAuth refuses its configuration
        ENDPOINTS,
        "failed",
        AUTH_SECTION,
        # /api/me still refuses without a session (its JWT check does not go through the endpoints)
        tuple(name for name in auth_run.ALL_CHECKS if name != ANONYMOUS),
        AUTH_BUDGET_S,
        says="problem with the server configuration",
        marks=REFERENCE_APP,
    ),
    fault(
        "nextauth-any-password-accepted",
        AUTH_SUITE,
        reference_app("any-password"),
        WRONG_PASSWORD,
        "failed",
        AUTH_SECTION,
        (WRONG_PASSWORD, UNKNOWN_USER),
        AUTH_BUDGET_S,
        says="ACCEPTED",
        marks=REFERENCE_APP,
    ),
    fault(
        "nextauth-protected-route-open",
        AUTH_SUITE,
        reference_app("open-protected"),
        ANONYMOUS,
        "failed",
        AUTH_SECTION,
        (ANONYMOUS,),
        AUTH_BUDGET_S,
        says="serves data without a session",
        marks=REFERENCE_APP,
    ),
    fault(
        "nextauth-prefix-redirect",
        AUTH_SUITE,
        reference_app("prefix-redirect"),  # honours any callbackUrl that starts with the base URL
        OPEN_REDIRECT,
        "failed",
        AUTH_SECTION,
        (OPEN_REDIRECT,),
        AUTH_BUDGET_S,
        says="host suffix http://127.0.0.1:",
        marks=REFERENCE_APP,
    ),
    fault(
        "nextauth-cookie-without-httponly",
        AUTH_SUITE,
        reference_app("cookie-no-httponly"),
        HTTPONLY,
        "failed",
        AUTH_SECTION,
        (HTTPONLY,),
        AUTH_BUDGET_S,
        says="next-auth.session-token",
        marks=REFERENCE_APP,
    ),
    # -- hostile targets (bounded time and memory, page verdicts, production is sacred) -----------------------
    fault(
        "site-dribbles-bytes",
        SMOKE_SUITE,
        hostile_targets.dribbling_site(smoke_setup),
        HEALTH,
        "error",
        SITE_DOWN,
        SITE,
        2 * 2,  # timeout_s = 2 for each of the suite's two phases in a row: the health check, then the probes
        says="as a whole took longer than timeout_s = 2 s",
    ),
    # -- secrets on the leak paths of issue 12: each row plants a secret where it used to leak ---------------
    fault(
        "secret-token-in-a-page-path",
        SMOKE_SUITE,
        token_in_page_path,
        "test_page_answers_200[/status?access_token=***]",
        "failed",
        SITE_DOWN,
        ("test_page_answers_200[/status?access_token=***]",),
        3,
    ),
    fault(
        "secret-basic-credentials-echoed",
        SMOKE_SUITE,
        basic_credentials_echoed,
        HEALTH,
        "failed",
        SITE_DOWN,
        (HEALTH,),
        3,
    ),
    fault(
        "secret-webhook-path-echoed",
        SMOKE_SUITE,
        webhook_path_echoed,
        HEALTH,
        "failed",
        SITE_DOWN,
        (HEALTH,),
        3,
    ),
    fault(
        "secret-database-password-with-url-delimiters",
        SMOKE_SUITE,
        database_password_with_url_delimiters,
        DATABASE,
        "error",
        DATABASE_SECTION,
        (DATABASE,),
        3,
    ),
    fault(
        "page-200-with-error-payload",
        SMOKE_SUITE,
        hostile_targets.error_body_page(smoke_setup),
        "test_page_answers_200[/login]",
        "failed",
        SITE_DOWN,
        ("test_page_answers_200[/login]",),
        3,
        says="error row in the React Server Components payload",
    ),
    fault(
        "page-larger-than-max-body",
        SMOKE_SUITE,
        hostile_targets.oversized_page(smoke_setup),
        "test_page_answers_200[/login]",
        "error",
        SITE_DOWN,
        ("test_page_answers_200[/login]",),
        3,
        says="could not be verified",
    ),
    fault(
        "page-gzip-bomb",
        SMOKE_SUITE,
        hostile_targets.gzip_bomb_page(smoke_setup),
        "test_page_answers_200[/login]",
        "error",
        SITE_DOWN,
        ("test_page_answers_200[/login]",),
        3,
        says="could not be verified",
    ),
    fault(
        "database-role-can-write",
        CREDENTIALS_SUITE,
        hostile_targets.role_can_write(Setup),
        "test_opscheck_database_role_is_read_only",
        "failed",
        "Database Role Privileges",
        ("test_opscheck_database_role_is_read_only",),
        3,
        says="INSERT on 1 table(s), e.g. public.orders",
    ),
    fault(
        "database-answers-crawl",
        SMOKE_SUITE,
        hostile_targets.database_dribbles(smoke_setup),
        DATABASE,
        "error",
        DATABASE_SECTION,
        (DATABASE,),
        2 + 1,
    ),
    fault(
        "s3-answers-crawl",
        RESTORE_SUITE,
        hostile_targets.s3_backups_crawl(restore_setup, s3_daily_backups, PREFIX),
        RPO,
        "error",
        BACKUP_STRATEGY,
        restore_run.ALL_CHECKS,
        RESTORE_BUDGET_S,
        says="took longer than timeout_s = 2 s",
        marks=HEAVY,
    ),
    fault(
        "aws-answers-crawl",
        CREDENTIALS_SUITE,
        hostile_targets.aws_answers_crawl(Setup),
        STS,
        "error",
        CREDENTIAL_ROTATION,
        (STS, KEY_AGE, *(f"test_backup_bucket_is_protected[{rule}]" for rule in BUCKET_RULES)),
        2,
        says="STS GetCallerIdentity at http://127.0.0.1:",
    ),
    fault(
        "redis-answers-crawl",
        SMOKE_SUITE,
        hostile_targets.redis_dribbles(smoke_setup),
        CACHE,
        "error",
        CACHE_SECTION,
        (CACHE,),
        2,
        says="within timeout_s = 2 s",
    ),
    # -- the Auth.js v5 reference app (and the v4 one's foreign callback) ----------------------------------
    fault(
        "authjs-v5-without-secret",
        AUTH_SUITE,
        real_app(V5_TARGET, "no-secret"),
        ENDPOINTS,
        "failed",
        AUTH_SECTION,
        # its protected route and page still refuse without a session (the session lookup fails closed)
        V5_AUTH_BUT_ANONYMOUS,
        AUTH_BUDGET_S,
        says="problem with the server configuration",
        marks=REFERENCE_APP_V5,
    ),
    fault(
        "authjs-v5-provider-without-issuer",
        AUTH_SUITE,
        real_app(V5_TARGET, "provider-no-issuer"),
        ENDPOINTS,
        "failed",
        AUTH_SECTION,
        V5_AUTH_BUT_ANONYMOUS,
        AUTH_BUDGET_S,
        says="problem with the server configuration",
        marks=REFERENCE_APP_V5,
    ),
    fault(
        "authjs-v5-any-password-accepted",
        AUTH_SUITE,
        real_app(V5_TARGET, "any-password"),
        WRONG_PASSWORD,
        "failed",
        AUTH_SECTION,
        (WRONG_PASSWORD, UNKNOWN_USER),
        AUTH_BUDGET_S,
        says="ACCEPTED",
        marks=REFERENCE_APP_V5,
    ),
    fault(
        "authjs-v5-protected-page-open",
        AUTH_SUITE,
        real_app(V5_TARGET, "open-protected"),
        anonymous("/dashboard"),
        "failed",
        AUTH_SECTION,
        (anonymous("/api/me"), anonymous("/dashboard")),
        AUTH_BUDGET_S,
        marks=REFERENCE_APP_V5,
    ),
    fault(
        "authjs-v5-cookie-without-httponly",
        AUTH_SUITE,
        real_app(V5_TARGET, "cookie-no-httponly"),
        HTTPONLY,
        "failed",
        AUTH_SECTION,
        (HTTPONLY,),
        AUTH_BUDGET_S,
        says="opscheck-v5.sid",
        marks=REFERENCE_APP_V5,
    ),
    fault(
        "authjs-v5-insecure-custom-cookie-on-https",
        AUTH_SUITE,
        real_app(V5_TARGET, "insecure-custom-cookie", https=True),
        SECURE_PREFIX,
        "failed",
        AUTH_SECTION,
        (SECURE_PREFIX,),
        AUTH_BUDGET_S,
        says="sid",
        marks=REFERENCE_APP_V5,
    ),
    fault(
        "authjs-v5-foreign-callback-honoured",
        AUTH_SUITE,
        real_app(V5_TARGET, "foreign-callback"),
        OPEN_REDIRECT,
        "failed",
        AUTH_SECTION,
        (OPEN_REDIRECT,),
        AUTH_BUDGET_S,
        says=".invalid",
        marks=REFERENCE_APP_V5,
    ),
    fault(
        "authjs-v5-prefix-check-redirect",
        AUTH_SUITE,
        real_app(V5_TARGET, "prefix-redirect"),
        OPEN_REDIRECT,
        "failed",
        AUTH_SECTION,
        (OPEN_REDIRECT,),
        AUTH_BUDGET_S,
        says="host suffix http://localhost:",
        marks=REFERENCE_APP_V5,
    ),
    fault(
        "authjs-v5-no-security-headers",
        SMOKE_SUITE,
        real_app(V5_TARGET, "no-security-headers"),
        HEADER_CHECKS[0],
        "failed",
        HEADERS_SECTION,
        HEADER_CHECKS,
        AUTH_BUDGET_S,
        marks=REFERENCE_APP_V5,
    ),
    fault(
        "authjs-v5-slow-pages",
        SMOKE_SUITE,
        real_app(V5_TARGET, "slow"),
        "test_page_answers_within_budget[/]",
        "failed",
        PERFORMANCE_SECTION,
        ("test_page_answers_within_budget[/]", "test_page_answers_within_budget[/signin]"),
        AUTH_BUDGET_S,
        marks=REFERENCE_APP_V5,
    ),
    fault(
        "authjs-v5-secret-in-the-page",
        CREDENTIALS_SUITE,
        real_app(V5_TARGET, "leak-secret"),
        "test_secrets_are_not_exposed",
        "failed",
        SECURITY_INCIDENT_SECTION,
        ("test_secrets_are_not_exposed",),
        AUTH_BUDGET_S,
        says="AUTH_SECRET",
        marks=REFERENCE_APP_V5,
    ),
    fault(
        "nextauth-v4-foreign-callback-honoured",
        AUTH_SUITE,
        real_app(V4_TARGET, "foreign-callback"),
        OPEN_REDIRECT,
        "failed",
        AUTH_SECTION,
        (OPEN_REDIRECT,),
        AUTH_BUDGET_S,
        says=".invalid",
        marks=REFERENCE_APP,
    ),
]


@pytest.mark.parametrize("row", MATRIX)
def test_fault_is_caught_by_its_check(
    row: Fault,
    pytester: pytest.Pytester,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    *,
    monkeypatch: pytest.MonkeyPatch,
    matrix_log: MatrixLog,
) -> None:
    ctx = Ctx(request, tmp_path, monkeypatch)
    verdict = "FAIL"
    run: SuiteRun | None = None
    try:
        with row.build(ctx) as setup:
            tables = {"auth": {"username": "faults-smoke-user", "password": PLANTED_SMOKE_PASSWORD}}
            tables.update(setup.tables)
            config = write_opscheck_toml(tmp_path, base_url=setup.base_url, top=setup.top, **tables)
            run = run_suite(pytester, row.suite, config, tmp_path / "reports")
        check_it(
            row,
            run,
            {
                "smoke password": PLANTED_SMOKE_PASSWORD,
                "database password": PLANTED_DB_PASSWORD,
                **setup.planted,
            },
        )
        verdict = "ok"
    finally:
        check = run.checks.get(row.caught_by, {}) if run is not None else {}
        matrix_log.record(
            id=row.id,
            caught_by=row.caught_by,
            outcome=check.get("outcome", "-"),
            section=check.get("runbook_section") or "-",
            wall_s=run.wall_s if run is not None else 0.0,
            suite_s=run.summary.get("duration_s", 0.0) if run is not None else 0.0,
            max_suite_s=row.max_suite_s,
            max_wall_s=row.max_wall_s,
            verdict=verdict,
        )


def check_it(row: Fault, run: SuiteRun, planted: dict[str, str]) -> None:
    assert run.ret != 0, run.output
    check = run.check(row.caught_by)
    context = f"{row.caught_by}: {check}\n--- output ---\n{run.output}"
    assert check["outcome"] == row.outcome, context
    assert check["runbook_section"] == row.section, context
    assert check["remediation"], context
    assert row.says in (check["message"] or ""), context
    hidden = sorted(name for name in row.blast if run.outcomes().get(name) == "passed")
    assert hidden == [], f"checks that read the broken component passed: {hidden}\n{run.output}"
    duration = run.summary["duration_s"]
    assert duration <= row.max_suite_s, f"suite took {duration:.1f} s > {row.max_suite_s} s\n{run.output}"
    assert run.wall_s <= row.max_wall_s, f"wall {run.wall_s:.1f} s > {row.max_wall_s} s\n{run.output}"
    text = run.all_text()
    leaks = sorted(name for name, value in planted.items() if value and value in text)
    assert leaks == [], f"planted secrets in the output: {leaks}"
