"""Where redaction is applied: reports, log records, the terminal, and everything else pytest writes.

Secrets leak through pytest in known places (see the project's FACTS): assertion rewriting and long
tracebacks print values and fixture arguments; ``--showlocals`` prints locals; captured output and logs go
to JUnit; log records are formatted with their arguments. opscheck scrubs each report's ``longrepr``,
``sections`` and ``user_properties``, scrubs every log record when it is created, and as a last line of
defence scrubs everything the terminal reporter writes.

Loaded as a pytest plugin (by ``opscheck.plugin``), this module also scrubs test ids (a token in a
parametrized page path would otherwise name a JUnit testcase, which is named by the report's node id),
the ``--debug`` trace file, and what a
check prints with ``-s`` or ``--capture=tee-sys``.

PYTEST_DONT_REWRITE: library code, imported by the plugin before pytest loads it as a plugin; without
this marker pytest warned "Module already imported so cannot be rewritten" on every run.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from typing import IO, Any, TextIO, cast

import pytest
from _pytest.capture import TeeCaptureIO

from opscheck.secrets import redactor

__all__ = [
    "install_log_redaction",
    "mask_sensitive_headers",
    "pytest_cmdline_main",
    "pytest_configure",
    "pytest_sessionstart",
    "scrub_report",
    "wrap_terminal",
]

# header values that are credentials whether or not opscheck knows them yet; httpcore's DEBUG trace logs
# response headers (Set-Cookie included) before any client code sees the response
_SENSITIVE_HEADER = re.compile(
    r"""(?P<name>\b(?:set-cookie|cookie|authorization|proxy-authorization|x-api-key|x-auth-token"""
    r"""|x-amz-security-token)\b)"""
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
        path, lineno, domain = report.location
        report.location = (path, lineno, r.scrub(domain))
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
    try:
        writer = config.get_terminal_writer()
    except AssertionError:  # no terminal reporter (-p no:terminal)
        return
    inner = getattr(writer, "_file", None)
    if writer is not None and inner is not None and not isinstance(inner, _ScrubbingFile):
        writer._file = _ScrubbingFile(inner)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Scrub the ``--debug`` trace: it records hook arguments and results (what
    ``pytest_opscheck_secrets`` returned, before anything could register it), so it is held back until
    the session starts, when the config's and the hooks' secrets are known, and scrubbed from then on."""
    trace = config.trace.root
    writer = trace._writer
    if writer is not None and not isinstance(writer, _HeldBackWriter):
        held = _HeldBackWriter(writer)
        trace.setwriter(held)
        config.add_cleanup(held.release)


class _HeldBackWriter:
    def __init__(self, inner: Callable[[str], object]) -> None:
        self._inner = inner
        self._held: list[str] | None = []

    def __call__(self, text: str) -> None:
        if self._held is None:
            self._inner(redactor().scrub(text))
        else:
            self._held.append(text)

    def release(self) -> None:
        """Write what was held back, scrubbed; pass everything after it straight through the redactor."""
        held, self._held = self._held, None
        if held:
            self._inner(redactor().scrub("".join(held)))


def pytest_sessionstart(session: pytest.Session) -> None:
    writer = session.config.trace.root._writer
    if isinstance(writer, _HeldBackWriter):
        writer.release()


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Scrub what checks print when output is not captured (``-s``) or also shown (``tee-sys``)."""
    capture = getattr(config.option, "capture", "fd")
    if capture == "no":
        _scrub_sys_streams(config)
    elif capture == "tee-sys":
        _scrub_tee(config)


def _scrub_sys_streams(config: pytest.Config) -> None:
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _scrubbing(sys.stdout), _scrubbing(sys.stderr)

    def restore() -> None:
        sys.stdout, sys.stderr = saved

    config.add_cleanup(restore)


def _scrub_tee(config: pytest.Config) -> None:
    capturing = getattr(config.pluginmanager.getplugin("capturemanager"), "_global_capturing", None)
    for stream in (getattr(capturing, "out", None), getattr(capturing, "err", None)):
        tee = getattr(stream, "tmpfile", None)
        if isinstance(tee, TeeCaptureIO) and not isinstance(tee._other, _ScrubbingFile):
            tee._other = _scrubbing(tee._other)


def _scrubbing(stream: TextIO) -> TextIO:
    return cast(TextIO, _ScrubbingFile(stream))
