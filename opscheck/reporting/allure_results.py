"""Allure results: severity labels, runbook links, remediation attachments, and redaction on disk.

Every check's Allure result carries: its severity (label and tag), the suite as epic, the module as
feature and the runbook section as story (so the report groups checks the way the runbook reads), an
``env`` label naming the environment, a link to the runbook section, and a description (markdown) with
what the check proves, severity, section, environment and target, and the full text of the runbook
section, so the procedure is one click away also for a check that passed. A failure adds the
remediation as an attachment; restore drills add their metrics as parameters and every check with
metrics a ``Metrics`` table (CSV).

allure-pytest writes its own result files. opscheck registers allure's listener itself, with a file
logger that scrubs every result, container and attachment before it is written, because allure writes
exception texts, attachments and even "masked" parameters raw into the results directory.
Nothing here runs unless allure-pytest is installed and active.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from opscheck.config import Environment
from opscheck.errors import OpscheckError
from opscheck.reporting.history import RESTORE_METRICS
from opscheck.runbook import Remedy
from opscheck.secrets import mask_url, redactor
from opscheck.severity import ALLURE_SEVERITY, describe

__all__ = [
    "ENV_LABEL",
    "attach_metrics",
    "attach_text",
    "available",
    "check_description",
    "label_markers",
    "start_results",
]

#: the label naming a check's environment; ``opscheck report`` maps it to Allure 3 environments
ENV_LABEL = "env"

try:
    import allure
    import allure_commons
    from allure_pytest.listener import AllureListener
    from attr import asdict
except ImportError:  # pragma: no cover - allure-pytest is a dependency, but stay optional
    allure = None  # type: ignore[assignment]


def available(config: pytest.Config) -> bool:
    """allure-pytest is installed and its plugin is active (``-p no:allure_pytest`` turns it off)."""
    return allure is not None and config.pluginmanager.has_plugin("allure_pytest")


class RedactingFileLogger:
    """Writes allure results like allure's own file logger, through allure-commons' public hooks only,
    with every byte passed through the redactor first (allure writes parameters, messages and attachments
    raw, masked parameters included)."""

    def __init__(self, report_dir: Path, clean: bool) -> None:
        self._report_dir = report_dir
        if clean and report_dir.is_dir():
            shutil.rmtree(report_dir)
        report_dir.mkdir(parents=True, exist_ok=True)

    def _write(self, name: str, data: bytes) -> None:
        tmp = self._report_dir / f"{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self._report_dir / name)

    def _report_item(self, item: Any) -> None:
        filename = item.file_pattern.format(prefix=uuid.uuid4())
        data = redactor().scrub_obj(asdict(item, filter=lambda _, v: v or v is False))
        self._write(filename, json.dumps(data, ensure_ascii=False).encode("utf-8"))

    if allure is not None:

        @allure_commons.hookimpl
        def report_result(self, result: Any) -> None:
            self._report_item(result)

        @allure_commons.hookimpl
        def report_container(self, container: Any) -> None:
            self._report_item(container)

        @allure_commons.hookimpl
        def report_attached_file(self, source: str, file_name: str) -> None:
            self.report_attached_data(Path(source).read_bytes(), file_name)

        @allure_commons.hookimpl
        def report_attached_data(self, body: str | bytes, file_name: str) -> None:
            data = body.encode("utf-8") if isinstance(body, str) else body
            self._write(file_name, redactor().scrub_bytes(data))


def start_results(config: pytest.Config, results_dir: Path, clean: bool) -> None:
    """Register allure's listener with the redacting file logger, writing into ``results_dir``."""
    if allure is None:
        return
    listener = AllureListener(config)
    config.pluginmanager.register(listener, "allure_listener")
    file_logger = RedactingFileLogger(results_dir, clean)
    for plugin in (listener, file_logger):
        allure_commons.plugin_manager.register(plugin)
        config.add_cleanup(partial(allure_commons.plugin_manager.unregister, plugin))


def label_markers(
    severity: str,
    *,
    suite: str,
    module: str,
    environment: str,
    section: str | None,
    link: str | None,
    description: str | None = None,
) -> list[pytest.MarkDecorator]:
    """Markers allure-pytest turns into labels, links and the description (a check's own
    ``@allure.description`` comes first and wins)."""
    label = pytest.mark.allure_label
    markers = [
        label(ALLURE_SEVERITY[severity], label_type="severity"),
        label(suite, label_type="epic"),
        label(module, label_type="feature"),
        label(environment, label_type="tag"),
        label(severity, label_type="tag"),
        label(environment, label_type=ENV_LABEL),
    ]
    if section:
        markers.append(label(section, label_type="story"))
    if link:
        markers.append(pytest.mark.allure_link(link, link_type="link", name=f"Runbook: {section}"))
    if description:
        markers.append(pytest.mark.allure_description(redactor().scrub(description)))
    return markers


def _target(environment: Environment | None) -> str:
    try:
        return mask_url(environment.base_url) if environment else "?"
    except OpscheckError as exc:  # e.g. base_url = "${BASE_URL}" and the variable is unset
        return f"? ({exc})"


def check_description(
    severity: str,
    *,
    environment: Environment | None,
    remedy: Remedy | None,
    doc: str | None = None,
) -> str:
    """A check's Allure description (markdown): what it proves, severity, runbook section,
    environment and target (password masked), then the runbook section's full text."""
    parts = [inspect.cleandoc(doc)] if doc and doc.strip() else []
    name = environment.name if environment else "?"
    if remedy is None:
        section = "none declared (a failure gets the incident response process)"
    elif remedy.link and remedy.link.startswith(("https://", "http://")):
        section = f"[{remedy.title}]({remedy.link})"
    elif remedy.from_runbook:
        section = remedy.title  # a file:// link is in the result's links; markdown renders none
    else:
        section = f"{remedy.title} (not in the runbook: built-in advice)"
    parts.append(
        "\n".join(
            [
                f"- **Severity:** {severity} · {ALLURE_SEVERITY[severity]} · {describe(severity)}",
                f"- **Runbook section:** {section}",
                f"- **Environment:** `{name}`",
                f"- **Target:** `{_target(environment)}`",
            ]
        )
    )
    if remedy is not None:
        parts.append(f"#### If this check fails: {remedy.title}\n\n{remedy.text}")
    return "\n\n".join(parts) + "\n"


def attach_text(name: str, text: str) -> None:
    """Attach text to the running test's Allure result (when Allure results are being written)."""
    if allure is not None:
        allure.attach(redactor().scrub(text), name=name, attachment_type=allure.attachment_type.TEXT)


class _Verbatim:
    """A parameter value allure shows as written (it quotes plain strings)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def attach_metrics(metrics: Mapping[str, Any]) -> None:
    """The running check's metrics: the restore drill's as parameters (excluded from Allure's history
    identity, so a new backup key does not make a new test), and all of them as a ``Metrics`` table."""
    if allure is None or not metrics:
        return
    for name, unit in RESTORE_METRICS.items():
        if name in metrics:
            value = redactor().scrub(f"{metrics[name]}{unit}")
            allure.dynamic.parameter(name, _Verbatim(value), excluded=True)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["metric", "value"])
    for name, value in metrics.items():
        writer.writerow([name, json.dumps(value) if isinstance(value, dict | list) else value])
    allure.attach(
        redactor().scrub(table.getvalue()), name="Metrics", attachment_type=allure.attachment_type.CSV
    )
