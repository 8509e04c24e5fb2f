"""One opscheck run: resolved options (each with where it came from), the environment, the runbook.

Every option is resolved as command-line option > environment variable > config/default, and the
report header says which one won, so nobody has to guess which environment a green run was against.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from opscheck.config import ConfigFile, Environment, find_config, load_config
from opscheck.config.values import as_base_url
from opscheck.errors import ConfigError, OpscheckError, UsageError
from opscheck.run.context import CheckRecord
from opscheck.run.markers import CheckSpec
from opscheck.run.preflight import preflight
from opscheck.run.results import RunSummary
from opscheck.runbook import Remedy, Runbook
from opscheck.secrets import Redactor, clip, mask_url, redactor, secret_env_values
from opscheck.severity import DEFAULT_SEVERITY, SEVERITIES, at_or_above

__all__ = ["SPEC", "STATE", "WORKER_CONFIG_KEY", "OpscheckSession", "Sourced", "resolve_session", "state"]

SPEC = pytest.StashKey[CheckSpec]()
#: the config file the xdist controller found, handed to each worker (``workerinput``)
WORKER_CONFIG_KEY = "opscheck_config"
_MESSAGE_LIMIT = 600


@dataclass(frozen=True)
class Sourced:
    """A resolved setting and where its value came from."""

    value: str | None
    source: str


def _sourced(config: pytest.Config, dest: str, env: str, default: str | None, flag: str) -> Sourced:
    option = config.getoption(dest)
    if option:
        return Sourced(str(option), f"option {flag}")
    if os.environ.get(env):
        return Sourced(os.environ[env], f"env {env}")
    return Sourced(default, "default")


@dataclass
class OpscheckSession:
    env: Sourced
    gate_source: Sourced
    reports: Sourced
    config_path: Path | None
    config_source: str
    config_file: ConfigFile | None = None
    environment: Environment | None = None
    runbook: Runbook | None = None
    runbook_problem: str | None = None
    allow_destructive: bool = False
    fail_on_flaky: bool = False
    backup: str = "latest"
    is_worker: bool = False
    allure_dir: Path | None = None
    interrupted: bool = False
    deselected_destructive: int = 0
    #: failed reports of checks below the gate: the only failures pytest counts that may be forgiven
    forgiven_failures: int = 0
    missing_sections: dict[str, list[str]] = field(default_factory=dict)
    #: every check the run collected (node id, scrubbed -> severity), for an interrupted run's summary
    collected_checks: dict[str, str] = field(default_factory=dict)
    undeclared: list[str] = field(default_factory=list)
    started_monotonic: float = field(default_factory=time.monotonic)
    summary: RunSummary = field(default_factory=lambda: RunSummary(None, "P3"))
    _remedies: dict[str, Remedy] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.environment is not None

    @property
    def env_name(self) -> str:
        return self.environment.name if self.environment else "?"

    @property
    def gate(self) -> str:
        return self.gate_source.value or "P3"

    @property
    def reports_dir(self) -> Path:
        return Path(self.reports.value or "reports").resolve()

    @property
    def redactor(self) -> Redactor:
        return redactor()

    def missing_env_message(self) -> str:
        if self.config_file is None and self.config_path is not None and self.config_path.is_file():
            try:
                self.config_file = load_config(self.config_path)
            except UsageError as exc:
                return f"opscheck checks were collected but no environment is selected; also: {exc}"
        if self.config_file is None:
            where = (
                f"no config file at {self.config_path}" if self.config_path else "no opscheck.toml was found"
            )
            return (
                f"opscheck checks were collected but no environment is selected, and {where}: "
                "give --env NAME and --opscheck-config PATH (or put opscheck.toml at the repository root)"
            )
        return (
            "opscheck checks were collected but no environment is selected: give --env NAME "
            f"(or OPSCHECK_ENV); {self.config_file.path} configures: {self.config_file.listing()}"
        )

    # -- remediation -------------------------------------------------------------------------------
    def remedy(self, slug: str) -> Remedy:
        if slug not in self._remedies:
            env = self.environment
            aliases = env.runbook_sections if env else {}
            self._remedies[slug] = Remedy.for_section(slug, self.runbook, aliases, self._link_base())
        return self._remedies[slug]

    def remedy_for(self, spec: CheckSpec, error: BaseException | None = None) -> Remedy:
        """The runbook section a failure of ``spec``'s check calls for (the generic process if none), or the
        error's own advice when the problem is the run's configuration."""
        if isinstance(error, OpscheckError) and error.advice:
            return Remedy.run_configuration(error.advice)
        remedy = self.remedy(spec.section or "incident-response-process")
        if isinstance(error, OpscheckError) and error.lead:
            return remedy.led_by(error.lead)
        return remedy

    def _link_base(self) -> str | None:
        env = self.environment
        if env is None:
            return None
        if env.runbook_url:
            return env.runbook_url
        return self.runbook.path.resolve().as_uri() if self.runbook and self.runbook.path else None

    # -- results -------------------------------------------------------------------------------------
    def result_data(
        self,
        report: pytest.TestReport,
        spec: CheckSpec,
        record: CheckRecord,
        error: BaseException | None,
        *,
        flaky_failed: bool = False,
    ) -> dict[str, Any]:
        """The JSON-able result of one phase of a check, attached to its report."""
        data: dict[str, Any] = {"severity": spec.severity, "section_slug": spec.section}
        if isinstance(error, OpscheckError) and error.severity is not None:
            data["severity"] = error.severity
        if report.when == "call":
            data.update(metrics=dict(record.metrics), notes=list(record.notes), retries=list(record.retries))
        if flaky_failed:
            data["flaky_failed"] = True
            data["message"] = (
                f"passed only after {len(record.retries)} retry(ies), and --fail-on-flaky is set: "
                + "; ".join(record.retries)
            )
        elif report.skipped:
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            data["message"] = reason.removeprefix("Skipped: ")
        elif report.failed:
            data["kind"] = (
                getattr(error, "outcome", "failed") if isinstance(error, OpscheckError) else "failed"
            )
            data["message"] = _message(error, report)
        return self.redactor.scrub_obj(data)  # type: ignore[no-any-return]

    def count_failure(self, data: dict[str, Any]) -> None:
        """Count a failed report of a check (its result ``data``) that the gate may forgive."""
        if not at_or_above(str(data.get("severity", DEFAULT_SEVERITY)), self.gate):
            self.forgiven_failures += 1

    # -- report header -----------------------------------------------------------------------------
    def header_lines(self) -> list[str]:
        env = self.environment
        assert env is not None
        lines = [
            f"opscheck: environment {env.name} ({self.env.source}), target {mask_url(env.base_url)} "
            f"({'base_url' if env.base_url_source == 'config' else env.base_url_source})"
            + (" [production: checks marked destructive are refused]" if env.production else ""),
            f"opscheck: config {self.config_path} ({self.config_source})",
            f"opscheck: gate {self.gate} ({self.gate_source.source}), reports {self.reports_dir} "
            f"({self.reports.source})",
        ]
        with contextlib.suppress(OpscheckError):  # an unset ${VAR} errors the checks that send them
            if env.headers:
                names = ", ".join(sorted(env.headers))
                lines.append(f"opscheck: extra request headers: {names} (values are secret)")
        if self.runbook is not None:
            lines.append(f"opscheck: runbook {self.runbook.path} ({len(self.runbook.sections)} sections)")
        else:
            lines.append(f"opscheck: runbook: {self.runbook_problem}; failures get built-in advice")
        return lines

    def collection_lines(self) -> list[str]:
        lines = []
        for slug, nodeids in sorted(self.missing_sections.items()):
            lines.append(
                f"opscheck: runbook lacks section {slug!r} (built-in advice used; map it with "
                f"runbook_sections): {len(nodeids)} check(s), e.g. {nodeids[0]}"
            )
        if self.undeclared:
            lines.append(
                f"opscheck: {len(self.undeclared)} check(s) declare no runbook marker and count as P0, "
                f"e.g. {self.undeclared[0]}"
            )
        if self.deselected_destructive:
            lines.append(
                f"opscheck: {self.deselected_destructive} destructive check(s) deselected "
                "(--allow-destructive runs them outside production)"
            )
        return lines


def _message(error: BaseException | None, report: pytest.TestReport) -> str:
    if error is None:
        text = report.longreprtext.strip().splitlines()[-1] if report.longreprtext.strip() else "failed"
    elif isinstance(error, OpscheckError):
        text = str(error)
    else:
        first = str(error).strip() or type(error).__name__
        text = first if isinstance(error, AssertionError) else f"{type(error).__name__}: {first}"
    return clip(text, _MESSAGE_LIMIT)


STATE = pytest.StashKey[OpscheckSession]()


def state(config: pytest.Config) -> OpscheckSession | None:
    """The run's opscheck session, once the plugin has configured it."""
    return config.stash.get(STATE, None)


