"""``opscheck report``: the Allure 3 HTML report of one run (or of several merged), with trends.

How the pieces fit:

- The Allure 3 CLI comes from npm, pinned by ``tools/allure/package.json`` and its lock file, and is
  installed with ``npm ci`` into ``tools/allure/node_modules`` on first use (again only when the lock
  changes). Without Node.js and npm the command says so and stops.
- Allure keeps its own history (pass rate, durations, each test's past outcomes) in one JSONL file, its
  ``historyPath``: ``reports/allure-history.jsonl`` by default, ``--history`` or
  ``OPSCHECK_ALLURE_HISTORY`` elsewhere. CI caches that file between runs; a run already in it is not
  added a second time when the report is generated again.
- opscheck's own run history (``reports/history.jsonl``, one line per run, written by the plugin) gives
  the chart of restore time and backup age against RTO and RPO, and the table of recent runs.
- The chart, the runbook coverage and the run table become the report's global attachments; each run's
  environment, target, gate and verdict its metadata. They are written into a separate, throwaway results
  directory passed to Allure beside the run's own, which are never modified. Everything written there
  passes the redactor.
- Several results directories (a matrix of environments) merge into one report: each check carries an
  ``env`` label, which becomes an Allure 3 environment, so the same check in two environments is two
  results, not a retry.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opscheck import __version__
from opscheck.config import find_config, load_config
from opscheck.errors import OpscheckError
from opscheck.reporting.allure_results import ENV_LABEL
from opscheck.reporting.coverage import Coverage, CoverageError, collect
from opscheck.reporting.history import Run, read_runs
from opscheck.reporting.trends import ChartUnavailable, history_markdown, restore_chart
from opscheck.secrets import mask_url, redactor, secret_env_values

__all__ = ["TOOLS_DIR", "ReportError", "ReportRequest", "ReportResult", "generate", "install_cli"]

#: where the pinned Allure CLI's package.json and package-lock.json live
TOOLS_DIR = Path(__file__).resolve().parents[2] / "tools" / "allure"
_INSTALL_TIMEOUT_S = 600
_GENERATE_TIMEOUT_S = 600

Log = Callable[[str], None]


class ReportError(OpscheckError):
    """The report cannot be generated; the message says what is missing and how to get it."""


@dataclass
class ReportRequest:
    """What ``opscheck report`` was asked for, every path resolved."""

    reports: Path
    results: list[Path]
    output: Path
    history: Path
    history_limit: int = 100
    name: str | None = None
    single_file: bool = True
    environment: str | None = None
    config: str | None = None
    suites: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ReportRequest:
        reports = Path(args.reports or os.environ.get("OPSCHECK_REPORTS") or "reports")
        history = (
            args.history or os.environ.get("OPSCHECK_ALLURE_HISTORY") or reports / "allure-history.jsonl"
        )
        return cls(
            reports=reports.resolve(),
            results=[Path(p).resolve() for p in (args.results or [reports / "allure-results"])],
            output=Path(args.output or reports / "allure-report").resolve(),
            history=Path(history).resolve(),
            history_limit=args.history_limit,
            name=args.name,
            single_file=not args.multi_file,
            environment=args.env,
            config=args.opscheck_config,
            suites=list(args.suites or []),
        )


@dataclass
class ReportResult:
    index: Path
    history: Path
    history_appended: bool
    chart: Path | None = None
    coverage: list[Path] = field(default_factory=list)


# -- the Allure CLI ----------------------------------------------------------------------------------------
def _lock_digest(tools: Path) -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((tools / name).read_bytes())
    return digest.hexdigest()


def install_cli(log: Log, tools: Path = TOOLS_DIR) -> Path:
    """The Allure CLI executable, installed with ``npm ci`` from the committed lock file if needed."""
    if not (tools / "package-lock.json").is_file():
        raise ReportError(
            f"the Allure CLI's package.json and package-lock.json are not at {tools}: "
            "run opscheck report from an opscheck checkout"
        )
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(n for n, p in (("node", node), ("npm", npm)) if p is None)
        raise ReportError(
            f"{missing} not found: the HTML report is made by the Allure 3 CLI, which runs on Node.js. "
            "Install Node.js 20 or newer with npm (Debian/Ubuntu: apt-get install nodejs npm) and run "
            "opscheck report again; the results themselves are in reports/allure-results"
        )
    executable = tools / "node_modules" / ".bin" / "allure"
    marker = tools / "node_modules" / ".opscheck-lock-sha256"
    digest = _lock_digest(tools)
    # the lock file itself is the mutex: two reports at once (e.g. under xdist) install once
    with open(tools / "package-lock.json", "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if executable.exists() and marker.is_file() and marker.read_text().strip() == digest:
            return executable
        log(f"installing the Allure 3 CLI into {tools / 'node_modules'} (npm ci; once) ...")
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=tools,
                capture_output=True,
                text=True,
                timeout=_INSTALL_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ReportError(f"npm ci in {tools} did not finish within {_INSTALL_TIMEOUT_S} s") from None
        if done.returncode != 0 or not executable.exists():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise ReportError(f"npm ci in {tools} failed (exit {done.returncode}):\n{tail}")
        marker.write_text(digest + "\n")
    return executable


# -- inputs ------------------------------------------------------------------------------------------------
def _result_files(results: Sequence[Path]) -> list[Path]:
    files = []
    for directory in results:
        found = sorted(directory.glob("*-result.json")) if directory.is_dir() else []
        if not found:
            raise ReportError(
                f"no Allure results in {directory}: run the checks first "
                "(e.g. pytest suites/smoke --env NAME, or opscheck demo)"
            )
        files += found
    return files


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _env_labels(files: Sequence[Path]) -> list[str]:
    names: list[str] = []
    for path in files:
        data = _read_json(path)
        for label in data.get("labels", []) if isinstance(data, dict) else []:
            if label.get("name") == ENV_LABEL and label.get("value") not in names:
                names.append(str(label.get("value")))
    return names


def _starts(files: Sequence[Path]) -> set[int]:
    starts = set()
    for path in files:
        data = _read_json(path)
        if isinstance(data, dict) and isinstance(data.get("start"), int):
            starts.add(data["start"])
    return starts


def _already_in_history(history: Path, starts: set[int]) -> bool:
    """Whether Allure's newest history entry is this very run (the report is being generated again)."""
    try:
        lines = [line for line in history.read_text(encoding="utf-8").splitlines() if line.strip()]
        newest = json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError):
        return False
    results = newest.get("testResults") if isinstance(newest, dict) else None
    seen = (
        {r.get("start") for r in results.values() if isinstance(r, dict)}
        if isinstance(results, dict)
        else set()
    )
    return bool(starts) and starts <= seen


