"""Run a shipped suite (``suites/<name>``) the way CI does and read back its summary JSON.

``write_opscheck_toml`` writes an ``opscheck.toml`` with one environment (``x``) whose tables are given as
plain dicts (nested dicts become inline tables, e.g. ``min_rows = { User = 1 }``); ``run_suite`` runs a
suite in a subprocess with that config, bounded by a timeout, and returns a :class:`SuiteRun` whose checks
are looked up by test name::

    cfg = write_opscheck_toml(tmp_path, backups={"location": "file:///srv/b"}, restore={"provider": "local"})
    run = run_suite(pytester, RESTORE_SUITE, cfg, tmp_path / "reports")
    assert run.check("test_restore_drill_succeeds_within_rto")["outcome"] == "passed"
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "CALLER_VARIABLES",
    "ENV",
    "REPO",
    "RESTORE_SUITE",
    "RUNBOOK",
    "SuiteRun",
    "isolate_from_caller",
    "run_suite",
    "toml_value",
    "write_opscheck_toml",
]

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = REPO / "examples" / "RUNBOOK.md"
RESTORE_SUITE = REPO / "suites" / "restore"
ENV = "x"

#: a subprocess run of a suite must end within this; a hung run fails the test instead of hanging it
RUN_TIMEOUT_S = 120.0

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def toml_value(value: Any) -> str:
    """``value`` as TOML: bool, int, float, str/Path, list, and dict (as an inline table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_opscheck_toml(
    directory: Path,
    *,
    base_url: str = "http://127.0.0.1:9",
    name: str = "opscheck.toml",
    top: Mapping[str, Any] | None = None,
    **tables: Mapping[str, Any] | None,
) -> Path:
    """Write environment ``x`` (the example runbook, ``base_url``, ``top`` keys) plus one
    ``[environments.x.<table>]`` per keyword argument that is not None; return the file's path."""
    head: dict[str, Any] = {"base_url": base_url, "runbook": RUNBOOK, **(top or {})}
    lines = [f"[environments.{ENV}]", *(f"{_key(k)} = {toml_value(v)}" for k, v in head.items()), ""]
    for table, body in tables.items():
        if body is None:
            continue
        lines.append(f"[environments.{ENV}.{table}]")
        lines += [f"{_key(k)} = {toml_value(v)}" for k, v in body.items()]
        lines.append("")
    path = directory / name
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@dataclass
class SuiteRun:
    """One run of a suite: pytest's result, the summary JSON, wall time; checks keyed by test name."""

    result: pytest.RunResult
    summary: dict[str, Any]
    wall_s: float
    reports: Path
    checks: dict[str, dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.checks = {c["nodeid"].split("::", 1)[1]: c for c in self.summary["checks"]}

    @property
    def ret(self) -> int:
        return int(self.result.ret)

    def check(self, name: str) -> dict[str, Any]:
        """A check by test name (``test_x`` or ``test_x[param]``); fails listing the known ones."""
        if name not in self.checks:
            raise AssertionError(
                f"no check {name!r} in the summary; have {sorted(self.checks)}\n{self.output}"
            )
        return self.checks[name]

    def outcomes(self) -> dict[str, str]:
        return {name: check["outcome"] for name, check in self.checks.items()}

    def others(self, *names: str) -> dict[str, str]:
        """Outcomes of every check except ``names``."""
        return {n: o for n, o in self.outcomes().items() if n not in names}

    @property
    def output(self) -> str:
        return "\n".join(self.result.outlines[-80:] + self.result.errlines[-30:])

    def all_text(self) -> str:
        """Terminal output plus every report file, for leak scans."""
        files = [p for p in self.reports.rglob("*") if p.is_file()]
        texts = [p.read_bytes().decode("utf-8", errors="replace") for p in files]
        return "\n".join([*self.result.outlines, *self.result.errlines, *texts])


def run_suite(
    pytester: pytest.Pytester,
    suite: Path,
    config: Path,
    reports: Path,
    *args: str,
    timeout_s: float = RUN_TIMEOUT_S,
) -> SuiteRun:
    """Run ``suite`` in a subprocess as environment ``x`` of ``config``; reports go to ``reports``.

    The subprocess inherits this process's environment (set variables with ``monkeypatch.setenv``).
    """
    argv = [
        str(suite),
        "--env",
        ENV,
        "--opscheck-config",
        str(config),
        "--opscheck-reports",
        str(reports),
        "-p",
        "no:cacheprovider",
        *args,
    ]
    started = time.perf_counter()
    result = pytester.runpytest_subprocess(*argv, timeout=timeout_s)
    wall = time.perf_counter() - started
    summary_path = reports / "opscheck-summary.json"
    if not summary_path.is_file():
        tail = "\n".join(result.outlines[-40:] + result.errlines[-40:])
        raise AssertionError(f"no summary JSON at {summary_path} (exit {result.ret}):\n{tail}")
    return SuiteRun(result, json.loads(summary_path.read_text(encoding="utf-8")), wall, reports)


#: variables that would configure a suite run from the caller's environment instead of its files
CALLER_VARIABLES = (
    "OPSCHECK_ENV",
    "OPSCHECK_CONFIG",
    "OPSCHECK_GATE",
    "OPSCHECK_REPORTS",
    "OPSCHECK_BASE_URL",
    "GITHUB_STEP_SUMMARY",
    "PYTEST_XDIST_WORKER",
    "PYTEST_XDIST_WORKER_COUNT",
    "DATABASE_URL",
    "NEXTAUTH_SECRET",
    "NEXTAUTH_URL",
    "AUTH_SECRET",
    "AUTH_URL",
    "AUTH_TRUST_HOST",
    "VERCEL",
    "CF_PAGES",
    "VERCEL_AUTOMATION_BYPASS_SECRET",
    "SENTRY_DSN",
    "MAINTENANCE_MODE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
)


def isolate_from_caller(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make suite runs depend on their files only: no opscheck, app or AWS variables of the caller, no AWS
    config files, no instance-metadata lookups."""
    for name in CALLER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
