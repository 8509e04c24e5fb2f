"""The opscheck pytest plugin: hook implementations only; the work is done in the modules they call.

Loaded through the ``pytest11`` entry point. It stays inert (no reports, no redaction hooks beyond the
cheap ones) until an environment is selected with ``--env`` or ``OPSCHECK_ENV``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import time
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from opscheck import hookspecs
from opscheck.errors import OpscheckError, SectionNotConfigured, UsageError
from opscheck.fixtures import CHECK_FIXTURES
from opscheck.reporting import allure_results, history
from opscheck.reporting.summary import markdown_summary, terminal_lines
from opscheck.run import shield
from opscheck.run.context import CheckRecord, recording
from opscheck.run.interrupts import Interrupts
from opscheck.run.markers import MARKERS, CheckSpec, InvalidMarker, check_spec, is_destructive
from opscheck.run.redaction import install_log_redaction, scrub_report, wrap_terminal
from opscheck.run.session import SPEC, STATE, WORKER_CONFIG_KEY, OpscheckSession, resolve_session, state
from opscheck.run.verdict import (
    UNEXPLAINED_NODEID,
    exit_status,
    stopped_early_result,
    unattributed_result,
    unexplained_result,
)
from opscheck.runbook import Remedy
from opscheck.secrets import mask_url, redactor

__all__: list[str] = []

pytest_plugins = ["opscheck.fixtures", "opscheck.run.redaction", "opscheck.run.scope"]

RECORD = pytest.StashKey[CheckRecord]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opscheck", "opscheck: runbook verification")
    group.addoption(
        "--env",
        dest="opscheck_env",
        metavar="NAME",
        help="environment of opscheck.toml to verify (env OPSCHECK_ENV)",
    )
    group.addoption(
        "--base-url",
        dest="opscheck_base_url",
        metavar="URL",
        help="deployment to verify instead of the environment's base_url, e.g. a preview deployment's URL "
        "(env OPSCHECK_BASE_URL)",
    )
    group.addoption(
        "--opscheck-config",
        dest="opscheck_config",
        metavar="PATH",
        help="config file (env OPSCHECK_CONFIG; default <rootdir>/opscheck.toml)",
    )
    group.addoption(
        "--gate",
        dest="opscheck_gate",
        metavar="P0..P3",
        type=str.upper,
        help="lowest severity that fails the run (env OPSCHECK_GATE; default P3)",
    )
    group.addoption(
        "--opscheck-reports",
        dest="opscheck_reports",
        metavar="DIR",
        help="output directory (env OPSCHECK_REPORTS; default reports/)",
    )
    group.addoption(
        "--backup",
        dest="opscheck_backup",
        metavar="NAME|TIMESTAMP|latest",
        default="latest",
        help="which backup the restore drill uses (default latest)",
    )
    group.addoption(
        "--allow-destructive",
        dest="opscheck_allow_destructive",
        action="store_true",
        help="run checks marked destructive; refused for environments with production = true",
    )
    group.addoption(
        "--fail-on-flaky",
        dest="opscheck_fail_on_flaky",
        action="store_true",
        help="a check that passed only after a retry fails the run",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", text if text.startswith(name) else f"{name}: {text}")
    try:
        session = resolve_session(config)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[STATE] = session
    install_log_redaction()
    if not session.is_worker:
        config.pluginmanager.register(_NodeidScrubber(), "opscheck-nodeid-scrubber")
    if not session.active:
        return
    config.pluginmanager.register(_ResultCollector(session), "opscheck-results")
    extra = config.hook.pytest_opscheck_secrets(config=config, environment=session.environment)
    for values in extra:
        session.redactor.add_all(values)
    if config.option.collectonly:
        return  # listing checks writes no reports: the last real run's stay as they are
    if not session.is_worker:
        session.reports_dir.mkdir(parents=True, exist_ok=True)
        if config.pluginmanager.has_plugin("junitxml") and not config.option.xmlpath:
            config.option.xmlpath = str(session.reports_dir / "junit.xml")
        _install_sigterm(config)
    config.pluginmanager.register(Interrupts(config, is_worker=session.is_worker), "opscheck-interrupts")
    # allure-pytest writes raw values; opscheck registers allure's listener itself with a redacting
    # file logger, in pytest_sessionstart (after allure-pytest's own pytest_configure has run)
    if allure_results.available(config):
        chosen = getattr(config.option, "allure_report_dir", None)
        session.allure_dir = Path(chosen).resolve() if chosen else session.reports_dir / "allure-results"
        config.option.allure_report_dir = None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, on the controller: each worker reads the config file the controller found. A worker re-runs
    rootdir detection on the same arguments, and a path among them that exists only now (the reports
    directory the controller just created) moves its rootdir, and so its default opscheck.toml."""
    ops = state(node.config)
    if ops is not None and ops.config_path is not None:
        node.workerinput[WORKER_CONFIG_KEY] = str(ops.config_path)


