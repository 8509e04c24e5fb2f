"""Run a shipped suite (``suites/<name>``) the way CI does and read back its summary JSON: the one suite
runner of opscheck's tests, its one result type, and the one TOML writer.

``write_opscheck_toml`` writes an ``opscheck.toml`` with one environment (``x`` unless named) whose tables
are given as plain dicts; ``write_environments`` writes several environments; both go through ``write_toml``
(tomli-w). ``run_suite`` runs a suite (in a subprocess by default, bounded by a timeout) and returns a
:class:`SuiteRun` whose checks are looked up by test name::

    cfg = write_opscheck_toml(tmp_path, backups={"location": "file:///srv/b"}, restore={"provider": "local"})
    run = run_suite(pytester, RESTORE_SUITE, cfg, tmp_path / "reports")
    assert run.check("test_restore_drill_succeeds_within_rto")["outcome"] == "passed"
    assert run.check("test_restore_drill_succeeds_within_rto").outcome == "passed"  # the same
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomli_w

__all__ = [
    "AUTH_SUITE",
    "CREDENTIALS_SUITE",
    "ENV",
    "REPO",
    "RESTORE_SUITE",
    "RUNBOOK",
    "SMOKE_SUITE",
    "Check",
    "SuiteRun",
    "run_suite",
    "write_environments",
    "write_opscheck_toml",
    "write_toml",
]

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = REPO / "examples" / "RUNBOOK.md"
SMOKE_SUITE = REPO / "suites" / "smoke"
AUTH_SUITE = REPO / "suites" / "auth"
CREDENTIALS_SUITE = REPO / "suites" / "credentials"
RESTORE_SUITE = REPO / "suites" / "restore"
ENV = "x"

#: a subprocess run of a suite must end within this; a hung run fails the test instead of hanging it
RUN_TIMEOUT_S = 120.0


def _plain(value: Any) -> Any:
    """``value`` with paths as strings and mappings/sequences as dicts/lists, the types tomli-w writes."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def write_toml(path: Path, document: Mapping[str, Any]) -> Path:
    """Write ``document`` (nested dicts; paths allowed) as TOML to ``path`` and return it."""
    path.write_text(tomli_w.dumps(_plain(document)), encoding="utf-8")
    return path


def write_environments(
    directory: Path, environments: Mapping[str, Mapping[str, Any]], name: str = "opscheck.toml"
) -> Path:
    """Write ``[environments.NAME]`` for each item (sub-tables as nested dicts); return the file's path."""
    return write_toml(directory / name, {"environments": environments})


def write_opscheck_toml(
    directory: Path,
    *,
    env: str = ENV,
    base_url: str = "http://127.0.0.1:9",
    name: str = "opscheck.toml",
    top: Mapping[str, Any] | None = None,
    **tables: Mapping[str, Any] | None,
) -> Path:
    """Write environment ``env`` (the example runbook, ``base_url``, ``top`` keys) plus one
    ``[environments.<env>.<table>]`` per keyword argument that is not None; return the file's path."""
    environment: dict[str, Any] = {"base_url": base_url, "runbook": RUNBOOK, **(top or {})}
    environment.update({table: body for table, body in tables.items() if body is not None})
    return write_environments(directory, {env: environment}, name)


class Check(dict[str, Any]):
    """One check of the summary JSON: a dict, whose fields can also be read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class SuiteRun:
    """One run of a suite: pytest's result, the summary JSON, wall time; checks keyed by test name."""

    result: pytest.RunResult
    summary: dict[str, Any]
    wall_s: float
    reports: Path
    checks: dict[str, Check] = field(init=False)

    def __post_init__(self) -> None:
        self.checks = {c["nodeid"].split("::", 1)[1]: Check(c) for c in self.summary["checks"]}

    @property
    def ret(self) -> int:
        return int(self.result.ret)

    def check(self, name: str) -> Check:
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
    env: str = ENV,
    timeout_s: float = RUN_TIMEOUT_S,
    in_process: bool = False,
) -> SuiteRun:
    """Run ``suite`` as environment ``env`` of ``config`` (in a subprocess unless ``in_process``);
    reports go to ``reports``.

    The subprocess inherits this process's environment (set variables with ``monkeypatch.setenv``).
    """
    argv = [
        str(suite),
        "--env",
        env,
        "--opscheck-config",
        str(config),
        "--opscheck-reports",
        str(reports),
        "-p",
        "no:cacheprovider",
        *args,
    ]
    started = time.perf_counter()
    if in_process:
        result = pytester.runpytest_inprocess(*argv)
    else:
        result = pytester.runpytest_subprocess(*argv, timeout=timeout_s)
    wall = time.perf_counter() - started
    summary_path = reports / "opscheck-summary.json"
    if not summary_path.is_file():
        tail = "\n".join(result.outlines[-40:] + result.errlines[-40:])
        raise AssertionError(f"no summary JSON at {summary_path} (exit {result.ret}):\n{tail}")
    return SuiteRun(result, json.loads(summary_path.read_text(encoding="utf-8")), wall, reports)
