"""The embedded default stack behind ``opscheck demo``: a throwaway PostgreSQL seeded like the
runbook's system, the reference Next.js app built from npm and started on a free loopback port, and an
``opscheck.toml`` with a ``demo`` environment pointing at both.

Everything it starts is stopped again, also on Ctrl-C and SIGTERM, unless ``--keep`` asks otherwise.
"""

from __future__ import annotations

import json
import secrets
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from opscheck.demo.apps import APPS, DEFAULT_APP
from opscheck.demo.backups import BUCKET, PREFIX, LocalS3, write_backup_history
from opscheck.demo.process import free_port
from opscheck.demo.pushgateway import LocalPushgateway
from opscheck.demo.reference_app import DemoError, ReferenceApp
from opscheck.restore.servers import container, local, registry
from opscheck.restore.servers.base import ThrowawayPostgres
from opscheck.restore.servers.container import ContainerCluster
from opscheck.restore.servers.engine import DEFAULT_IMAGE
from opscheck.restore.servers.local import LocalCluster
from opscheck.restore.servers.owner import run_owner
from opscheck.restore.servers.provider import select_provider
from opscheck.restore.servers.reaper import stop_recorded_process

__all__ = ["DemoStack", "project_root", "pytest_command", "pytest_executable"]

APP_VERSION = "demo-1.0.0"