def _install_sigterm(config: pytest.Config) -> None:
    """SIGTERM ends the run like Ctrl-C, so reports are still written and servers are stopped."""
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        return

    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        signal.signal(signal.SIGTERM, shield.interrupt_once)  # later signals never cut the cleanup short

        def restore() -> None:
            if not shield.is_stopping():  # while stopping, SIGTERM must not kill the cleanup at exit
                signal.signal(signal.SIGTERM, previous)

        config.add_cleanup(restore)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    ops = state(session.config)
    if ops is None or not ops.active:
        return
    wrap_terminal(session.config)
    if ops.allure_dir is not None:
        allure_results.start_results(session.config, ops.allure_dir, clean=not ops.is_worker)


def pytest_report_header(config: pytest.Config) -> list[str]:
    ops = state(config)
    if ops is None or not ops.active:
        return []
    return ops.header_lines() + _publishing_header(ops)


def _publishing_header(ops: OpscheckSession) -> list[str]:
    """Where results go besides the reports, so a missing metric or page is never a surprise."""
    env = ops.environment
    lines: list[str] = []
    if env is None or ops.is_worker:
        return lines
    try:
        if env.has("metrics"):
            metrics = env.metrics
            where = [f"Pushgateway {mask_url(metrics.pushgateway_url)}"] if metrics.pushgateway_url else []
            where += [f"textfile {metrics.textfile_dir}"] if metrics.textfile_dir else []
            lines.append(
                f"opscheck: metrics at the end of the run → {', '.join(where) or 'nowhere (no key set)'}"
            )
        if env.has("notify"):
            notify = env.notify
            names = [n for n, on in (("webhook", notify.webhook_url), ("Slack", notify.slack_webhook_url),
                                     ("PagerDuty", notify.pagerduty_routing_key)) if on]  # fmt: skip
            lines.append(
                f"opscheck: paging {', '.join(names) or 'nobody (no key set)'} on changes only "
                f"(new failures at or above {notify.min_severity}, recoveries)"
            )
    except OpscheckError as exc:
        lines.append(f"opscheck: metrics/paging settings unusable: {exc}")
    return [redactor().scrub(line) for line in lines]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    ops = state(config)
    assert ops is not None
    keep: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    checks = 0
    for item in items:
        try:
            spec = check_spec(item)
        except InvalidMarker as exc:
            report = pytest.CollectReport(item.nodeid, "failed", f"{item.nodeid}: {exc}", [])
            config.hook.pytest_collectreport(report=report)
            continue
        is_check = spec.declared or bool(CHECK_FIXTURES.intersection(getattr(item, "fixturenames", ())))
        if is_check:
            checks += 1
            item.stash[SPEC] = spec
        if ops.active and is_destructive(item) and not ops.allow_destructive:
            deselected.append(item)  # any test that declares it writes, opscheck's check or not
            continue
        if not is_check:
            keep.append(item)
            continue
        if ops.active:
            _label(item, spec, ops)
            ops.collected_checks[redactor().scrub(item.nodeid)] = spec.severity
        keep.append(item)
    if checks and not ops.active:
        raise pytest.UsageError(ops.missing_env_message())
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        ops.deselected_destructive = len(deselected)
    items[:] = keep


def _label(item: pytest.Item, spec: CheckSpec, ops: OpscheckSession) -> None:
    remedy = ops.remedy(spec.section) if spec.section else None
    if spec.section and remedy is not None and not remedy.from_runbook:
        ops.missing_sections.setdefault(spec.section, []).append(item.nodeid)
    if not spec.declared:
        ops.undeclared.append(item.nodeid)
    path = item.nodeid.split("::", 1)[0]
    parts = path.split("/")
    suite = parts[-2] if len(parts) >= 2 else "checks"
    module = Path(path).stem.removeprefix("test_").replace("_", " ")
    if not allure_results.available(item.config):
        return
    title = remedy.title if remedy else None
    description = allure_results.check_description(
        spec.severity,
        environment=ops.environment,
        remedy=remedy,
        doc=getattr(getattr(item, "function", None), "__doc__", None),
    )
    for marker in allure_results.label_markers(
        spec.severity,
        suite=suite,
        module=module,
        environment=ops.env_name,
        section=title,
        link=remedy.link if remedy else None,
        description=description,
    ):
        item.add_marker(marker)