def _env_id(name: str) -> str:
    return (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "env")[:64]


# -- what opscheck adds to the report ----------------------------------------------------------------------
def _verdict(summary: dict[str, Any]) -> str:
    counts = summary.get("counts") or {}
    status = summary.get("exit_status")
    words = {0: "PASS", 1: "FAIL", 4: "USAGE ERROR", 5: "NO CHECKS"}
    word = words.get(status, "INTERRUPTED") if isinstance(status, int) else "INTERRUPTED"
    if summary.get("interrupted"):
        word = "INTERRUPTED"
    tally = ", ".join(f"{counts[k]} {k}" for k in ("failed", "error", "passed", "skipped") if counts.get(k))
    return f"{word}: {tally or 'no checks'} · gate {summary.get('gate')}"


def _config_for(environment: str, request: ReportRequest, runs: Sequence[Run]) -> Path | None:
    """The config a run against ``environment`` used: --opscheck-config, OPSCHECK_CONFIG, the one its
    newest history line names, or ./opscheck.toml."""
    if request.config or os.environ.get("OPSCHECK_CONFIG"):
        path, _ = find_config(request.config, os.environ.get("OPSCHECK_CONFIG"), Path.cwd())
        return path
    for run in reversed(runs):
        if run.environment == environment and run.config is not None and run.config.is_file():
            return run.config
    path, _ = find_config(None, None, Path.cwd())
    return path


