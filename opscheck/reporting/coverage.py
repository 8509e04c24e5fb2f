"""Runbook coverage: every section of an environment's runbook with the checks bound to it.

A team reads it to see which procedures are proven by a check and which are still unproven. The checks
are found the way the plugin finds them: the suites are collected (``pytest --collect-only``, in-process,
with the plugin active for the environment) and each check's ``runbook`` marker is read with
:func:`opscheck.run.markers.check_spec`; a marker's slug is bound to a section with the runbook's own lookup
(``runbook_sections`` aliases included), exactly as a failure's remediation would be.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from opscheck.config import find_config, load_config
from opscheck.errors import OpscheckError, UsageError
from opscheck.run.markers import is_destructive
from opscheck.run.session import SPEC, state
from opscheck.runbook import Runbook, Section

__all__ = ["BoundCheck", "Coverage", "CoverageError", "SectionRow", "build", "collect", "default_environment"]


class CoverageError(OpscheckError):
    """The suites could not be collected for a coverage table; the message says why."""


@dataclass(frozen=True)
class BoundCheck:
    """A collected check and the runbook section (marker slug) it verifies."""

    nodeid: str
    severity: str
    slug: str | None
    destructive: bool = False

    @property
    def function(self) -> str:
        """``suite/test_module.py::test_name`` without the parameters: one line per check function."""
        return self.nodeid.split("[", 1)[0].removeprefix("suites/")


@dataclass
class SectionRow:
    section: Section
    depth: int
    checks: list[BoundCheck] = field(default_factory=list)
    via_subsections: bool = False

    @property
    def status(self) -> str:
        if self.checks:
            return "verified"
        return "via subsections" if self.via_subsections else "not verified"


def _grouped(checks: Iterable[BoundCheck]) -> list[tuple[str, str, int, bool]]:
    """(function, severities, parameter count, destructive) per check function, in collection order."""
    groups: dict[str, list[BoundCheck]] = {}
    for check in checks:
        groups.setdefault(check.function, []).append(check)
    rows = []
    for function, members in groups.items():
        severities = "/".join(sorted({m.severity for m in members}))
        rows.append((function, severities, len(members), any(m.destructive for m in members)))
    return rows


def _label(function: str, count: int, destructive: bool) -> str:
    return function + (f" (×{count})" if count > 1 else "") + (" [destructive]" if destructive else "")


@dataclass
class Coverage:
    """An environment's runbook, section by section, with the checks that verify each."""

    environment: str
    runbook: Path | None
    rows: list[SectionRow]
    missing: dict[str, list[BoundCheck]] = field(default_factory=dict)
    undeclared: list[BoundCheck] = field(default_factory=list)
    problem: str | None = None

    @property
    def checks(self) -> int:
        return (
            sum(len(r.checks) for r in self.rows)
            + sum(map(len, self.missing.values()))
            + len(self.undeclared)
        )

    @property
    def verified(self) -> list[SectionRow]:
        return [row for row in self.rows if row.checks]

    @property
    def unverified(self) -> list[SectionRow]:
        return [row for row in self.rows if row.status == "not verified"]

    def headline(self) -> str:
        where = _shown(self.runbook) if self.runbook else f"no runbook ({self.problem})"
        if not self.rows:
            return f"environment {self.environment}: {where}; {self.checks} check(s), no sections to bind them to"
        return (
            f"environment {self.environment}: runbook {where}: {len(self.verified)} of {len(self.rows)} "
            f"section(s) verified by {self.checks} check(s); {len(self.unverified)} section(s) no check verifies"
        )

    def terminal_lines(self) -> list[str]:
        lines = [self.headline(), ""]
        width = max((2 * row.depth + len(row.section.title) for row in self.rows), default=20)
        width = min(max(width, 20), 60)
        for row in self.rows:
            title = ("  " * row.depth + row.section.title)[:width].ljust(width)
            if not row.checks:
                mark = "↳ via subsections" if row.via_subsections else "✗ NOT VERIFIED"
                lines.append(f"{title}  {mark}")
                continue
            for n, (function, severity, count, destructive) in enumerate(_grouped(row.checks)):
                lines.append(
                    f"{title if n == 0 else ' ' * width}  {severity:<5} {_label(function, count, destructive)}"
                )
        lines += self._extra_lines()
        return lines

    def _extra_lines(self) -> list[str]:
        lines: list[str] = []
        for slug, checks in sorted(self.missing.items()):
            lines.append("")
            lines.append(f"not in the runbook: section {slug!r} (failures get built-in advice):")
            lines += [f"  {sev:<5} {_label(f, c, d)}" for f, sev, c, d in _grouped(checks)]
        if self.undeclared:
            lines.append("")
            lines.append("checks that declare no runbook section (they count as P0):")
            lines += [f"  {sev:<5} {_label(f, c, d)}" for f, sev, c, d in _grouped(self.undeclared)]
        return lines

    def markdown(self, heading: str = "###") -> str:
        """The table as markdown (GitHub, Allure's markdown attachments)."""
        out = [
            f"{heading} Runbook coverage · {self.environment}",
            "",
            self.headline()[:1].upper() + self.headline()[1:] + ".",
            "",
        ]
        if self.rows:
            out += ["| runbook section | status | check | severity |", "|---|---|---|---|"]
        for row in self.rows:
            title = "&nbsp;&nbsp;" * row.depth + _md(row.section.title)
            if not row.checks:
                status = "↳ via subsections" if row.via_subsections else "❌ not verified"
                out.append(f"| {title} | {status} | | |")
                continue
            for n, (function, severity, count, destructive) in enumerate(_grouped(row.checks)):
                first = n == 0
                out.append(
                    f"| {title if first else ''} | {'✅ verified' if first else ''} "
                    f"| `{_label(function, count, destructive)}` | {severity} |"
                )
        for slug, checks in sorted(self.missing.items()):
            out += [
                "",
                f"Checks bound to `{slug}`, which the runbook lacks (failures get built-in advice):",
                "",
            ]
            out += [f"- `{_label(f, c, d)}` ({sev})" for f, sev, c, d in _grouped(checks)]
        if self.undeclared:
            out += ["", "Checks that declare no runbook section (they count as P0):", ""]
            out += [f"- `{_label(f, c, d)}` ({sev})" for f, sev, c, d in _grouped(self.undeclared)]
        return "\n".join(out) + "\n"


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (tables go into READMEs)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def build(
    environment: str,
    runbook: Runbook | None,
    checks: Iterable[BoundCheck],
    aliases: Mapping[str, str] | None = None,
    problem: str | None = None,
) -> Coverage:
    """Bind ``checks`` to the sections of ``runbook`` (slug lookup with ``aliases``, as remediation does)."""
    sections = list(runbook.sections.values()) if runbook else []
    top = min((s.level for s in sections), default=1)
    rows = [SectionRow(section, section.level - top) for section in sections]
    by_slug = {row.section.slug: row for row in rows}
    coverage = Coverage(environment, runbook.path if runbook else None, rows, problem=problem)
    for check in checks:
        if check.slug is None:
            coverage.undeclared.append(check)
            continue
        section = runbook.find(check.slug, aliases) if runbook else None
        if section is None:
            coverage.missing.setdefault(check.slug, []).append(check)
        else:
            by_slug[section.slug].checks.append(check)
    for index, row in enumerate(rows):
        for later in rows[index + 1 :]:
            if later.section.level <= row.section.level:
                break
            if later.checks:
                row.via_subsections = True
                break
    return coverage


