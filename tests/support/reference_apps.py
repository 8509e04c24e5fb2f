"""The two real reference apps, built from npm once and started on free loopback ports, over http or https.

* ``V4``: ``examples/nextjs-app`` — Next.js 16 + next-auth 4, auth under ``/api/auth``, ``/api/health``,
  PostgreSQL behind the health endpoint.
* ``V5``: ``examples/authjs-v5-app`` — Next.js 16 + Auth.js v5 (next-auth 5 beta), auth under ``/auth``, a
  custom session-cookie name, a custom sign-in page, protection by the proxy and by route handlers, no
  health endpoint and no database.

Each app is built once (``npm ci`` when its lock file changed, ``next build`` when its sources changed:
cached and file-locked by :class:`opscheck.demo.reference_app.ReferenceApp`) and started behind a
:class:`~tests.support.tls_proxy.RecordingProxy`, which terminates TLS with a test certificate for https
and records the session cookies and CSRF tokens that went over the wire::

    with start_app(V5, workdir, fault="prefix-redirect", https=True) as app:
        run the suites against app.base_url (trusting app.ca_bundle), signed in as SMOKE_USER/app.password

The app and its proxy are stopped when the block ends, also on failure. ``AppFleet`` keeps apps running
for reuse (one per app, fault and scheme) until it is closed; the ``reference_apps`` fixture gives a
module-scoped fleet that has a PostgreSQL database for the v4 app's health endpoint.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from opscheck.demo.apps import APPS as DEMO_APPS
from opscheck.demo.apps import DemoApp
from opscheck.demo.process import free_port
from opscheck.demo.reference_app import ReferenceApp
from opscheck.restore.servers.local import LocalCluster
from tests.support.certs import LocalPKI
from tests.support.project import REPO
from tests.support.tls_proxy import RecordingProxy

__all__ = [
    "APPS",
    "SMOKE_USER",
    "V4",
    "V5",
    "AppFleet",
    "AppSpec",
    "RunningApp",
    "reference_apps",
    "start_app",
]

SMOKE_USER = "smoke@example.com"
#: what the harness waits for after a start: an API route both apps have that no fault mode delays (their
#: health and page routes sleep in the ``slow`` mode)
READY_PATH = "/api/me"


@dataclass(frozen=True)
class AppSpec:
    """What a test needs to know about one reference app to start it and to point opscheck at it; where it
    lives, its variables and whether it reads a database come from ``opscheck.demo.apps``."""

    app: DemoApp
    #: where its auth routes live
    auth_base_path: str
    #: its session cookie's name over http (https adds ``__Secure-``)
    session_cookie: str
    #: fault modes that move the auth routes, and the path the public URL must then end in (next-auth 4
    #: takes its base path from ``NEXTAUTH_URL``)
    url_path_by_fault: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.app.name

    @property
    def directory(self) -> Path:
        return REPO / "examples" / self.app.directory

    @property
    def secret_variable(self) -> str:
        return self.app.secret_variable

    @property
    def url_variable(self) -> str:
        return self.app.url_variable

    @property
    def uses_database(self) -> bool:
        return self.app.uses_database

    @property
    def faults(self) -> tuple[str, ...]:
        """Every mode of its ``OPSCHECK_APP_FAULT``, from the app's own list (``FAULT_MODES``)."""
        source = (self.directory / "lib" / "config.js").read_text(encoding="utf-8")
        listing = re.search(r"FAULT_MODES = \[(.*?)\]", source, re.DOTALL)
        if listing is None:
            raise AssertionError(f"no FAULT_MODES list in {self.directory}/lib/config.js")
        return tuple(re.findall(r'"([a-z0-9-]+)"', listing.group(1)))

    def url_path(self, fault: str) -> str:
        paths = [self.url_path_by_fault[f] for f in fault.split(",") if f in self.url_path_by_fault]
        return paths[0] if paths else ""

    def environment(self, public_url: str, password: str, secret: str, fault: str) -> dict[str, str]:
        """The app's variables; ``LEAK_VALUE`` is the auth secret, so ``leak-secret`` leaks a real one."""
        return {
            self.secret_variable: secret,
            "LEAK_VALUE": secret,
            self.url_variable: public_url + self.url_path(fault),
            "SMOKE_USER": SMOKE_USER,
            "SMOKE_PASSWORD": password,
            "OPSCHECK_APP_FAULT": fault,
            "APP_VERSION": f"{self.name}-test",
        }


V4 = AppSpec(
    DEMO_APPS["v4"],
    auth_base_path="/api/auth",
    session_cookie="next-auth.session-token",
    url_path_by_fault={"custom-base-path": "/auth"},
)
V5 = AppSpec(DEMO_APPS["v5"], auth_base_path="/auth", session_cookie="opscheck-v5.sid")

APPS: Mapping[str, AppSpec] = {spec.name: spec for spec in (V4, V5)}


