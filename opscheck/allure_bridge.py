"""Allure results: severity labels, runbook links, remediation attachments, and redaction on disk.

allure-pytest writes its own result files. opscheck registers allure's listener itself, with a file
logger that scrubs every result, container and attachment before it is written, because allure writes
exception texts, attachments and even "masked" parameters raw into the results directory.
Nothing here runs unless allure-pytest is installed and active.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from opscheck.secrets import redactor
from opscheck.severity import ALLURE_SEVERITY

__all__ = ["attach_text", "available", "label_markers", "start_results"]

try:
    import allure
    import allure_commons
    from allure_commons.logger import AllureFileLogger
    from allure_pytest.listener import AllureListener
    from allure_pytest.plugin import cleanup_factory
    from attr import asdict
except ImportError:  # pragma: no cover - allure-pytest is a dependency, but stay optional
    allure = None  # type: ignore[assignment]


def available() -> bool:
    return allure is not None


if allure is not None:

    class RedactingFileLogger(AllureFileLogger):
        """allure's file logger, with every byte passed through the redactor first."""

        def _report_item(self, item: Any) -> None:
            filename = item.file_pattern.format(prefix=uuid.uuid4())
            data = redactor().scrub_obj(asdict(item, filter=lambda _, v: v or v is False))
            tmp = self._report_dir / f"{filename}.tmp"
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self._report_dir / filename)

        @allure_commons.hookimpl
        def report_attached_file(self, source: str, file_name: str) -> None:
            self.report_attached_data(Path(source).read_bytes(), file_name)

        @allure_commons.hookimpl
        def report_attached_data(self, body: str | bytes, file_name: str) -> None:
            data = body.encode("utf-8") if isinstance(body, str) else body
            tmp = self._report_dir / f"{file_name}.tmp"
            tmp.write_bytes(redactor().scrub_bytes(data))
            os.replace(tmp, self._report_dir / file_name)


def start_results(config: pytest.Config, results_dir: Path, clean: bool) -> None:
    """Register allure's listener with the redacting file logger, writing into ``results_dir``."""
    if allure is None:
        return
    listener = AllureListener(config)
    config.pluginmanager.register(listener, "allure_listener")
    allure_commons.plugin_manager.register(listener)
    config.add_cleanup(cleanup_factory(listener))
    file_logger = RedactingFileLogger(str(results_dir), clean)  # type: ignore[no-untyped-call]
    allure_commons.plugin_manager.register(file_logger)
    config.add_cleanup(cleanup_factory(file_logger))


def label_markers(
    severity: str, *, suite: str, module: str, environment: str, section: str | None, link: str | None
) -> list[pytest.MarkDecorator]:
    """Markers allure-pytest turns into labels and links."""
    label = pytest.mark.allure_label
    markers = [
        label(ALLURE_SEVERITY[severity], label_type="severity"),
        label(suite, label_type="epic"),
        label(module, label_type="feature"),
        label(environment, label_type="tag"),
        label(severity, label_type="tag"),
    ]
    if section:
        markers.append(label(section, label_type="story"))
    if link:
        markers.append(pytest.mark.allure_link(link, link_type="link", name=f"Runbook: {section}"))
    return markers


def attach_text(name: str, text: str) -> None:
    """Attach text to the running test's Allure result (when Allure results are being written)."""
    if allure is not None:
        allure.attach(redactor().scrub(text), name=name, attachment_type=allure.attachment_type.TEXT)