def project_root() -> Path:
    """The opscheck checkout: the suites and the reference app live beside the package."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "suites").is_dir() or not (root / "examples" / "nextjs-app").is_dir():
        raise DemoError(
            f"the suites and examples/nextjs-app are not beside the opscheck package ({root}); "
            "run the demo from a checkout installed with `pip install -e .`"
        )
    return root


@dataclass
class DemoStack:
    """PostgreSQL + the reference app + a ``demo`` environment in ``workdir/opscheck.toml``."""

    workdir: Path
    root: Path = field(default_factory=project_root)
    cluster: ThrowawayPostgres | None = None
    provider: tuple[str, str] = ("", "")
    s3: LocalS3 | None = None
    #: Debian's prometheus-pushgateway, when installed: the run pushes its metrics there
    pushgateway: LocalPushgateway | None = None
    smoke_password: str = ""
    app: ReferenceApp | None = None
    config_path: Path | None = None
    base_url: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    records: dict[str, registry.ServerRecord] = field(default_factory=dict)
    fault: str = ""
    #: which reference app (``opscheck.demo.apps.APPS``)
    app_name: str = DEFAULT_APP

    @property
    def state_file(self) -> Path:
        return self.workdir / "stack.json"

    def start(self) -> DemoStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            spec = APPS[self.app_name]
            self.app = ReferenceApp(self.root / "examples" / spec.directory, self.workdir / "logs")
            self.app.ensure_built()
            self.timings["build_s"] = time.monotonic() - started
            mark = time.monotonic()
            self.provider = select_provider("auto", DEFAULT_IMAGE)
            cluster = ContainerCluster() if self.provider[0] == "testcontainers" else LocalCluster()
            self.cluster = cluster.start()
            database_url = self._seed_database(self.cluster)
            self.timings["database_s"] = time.monotonic() - mark
            mark = time.monotonic()
            self.s3 = LocalS3(free_port(), self.workdir / "logs" / "moto.log").start()
            assert self.s3.process is not None
            self._record("s3", self.s3.process.pid, "the demo's local S3, moto_server")
            write_backup_history(self.cluster, "app", self.s3)
            self.timings["backups_s"] = time.monotonic() - mark
            if LocalPushgateway.installed():
                self.pushgateway = LocalPushgateway(
                    free_port(), self.workdir / "logs" / "pushgateway.log"
                ).start()
                assert self.pushgateway.process is not None
                self._record("pushgateway", self.pushgateway.process.pid, "the demo's Prometheus Pushgateway")
            mark = time.monotonic()
            nextauth_secret = secrets.token_urlsafe(32)
            self.smoke_password = secrets.token_urlsafe(18)
            port = free_port()
            env = {
                **({"DATABASE_URL": database_url} if spec.uses_database else {}),
                spec.secret_variable: nextauth_secret,
                spec.url_variable: f"http://127.0.0.1:{port}",
                "APP_VERSION": APP_VERSION,
                "SMOKE_USER": "smoke@example.com",
                "SMOKE_PASSWORD": self.smoke_password,
                "OPSCHECK_APP_FAULT": self.fault,
            }
            self.base_url = self.app.start(
                env, port, on_started=lambda pid: self._record("app", pid, "the demo's app")
            )
            self.timings["app_s"] = time.monotonic() - mark
            self._write_app_env(env)
            self._write_state()
            self.config_path = self._write_config(database_url)
        except BaseException:
            self.stop()
            raise
        return self

    def _seed_database(self, cluster: ThrowawayPostgres) -> str:
        password = secrets.token_urlsafe(18)
        cluster.psql("-c", f"CREATE ROLE app LOGIN PASSWORD '{password}'")
        cluster.create_database("app")  # owned by the superuser: the app's role can read, never create
        db = self.root / "examples" / "nextjs-app" / "db"
        cluster.run_sql_file(db / "schema.sql", dbname="app")
        cluster.run_sql_file(db / "seed.sql", dbname="app")
        cluster.psql("-c", "GRANT SELECT ON ALL TABLES IN SCHEMA public TO app", dbname="app")
        return cluster.dsn("app", user="app", password=password)

    def _write_app_env(self, env: dict[str, str]) -> None:
        """The app's environment as a dotenv file, the way `vercel env pull` writes it, for the
        credentials suite."""
        lines = ["# Written by `opscheck demo`: the reference app's environment (throwaway values)."]
        lines += [f'{name}="{value}"' for name, value in env.items() if value]
        path = self.workdir / "app.env"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        path.chmod(0o600)

    def _write_config(self, database_url: str) -> Path:
        spec = APPS[self.app_name]
        demo: dict[str, Any] = {
            "base_url": self.base_url,
            "runbook": str(self.root / "examples" / "RUNBOOK.md"),
        }
        if spec.has_health_endpoint:
            demo["expected_version"] = APP_VERSION
        demo["timeout_s"] = 5
        demo["smoke"] = {**spec.smoke_keys, "max_latency_ms": 2000, "version_wait_s": 10}
        demo["database"] = {"url": database_url}
        demo["backups"] = {
            "location": f"s3://{BUCKET}/{PREFIX}",
            "s3_endpoint_url": self.s3.url if self.s3 else "",
            "region": "us-east-1",
            "rpo_hours": 24,
            "rto_minutes": 120,
            "retention_days": 30,
        }
        demo["restore"] = {
            "provider": "auto",
            "image": DEFAULT_IMAGE,
            "expect_tables": ["User", "Account", "Session", "_prisma_migrations"],
            "min_rows": {"User": 1000, "Account": 1000},
            "roles": ["app"],
        }
        demo["auth"] = {"username": "smoke@example.com", "password": self.smoke_password, **spec.auth_keys}
        demo["credentials"] = {"env_file": "app.env", "required": spec.required_variables}
        if self.pushgateway is not None:
            demo["metrics"] = {"pushgateway_url": self.pushgateway.url}
        text = "# Written by `opscheck demo`: the embedded default stack. Throwaway values, regenerated each run.\n"
        text += tomli_w.dumps({"environments": {"demo": demo}})

        path = self.workdir / "opscheck.toml"
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        return path

    def _write_state(self) -> None:
        """Record what runs, so ``--stop`` can stop a kept stack or one whose demo process died."""
        assert self.app is not None
        assert self.app.process is not None
        assert self.cluster is not None
        state = {
            "app": self._process_state("app"),
            "cluster": self.cluster.state(),
            "s3": self._process_state("s3"),
            "pushgateway": self._process_state("pushgateway"),
            "base_url": self.base_url,
        }
        self.state_file.write_text(json.dumps(state))

    def _record(self, name: str, pid: int, what: str) -> None:
        """Record a process of the stack, so a later run reaps it if this demo dies (SIGKILL) with it."""
        self.records[name] = registry.record_process(pid, what, run_owner())

    def _process_state(self, name: str) -> dict[str, str] | None:
        record = self.records.get(name)
        return None if record is None else {**record.state, "record": record.id}

    @property
    def check_env(self) -> dict[str, str]:
        """Environment the checks need beyond the config file (the local S3's credentials)."""
        return self.s3.credentials_env if self.s3 else {}

    def write_check_env(self, path: Path) -> Path:
        """:attr:`check_env` as a file to source before running the suites against a kept stack.

        Everything else the demo's run needs (the smoke user, the database URL) is in its opscheck.toml.
        The values are moto_server's dummy credentials, and the file says so: nothing in it opens
        anything but the demo's own local S3.
        """
        endpoint = self.s3.url if self.s3 else "(no local S3)"
        lines = [
            "# Written by `opscheck demo --keep`: what the suites need besides opscheck.toml to run against",
            f"# the kept demo stack. DUMMY credentials of the demo's local S3 (moto_server at {endpoint}):",
            "# not AWS credentials, valid nowhere else, regenerated by every demo run.",
            *(f"{name}={shlex.quote(value)}" for name, value in self.check_env.items()),
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        path.chmod(0o600)
        return path

    def stop(self) -> None:
        app, self.app = self.app, None
        cluster, self.cluster = self.cluster, None
        s3, self.s3 = self.s3, None
        pushgateway, self.pushgateway = self.pushgateway, None
        records, self.records = self.records, {}
        try:
            if app is not None:
                app.stop()
            if s3 is not None:
                s3.stop()
            if pushgateway is not None:
                pushgateway.stop()
            for record in records.values():
                registry.forget(record.id)
        finally:
            if cluster is not None:
                cluster.stop()
            self.state_file.unlink(missing_ok=True)

    def detach(self) -> None:
        """Leave the stack running (``--keep``); ``opscheck demo --stop`` stops it."""
        assert self.app is not None
        assert self.cluster is not None
        self.cluster.detach()
        if self.s3 is not None:
            self.s3.process = None
            self.s3 = None
        if self.pushgateway is not None:
            self.pushgateway.process = None
            self.pushgateway = None
        self.app.process = None
        self.app = None
        self.cluster = None
        for record in self.records.values():  # kept: no run reaps them, `--stop` or `cleanup` do
            record.owner = None
            registry.write(record)
        self.records = {}

    @classmethod
    def stop_kept(cls, workdir: Path, *, app_only: bool = False) -> bool:
        """Stop a stack a previous ``--keep`` left running; False when there is none."""
        state_file = workdir / "stack.json"
        if not state_file.is_file():
            return False
        state = json.loads(state_file.read_text())
        if state.get("app"):
            stop_recorded_process(state["app"])
            state["app"] = None
            state_file.write_text(json.dumps(state))
        if app_only:
            return True
        for name in ("s3", "pushgateway"):
            if state.get(name):
                stop_recorded_process(state[name])
        cluster = state["cluster"]
        if cluster.get("provider") == "testcontainers":
            container.stop_detached(cluster)
        else:
            local.stop_detached(cluster)
        state_file.unlink()
        return True


def pytest_command(config: Path, suites: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    """The pytest command that runs ``suites`` against the demo environment (from the project root)."""
    paths = [f"suites/{name}" for name in suites]
    return ["pytest", *paths, "--env", "demo", "--opscheck-config", str(config), *extra]


def pytest_executable(root: Path) -> list[str]:
    """How to run the pytest this demo runs, as a user types it from ``root``: the ``pytest`` script next
    to this interpreter (``.venv/bin/pytest`` in a checkout), else ``python -m pytest``."""
    interpreter = Path(sys.executable)
    script = interpreter.with_name("pytest")
    if not script.is_file():
        return [str(interpreter), "-m", "pytest"]
    try:
        return [str(script.relative_to(root))]
    except ValueError:
        return [str(script)]