def resolve_session(config: pytest.Config) -> OpscheckSession:
    """Resolve options, load and validate the config, select the environment; UsageError on problems."""
    gate = _sourced(config, "opscheck_gate", "OPSCHECK_GATE", "P3", "--gate")
    if gate.value is not None and gate.value.upper() not in SEVERITIES:
        raise UsageError(f"--gate must be one of {', '.join(SEVERITIES)}, got {gate.value!r} ({gate.source})")
    gate = Sourced(gate.value.upper() if gate.value else "P3", gate.source)
    # an xdist worker reads the file its controller found (its own rootdir may differ, see plugin.py)
    workerinput: dict[str, Any] = getattr(config, "workerinput", None) or {}
    config_path, config_source = find_config(
        config.getoption("opscheck_config") or workerinput.get(WORKER_CONFIG_KEY),
        os.environ.get("OPSCHECK_CONFIG"),
        config.rootpath,
    )
    ops = OpscheckSession(
        env=_sourced(config, "opscheck_env", "OPSCHECK_ENV", None, "--env"),
        gate_source=gate,
        reports=_sourced(config, "opscheck_reports", "OPSCHECK_REPORTS", "reports", "--opscheck-reports"),
        config_path=config_path,
        config_source=config_source,
        allow_destructive=bool(config.getoption("opscheck_allow_destructive")),
        fail_on_flaky=bool(config.getoption("opscheck_fail_on_flaky")),
        backup=str(config.getoption("opscheck_backup") or "latest"),
        is_worker=hasattr(config, "workerinput"),
    )
    if config_path is not None and (ops.env.value or config_source != "default <rootdir>/opscheck.toml"):
        ops.config_file = load_config(config_path)
    if not ops.env.value:
        return ops
    if ops.config_file is None:
        raise UsageError(
            f"--env {ops.env.value} needs a config file: none at {config.rootpath / 'opscheck.toml'}; "
            "give --opscheck-config PATH or OPSCHECK_CONFIG"
        )
    env = _aimed(ops.config_file.environment(ops.env.value), config)
    try:
        preflight(env)
    except ConfigError as exc:
        raise ConfigError(f"{ops.config_file.path}: {exc}") from None
    ops.environment = env
    if ops.allow_destructive and env.production:
        raise UsageError(
            f"--allow-destructive is refused: environment {env.name!r} has production = true, "
            "and opscheck never writes to production"
        )
    ops.summary = RunSummary(env.name, ops.gate)
    _load_runbook(ops, env)
    r = redactor()
    r.add_all(secret_env_values())
    r.add_all(env.credential_values())
    return ops


def _aimed(env: Environment, config: pytest.Config) -> Environment:
    """``env`` aimed at ``--base-url`` / ``OPSCHECK_BASE_URL`` when one is given (a preview deployment)."""
    chosen = _sourced(config, "opscheck_base_url", "OPSCHECK_BASE_URL", None, "--base-url")
    if not chosen.value:
        return env
    return env.with_base_url(as_base_url(chosen.value.strip(), chosen.source, Path.cwd()), chosen.source)


def _load_runbook(ops: OpscheckSession, env: Environment) -> None:
    try:
        path = env.runbook
    except OpscheckError as exc:
        ops.runbook_problem = f"runbook path unavailable ({exc})"
        return
    if path is None:
        ops.runbook_problem = "no runbook configured"
        return
    try:
        ops.runbook = Runbook.load(path)
    except OSError as exc:
        raise ConfigError(f"{env.key}.runbook: cannot read the runbook {path} ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{env.key}.runbook: the runbook {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
            f"at offset {exc.start})"
        ) from None