#: fixtures whose requests go to base_url: a check using one is held back by a protected deployment
_TALKS_TO_DEPLOYMENT = frozenset({"http", "nextauth"})


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A deployment behind Vercel's protection wall is reported once, not by every check that talks to it
    (before the check's fixtures, so a session-scoped sign-in does not fail first)."""
    ops = state(item.config)
    if ops is None or ops.environment is None:
        return
    if not _TALKS_TO_DEPLOYMENT.intersection(getattr(item, "fixturenames", ())):
        return
    from opscheck.clients.protection import hold_back  # httpx only for runs whose checks talk to a deployment

    hold_back(item, ops.environment)


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    ops = state(config)
    return ops.collection_lines() if ops is not None and ops.active else []


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what start-up and collection built (modules, plugins, config, items: long-lived) out of the
    garbage collector's sight. pytest ends every run with full collections (to surface unraisable
    exceptions), which otherwise walk all of it: 0.1 to 0.4 s of a smoke gate. What checks create later
    is still collected and its unraisable exceptions still reported."""
    ops = state(session.config)
    if ops is not None and ops.active:
        gc.freeze()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    record = CheckRecord()
    item.stash[RECORD] = record
    with recording(record):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    ops = state(item.config)
    spec = item.stash.get(SPEC, None)
    if ops is None or not ops.active or spec is None:
        scrub_report(report)
        return report
    record = item.stash.get(RECORD, CheckRecord())
    excinfo = call.excinfo
    error = excinfo.value if excinfo is not None else None
    flaky_failed = False
    if isinstance(error, SectionNotConfigured):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"Skipped: {error}")
    elif report.when == "call" and report.passed and record.retries and ops.fail_on_flaky:
        report.outcome = "failed"
        flaky_failed = True
    data = ops.result_data(report, spec, record, error, flaky_failed=flaky_failed)
    remedy = ops.remedy_for(spec, error) if report.failed else None
    if remedy is not None:
        text = remedy.render() + "".join(f"\n\n{extra}" for extra in record.remediation)
        data.update(
            remediation=text,
            headline=remedy.headline,
            section_title=remedy.title,
            section_slug=spec.section,
            section_link=remedy.link,
        )
        summary = data["message"]
        if isinstance(error, OpscheckError) or flaky_failed:
            body = f"{summary}\n\n[{spec.severity}] Runbook: {text}"
        else:
            body = f"{report.longreprtext}\n\n[{spec.severity}] Runbook: {text}"
        report.longrepr = body
        allure_results.attach_text(f"Remediation: {remedy.title}", text)
    if report.when == "call" and record.metrics:
        allure_results.attach_metrics(record.metrics)
    report.opscheck = data  # type: ignore[attr-defined]
    scrub_report(report)
    if remedy is not None:
        _call_remediation_hook(item, report, remedy)
    return report


def _call_remediation_hook(item: pytest.Item, report: pytest.TestReport, remedy: Remedy) -> None:
    try:
        item.config.hook.pytest_opscheck_remediation(item=item, report=report, remediation=remedy)
    except Exception as exc:  # a notifier's failure must not change the verdict
        message = redactor().scrub(f"pytest_opscheck_remediation failed for {item.nodeid}: {exc!r}")
        warnings.warn(pytest.PytestWarning(message), stacklevel=1)


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """A check whose result is an error (unreachable target, inconclusive, unset variable) is ERROR in
    pytest's own line too, not FAILED: the summary JSON and pytest's line say the same."""
    data = getattr(report, "opscheck", None)
    if report.when == "call" and report.failed and isinstance(data, dict) and data.get("kind") == "error":
        return "error", "E", "ERROR"
    return None


def pytest_collectreport(report: pytest.CollectReport) -> None:
    scrub_report(report)


class _NodeidScrubber:
    """A parametrized value is part of a check's id (JUnit testcase names, the terminal, the summary):
    scrub it before any reporter sees it. Never on an xdist worker, which must send the controller the id
    it can match to its items; the controller scrubs the reports as they arrive."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        report.nodeid = redactor().scrub(report.nodeid)