def _target(config: Path | None, environment: str) -> str | None:
    if config is None:
        return None
    try:
        return mask_url(load_config(config).environment(environment).base_url)
    except OpscheckError:
        return None


def _properties(metadata: dict[str, str]) -> str:
    def escape(text: str, key: bool = False) -> str:
        text = text.replace("\\", "\\\\").replace("\n", " ")
        return re.sub(r"([=: ])", r"\\\1", text) if key else text

    return "".join(f"{escape(k, key=True)}={escape(v)}\n" for k, v in metadata.items())


def _config_js(request: ReportRequest, name: str, environments: Sequence[str], append: bool) -> str:
    config = {
        "name": name,
        "output": str(request.output),
        "historyPath": str(request.history),
        "historyLimit": request.history_limit,
        "appendHistory": append,
        "plugins": {
            "awesome": {
                "options": {
                    "reportName": name,
                    "singleFile": request.single_file,
                    "groupBy": ["epic", "feature", "story"],
                }
            }
        },
    }
    lines = [
        "// Written by `opscheck report` for one generation; not meant to be edited.",
        "const env = (value) => ({ labels }) =>",
        f"  labels.some((label) => label.name === {json.dumps(ENV_LABEL)} && label.value === value);",
        f"const config = {json.dumps(config, indent=2)};",
        "config.environments = {",
        *(
            f"  {json.dumps(_env_id(e))}: {{ name: {json.dumps(e)}, matcher: env({json.dumps(e)}) }},"
            for e in environments
        ),
        "};",
        "export default config;",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class _Extras:
    """The throwaway results directory with opscheck's global attachments and metadata."""

    directory: Path
    attachments: list[dict[str, str]] = field(default_factory=list)

    def add(self, name: str, source: Path, content_type: str) -> None:
        target = self.directory / f"opscheck-{len(self.attachments)}{source.suffix}"
        data = source.read_bytes()
        if content_type.startswith("text/"):
            data = redactor().scrub_bytes(data)
        target.write_bytes(data)
        self.attachments.append({"name": name, "source": target.name, "type": content_type})

    def finish(self, metadata: dict[str, str]) -> None:
        text = redactor().scrub(_properties(metadata))
        (self.directory / "environment.properties").write_text(text, encoding="utf-8")
        globals_json = {"attachments": self.attachments, "errors": []}
        (self.directory / "opscheck-globals.json").write_text(
            redactor().scrub(json.dumps(globals_json)), encoding="utf-8"
        )


def _coverage(
    environments: Sequence[str], request: ReportRequest, runs: Sequence[Run], log: Log
) -> tuple[list[Coverage], dict[str, Path | None]]:
    configs = {env: _config_for(env, request, runs) for env in environments}
    suites = request.suites or (["suites"] if Path("suites").is_dir() else [])
    coverages = []
    for env in environments:
        if not suites:
            log(f"runbook coverage ({env}): skipped, no suites/ here (give --suites PATH)")
            continue
        if configs[env] is None:
            log(f"runbook coverage ({env}): skipped, no config found (give --opscheck-config PATH)")
            continue
        try:
            coverages.append(collect(env, suites, str(configs[env])))
        except (CoverageError, OpscheckError) as exc:
            log(f"runbook coverage ({env}): skipped, {exc}")
    return coverages, configs


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="opscheck-report-") as directory:
        yield Path(directory)