class _Collector:
    """Records the checks the plugin recognised (those it gave a spec), also deselected destructive ones."""

    def __init__(self) -> None:
        self.items: list[pytest.Item] = []
        self.errors: list[str] = []
        self.coverage: Coverage | None = None

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        self.items.extend(items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"{report.nodeid or '<session>'}: {report.longreprtext.strip()}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.items.extend(session.items)
        ops = state(session.config)
        if ops is None or not ops.active or ops.environment is None:
            return
        checks = []
        for item in self.items:
            spec = item.stash.get(SPEC, None)
            if spec is not None:
                slug = spec.section if spec.declared else None
                checks.append(BoundCheck(item.nodeid, spec.severity, slug, is_destructive(item)))
        self.coverage = build(
            ops.env_name, ops.runbook, checks, ops.environment.runbook_sections, ops.runbook_problem
        )


def default_environment(config: str | None) -> tuple[str, str]:
    """The environment to show when none is chosen: ``OPSCHECK_ENV``, else the config's only (or first)
    environment. Returns (name, where the choice came from)."""
    if os.environ.get("OPSCHECK_ENV"):
        return os.environ["OPSCHECK_ENV"], "env OPSCHECK_ENV"
    path, _ = find_config(config, os.environ.get("OPSCHECK_CONFIG"), Path.cwd())
    if path is None:
        raise UsageError(
            "no opscheck.toml in the current directory: give --opscheck-config PATH (or OPSCHECK_CONFIG)"
        )
    names = list(load_config(path).environments)
    if not names:
        raise UsageError(f"{path} configures no environment")
    if len(names) == 1:
        return names[0], f"the only environment in {path}"
    return names[0], f"the first of {', '.join(names)} in {path}; --env NAME picks another"


def collect(environment: str, paths: Sequence[str], config: str | None = None) -> Coverage:
    """Collect ``paths`` with the plugin active for ``environment`` and bind the checks to its runbook.
    Nothing is run and nothing is contacted; the collection's own reports go to a throwaway directory."""
    if config is None:  # like the other commands: OPSCHECK_CONFIG, else ./opscheck.toml
        found, _ = find_config(None, os.environ.get("OPSCHECK_CONFIG"), Path.cwd())
        config = str(found) if found else None
    collector = _Collector()
    with tempfile.TemporaryDirectory(prefix="opscheck-coverage-") as scratch:
        # option=value in one word: pytest takes a lone path-like word for a test path when it works out
        # the rootdir, and the scratch directory would make that /tmp
        args = ["--collect-only", "-q", "-p", "no:cacheprovider", f"--env={environment}"]
        args += [
            f"--opscheck-reports={scratch}",
            *([f"--opscheck-config={config}"] if config else []),
            *paths,
        ]
        output = io.StringIO()
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            status = pytest.main(args, plugins=[collector])
    if collector.errors:
        raise CoverageError("collecting the suites failed:\n" + "\n".join(collector.errors))
    if collector.coverage is None or status not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        text = output.getvalue().strip()
        raise CoverageError(f"pytest --collect-only exited {int(status)}: {text[-2000:] or 'no output'}")
    return collector.coverage
