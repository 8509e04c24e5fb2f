"""Where redaction is applied: reports, log records and the terminal.

Secrets leak through pytest in known places (see the project's FACTS): assertion rewriting and long
tracebacks print values and fixture arguments; ``--showlocals`` prints locals; captured output and logs go
to JUnit; log records are formatted with their arguments. opscheck scrubs each report's ``longrepr``,
``sections`` and ``user_properties``, scrubs every log record when it is created, and as a last line of
defence scrubs everything the terminal reporter writes.
"""

from __future__ import annotations

import logging
import re
from typing import IO, Any

import pytest

from opscheck.secrets import redactor

__all__ = ["install_log_redaction", "mask_sensitive_headers", "scrub_report", "wrap_terminal"]

# header values that are credentials whether or not opscheck knows them yet; httpcore's DEBUG trace logs
# response headers (Set-Cookie included) before any client code sees the response
_SENSITIVE_HEADER = re.compile(
    r"""(?P<name>\b(?:set-cookie|cookie|authorization|proxy-authorization|x-api-key|x-auth-token)\b)"""
    r"""(?P<sep>['"]?\s*[:,=]\s*b?['"]?)(?P<value>[^'"\r\n]+)""",
    re.IGNORECASE,
)


def mask_sensitive_headers(text: str) -> str:
    """Mask the values of Cookie, Set-Cookie, Authorization and similar headers in a log line."""
    return _SENSITIVE_HEADER.sub(lambda m: f"{m.group('name')}{m.group('sep')}***", text)


def scrub_report(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Replace secrets in every part of a report that an output channel prints."""
    r = redactor()
    if not len(r):
        return
    longrepr = report.longrepr
    if longrepr is not None and not isinstance(longrepr, tuple):
        text = str(longrepr) if isinstance(longrepr, str) else report.longreprtext
        scrubbed = r.scrub(text)
        if scrubbed != text or not isinstance(longrepr, str):
            report.longrepr = scrubbed
    elif isinstance(longrepr, tuple):
        path, line, reason = longrepr
        report.longrepr = (path, line, r.scrub(reason))
    report.sections = [(r.scrub(title), r.scrub(body)) for title, body in report.sections]
    if isinstance(report, pytest.TestReport):
        report.user_properties = [(name, r.scrub_obj(value)) for name, value in report.user_properties]


def install_log_redaction() -> None:
    """Scrub every log record (message, arguments, exception text) as it is created, once per process."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "opscheck_redacts", False):
        return
    formatter = logging.Formatter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        r = redactor()
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return record
        record.msg, record.args = mask_sensitive_headers(r.scrub(message)), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = r.scrub(formatter.formatException(record.exc_info))
        return record

    factory.opscheck_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class _ScrubbingFile:
    """A text stream that scrubs secrets out of everything written through it."""

    def __init__(self, inner: IO[str]) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(redactor().scrub(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def wrap_terminal(config: pytest.Config) -> None:
    """Send the terminal reporter's output through the redactor (header, summaries, -rA, -l, ...)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    writer = getattr(reporter, "_tw", None)
    inner = getattr(writer, "_file", None)
    if writer is not None and inner is not None and not isinstance(inner, _ScrubbingFile):
        writer._file = _ScrubbingFile(inner)