@dataclass
class RunningApp:
    """One started app: its public URL (the proxy's), the CA to trust for https, the smoke password."""

    spec: AppSpec
    fault: str
    base_url: str
    ca_bundle: Path | None
    password: str
    #: the value of its secret variable (``spec.secret_variable``)
    secret: str
    proxy: RecordingProxy
    app: ReferenceApp
    #: the variables the app was started with (its deployment's environment, as `vercel env pull` gives it)
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def https(self) -> bool:
        return self.ca_bundle is not None

    def wire_secrets(self) -> set[str]:
        """The smoke password, the auth secret and every session cookie and CSRF token sent so far."""
        return {self.password, self.secret, *self.proxy.wire_secrets()}

    def log(self) -> str:
        """The app's own log (``next start`` output), for failure messages."""
        path = self.app.log_dir / "app.log"
        return path.read_text(errors="replace") if path.is_file() else "(no log)"

    def stop(self) -> None:
        try:
            self.app.stop()
        finally:
            self.proxy.stop()


def build(spec: AppSpec, log_dir: Path) -> None:
    """``npm ci`` and ``next build`` for ``spec`` unless its cached install and build are current."""
    ReferenceApp(spec.directory, log_dir).ensure_built()


def launch(
    spec: AppSpec,
    workdir: Path,
    *,
    fault: str = "",
    https: bool = False,
    database_url: str = "",
    pki: LocalPKI | None = None,
    overrides: Mapping[str, str | None] | None = None,
    renames: Mapping[str, str] | None = None,
) -> RunningApp:
    """Start ``spec`` (already built) in ``fault`` mode behind a recording proxy; the caller stops it.

    ``https`` puts a TLS terminator with a certificate from ``pki`` (a new one in ``workdir`` if None) in
    front, and the app's public URL is https, so its auth library really sets Secure, prefixed cookies.
    ``overrides`` replaces the app's variables (None removes one) and ``renames`` moves a value to another
    name (``{"AUTH_URL": "NEXTAUTH_URL"}``), e.g. to start it with other auth variables.
    """
    name = f"{spec.name}-{fault or 'normal'}-{'https' if https else 'http'}"
    log_dir = workdir / name
    log_dir.mkdir(parents=True, exist_ok=True)
    ca_bundle = None
    context = None
    if https:
        pki = pki or LocalPKI(workdir / "pki")
        context = pki.valid().server_context
        ca_bundle = Path(pki.ca_bundle)
    proxy = RecordingProxy(ssl_context=context).start()
    app = ReferenceApp(spec.directory, log_dir)
    password = f"pw-{secrets.token_urlsafe(16)}"
    secret = secrets.token_urlsafe(32)
    env = spec.environment(proxy.url, password, secret, fault)
    if spec.uses_database:
        env["DATABASE_URL"] = database_url
    for old, new in (renames or {}).items():
        env[new] = env.pop(old)
    for name, value in (overrides or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    try:
        port = free_port()
        proxy.upstream_port = port
        app.start(env, port, ready_path=READY_PATH)
    except BaseException:
        try:
            app.stop()
        finally:
            proxy.stop()
        raise
    return RunningApp(spec, fault, proxy.url, ca_bundle, password, secret, proxy, app, env)


@contextmanager
def start_app(
    spec: AppSpec,
    workdir: Path,
    *,
    fault: str = "",
    https: bool = False,
    database_url: str = "",
    overrides: Mapping[str, str | None] | None = None,
    renames: Mapping[str, str] | None = None,
) -> Iterator[RunningApp]:
    """Build (cached) and start ``spec``; it and its proxy stop when the block ends, also on failure."""
    build(spec, workdir / "build")
    running = launch(
        spec,
        workdir,
        fault=fault,
        https=https,
        database_url=database_url,
        overrides=overrides,
        renames=renames,
    )
    try:
        yield running
    finally:
        running.stop()


@dataclass
class AppFleet:
    """Running apps keyed by (app, fault, https): each built and started on first use, all stopped by
    ``close()``. Apps are a few hundred MB each: keep a fleet for the few modes a module reuses."""

    workdir: Path
    database_url: str = ""
    apps: dict[tuple[str, str, bool], RunningApp] = field(default_factory=dict)
    pki: LocalPKI | None = None
    built: set[str] = field(default_factory=set)

    def get(self, spec: AppSpec, fault: str = "", *, https: bool = False) -> RunningApp:
        key = (spec.name, fault, https)
        if key not in self.apps:
            if spec.name not in self.built:
                build(spec, self.workdir / "build")
                self.built.add(spec.name)
            if https and self.pki is None:
                self.pki = LocalPKI(self.workdir / "pki")
            self.apps[key] = launch(
                spec, self.workdir, fault=fault, https=https, database_url=self.database_url, pki=self.pki
            )
        return self.apps[key]

    def close(self) -> None:
        apps = list(self.apps.values())
        self.apps.clear()
        errors: list[BaseException] = []
        for running in apps:
            try:
                running.stop()
            except Exception as exc:  # stop the rest, then report
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.fixture(scope="module")
def reference_apps(pg_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppFleet]:
    """A fleet of reference apps for one test module; the v4 app's health endpoint gets a fresh database
    with the app's schema. Everything is stopped and dropped at the module's end."""
    workdir = tmp_path_factory.mktemp("reference-apps")
    name = f"refapp_{secrets.token_hex(4)}"
    pg_cluster.create_database(name)
    try:
        pg_cluster.run_sql_file(V4.directory / "db" / "schema.sql", dbname=name)
        fleet = AppFleet(workdir, pg_cluster.dsn(dbname=name))
        try:
            yield fleet
        finally:
            fleet.close()
    finally:
        pg_cluster.drop_database(name)