def generate(request: ReportRequest, log: Log) -> ReportResult:
    """Generate the HTML report; returns where it is. Raises ReportError with the reason it cannot."""
    redactor().add_all(secret_env_values())
    files = _result_files(request.results)
    cli = install_cli(log)
    if (
        request.output.exists()
        and any(request.output.iterdir())
        and not (request.output / "index.html").exists()
    ):
        raise ReportError(f"refusing to replace {request.output}: it is not empty and not an Allure report")

    summaries = [s for s in (_read_json(r.parent / "opscheck-summary.json") for r in request.results) if s]
    environments = [request.environment] if request.environment else []
    for env in [str(s.get("environment")) for s in summaries if s.get("environment")] + _env_labels(files):
        if env not in environments:
            environments.append(env)
    history_files = list(
        dict.fromkeys(
            [request.reports / "history.jsonl", *(r.parent / "history.jsonl" for r in request.results)]
        )
    )
    runs = read_runs(history_files)
    name = request.name or f"opscheck · {', '.join(environments) or 'checks'}"
    append = not _already_in_history(request.history, _starts(files))
    result = ReportResult(request.output / "index.html", request.history, append)

    with _scratch() as scratch:
        extras_dir = scratch / "opscheck-extras"
        extras_dir.mkdir()
        extras = _Extras(extras_dir)
        try:
            result.chart = restore_chart(runs, request.reports / "restore-trends.png")
            extras.add(
                "Restore drill trend: restore time vs RTO, backup age vs RPO", result.chart, "image/png"
            )
        except ChartUnavailable as exc:
            log(f"restore trend chart: skipped, {exc}")
        coverages, configs = _coverage(environments, request, runs, log)
        for coverage in coverages:
            path = request.reports / f"runbook-coverage-{_env_id(coverage.environment)}.md"
            path.write_text(redactor().scrub(coverage.markdown()), encoding="utf-8")
            result.coverage.append(path)
            extras.add(f"Runbook coverage · {coverage.environment}", path, "text/markdown")
        if runs:
            table = scratch / "run-history.md"
            table.write_text(history_markdown(runs), encoding="utf-8")
            extras.add("Run history (reports/history.jsonl)", table, "text/markdown")
        metadata: dict[str, str] = {}
        for summary in summaries:
            env = str(summary.get("environment") or "?")
            prefix = "" if len(summaries) == 1 else f"{env} · "
            metadata[f"{prefix}environment"] = env
            target = _target(configs.get(env) or _config_for(env, request, runs), env)
            if target:
                metadata[f"{prefix}target"] = target
            metadata[f"{prefix}verdict"] = _verdict(summary)
            metadata[f"{prefix}started"] = str(summary.get("started_at"))
        for coverage in coverages:
            prefix = "" if len(coverages) == 1 else f"{coverage.environment} · "
            metadata[f"{prefix}runbook"] = str(coverage.runbook or coverage.problem)
            metadata[f"{prefix}runbook coverage"] = (
                f"{len(coverage.verified)} of {len(coverage.rows)} sections verified"
            )
        metadata["opscheck"] = __version__
        extras.finish(metadata)

        rc = scratch / "allurerc.mjs"
        rc.write_text(_config_js(request, name, environments, append), encoding="utf-8")
        if request.output.exists():
            shutil.rmtree(request.output)
        request.output.parent.mkdir(parents=True, exist_ok=True)
        request.history.parent.mkdir(parents=True, exist_ok=True)
        command = [str(cli), "generate", "--config", str(rc), *map(str, request.results), str(extras_dir)]
        log(f"generating from {', '.join(map(str, request.results))} ({len(files)} results) ...")
        try:
            done = subprocess.run(
                command,
                cwd=scratch,
                capture_output=True,
                text=True,
                timeout=_GENERATE_TIMEOUT_S,
                check=False,
                env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
            )
        except subprocess.TimeoutExpired:
            raise ReportError(f"allure generate did not finish within {_GENERATE_TIMEOUT_S} s") from None
    if done.returncode != 0 or not result.index.is_file():
        tail = "\n".join((done.stderr + done.stdout).strip().splitlines()[-15:])
        raise ReportError(f"allure generate failed (exit {done.returncode}):\n{redactor().scrub(tail)}")
    log(
        f"history: {request.history} ("
        + ("this run added" if append else "this run was already in it")
        + "); trends need a second run, so keep this file between runs (CI: cache it)"
    )
    if result.chart:
        log(f"restore trend chart: {result.chart}")
    for path in result.coverage:
        log(f"runbook coverage: {path}")
    return result