class _ResultCollector:
    """Folds every phase report (also those xdist workers send to the controller) into the summary."""

    def __init__(self, ops: OpscheckSession) -> None:
        self.ops = ops

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "opscheck", None)
        if data is None:
            if report.failed:  # a crashed worker, a plain test, ...: nothing says it may be forgiven
                self.ops.summary.add(report.nodeid, report.when, "failed", unattributed_result(report), 0.0)
            return
        self.ops.summary.add(report.nodeid, report.when, report.outcome, data, report.duration)
        if report.failed and not hasattr(report, "wasxfail"):
            self.ops.count_failure(data)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.ops.summary.add(report.nodeid, "collect", "failed", unattributed_result(report), 0.0)

    def pytest_keyboard_interrupt(self) -> None:
        self.ops.interrupted = True

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        """Under xdist the controller collects nothing itself: the workers' ids stand in (severity
        unknown here, so P0, as for any failure opscheck cannot attribute)."""
        for nodeid in ids:
            self.ops.collected_checks.setdefault(redactor().scrub(nodeid), "P0")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    ops = state(session.config)
    if ops is None or not ops.active or ops.is_worker or session.config.option.collectonly:
        return
    summary = ops.summary
    summary.duration_s = time.monotonic() - ops.started_monotonic
    summary.finish(
        interrupted=exitstatus == pytest.ExitCode.INTERRUPTED or ops.interrupted,
        collected=ops.collected_checks,
    )
    status = exit_status(
        exitstatus,
        pytest_failures=session.testsfailed,
        forgiven=ops.forgiven_failures,
        gate_failed=bool(summary.gate_failures()),
        stopped_early=bool(session.shouldfail),
    )
    if status == pytest.ExitCode.TESTS_FAILED and not summary.gate_failures():
        why = stopped_early_result(str(session.shouldfail)) if session.shouldfail else None
        summary.add(
            UNEXPLAINED_NODEID, "session", "failed", why or unexplained_result(session.testsfailed), 0.0
        )
    session.exitstatus = status
    summary.exit_status = status
    _publish(ops)
    summary.write_json(ops.reports_dir / "opscheck-summary.json")
    history.append_run(summary, ops.reports_dir / "history.jsonl", ops.config_path)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        try:
            with open(step_summary, "a", encoding="utf-8") as handle:
                handle.write(markdown_summary(summary))
        except OSError as exc:
            logging.getLogger("opscheck").warning("cannot append to GITHUB_STEP_SUMMARY: %s", exc.strerror)


def _publish(ops: OpscheckSession) -> None:
    """Metrics and pages, after the verdict is fixed: whatever happens here never changes it."""
    env = ops.environment
    if env is None:
        return
    entries = ops.summary.publishing
    try:
        if env.has("metrics"):
            from opscheck.reporting.metrics import publish

            for result in publish(ops.summary, env.metrics):
                entries.append({"kind": "metrics", "destination": result.destination, "ok": result.ok,
                                "detail": result.detail})  # fmt: skip
        if env.has("notify"):
            from opscheck.reporting.paging import notifiers_for, send_changes

            notify = env.notify
            for delivery in send_changes(
                ops.summary, notifiers_for(notify), notify.min_severity, ops.reports_dir
            ):
                entries.append({"kind": "page", "destination": delivery.notifier, "ok": delivery.ok,
                                "detail": f"{delivery.action} {delivery.check}"
                                + (f": {delivery.detail}" if delivery.detail else "")})  # fmt: skip
    except OpscheckError as exc:  # e.g. an unset ${VAR} in [metrics] or [notify]
        entries.append({"kind": "config", "destination": "metrics/notify", "ok": False, "detail": str(exc)})
    except Exception as exc:  # a publisher's bug must not cost the run its summary and reports
        detail = redactor().scrub(f"{type(exc).__name__}: {exc}")
        entries.append({"kind": "error", "destination": "metrics/notify", "ok": False, "detail": detail})


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    ops = state(config)
    if ops is None or not ops.active:
        return
    terminalreporter.section(f"opscheck · {ops.env_name} · gate {ops.gate}", bold=True)
    for line in terminal_lines(ops.summary, width=config.get_terminal_writer().fullwidth):
        red = line.startswith(("FAIL", "INTERRUPTED", "NO CHECKS"))
        green = line.startswith("PASS")
        terminalreporter.write_line(line, red=red, green=green, bold=red or green)
    for entry in ops.summary.publishing:
        mark = "" if entry["ok"] else "FAILED "
        line = redactor().scrub(f"{entry['kind']}: {mark}{entry['destination']}: {entry['detail']}")
        terminalreporter.write_line(line, yellow=not entry["ok"])
    terminalreporter.write_line(f"reports: {ops.reports_dir}")
