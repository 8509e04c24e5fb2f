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

It does so through the streams pytest is given, not pytest's internals: ``sys.stdout`` while pytest makes
its terminal reporter (which writes to whatever ``sys.stdout`` is then), and ``sys.stdout`` and
``sys.stderr`` before pytest's capturing saves them as the streams that output is shown on.

PYTEST_DONT_REWRITE: library code, imported by the plugin before pytest loads it as a plugin; without
this marker pytest warned "Module already imported so cannot be rewritten" on every run.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Generator
from typing import Any, TextIO, cast

import pytest

from opscheck.secrets import redactor

__all__ = [
    "install_log_redaction",
    "mask_sensitive_headers",
    "pytest_cmdline_main",
    "pytest_configure",
    "pytest_load_initial_conftests",
    "pytest_plugin_registered",
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
    """A text stream that scrubs secrets out of everything written through it, while ``scrubbing``."""

    def __init__(self, inner: TextIO, *, scrubbing: bool = True) -> None:
        self.inner = inner
        self.scrubbing = scrubbing

    def write(self, text: str) -> int:
        self.inner.write(redactor().scrub(text) if self.scrubbing else text)
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _TerminalStream(_ScrubbingFile):
    """What ``sys.stdout`` is while pytest makes its terminal reporter: it passes text through until
    :func:`wrap_terminal` makes it scrub."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__(inner, scrubbing=False)


#: the stream the terminal reporter writes to (see :func:`pytest_configure`)
_TERMINAL = pytest.StashKey[_ScrubbingFile]()
#: the writer holding back the ``--debug`` trace (see :func:`pytest_cmdline_main`)
_TRACE = pytest.StashKey["_HeldBackWriter"]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """pytest makes its terminal reporter in its own ``pytest_configure``, writing to ``sys.stdout`` as it
    is then: until that reporter is registered, ``sys.stdout`` is a :class:`_TerminalStream` (with ``-s``
    and ``tee-sys`` it is already a stream that scrubs, see :func:`pytest_load_initial_conftests`)."""
    if isinstance(sys.stdout, _ScrubbingFile):
        config.stash[_TERMINAL] = sys.stdout
        return
    terminal = config.stash[_TERMINAL] = _TerminalStream(sys.stdout)
    sys.stdout = cast(TextIO, terminal)
    config.add_cleanup(_put_back_stdout)  # no terminal reporter was registered (-p no:terminal)


def pytest_plugin_registered(plugin_name: str | None) -> None:
    """The terminal reporter has its stream: ``sys.stdout`` is what it was before :func:`pytest_configure`."""
    if plugin_name == "terminalreporter":
        _put_back_stdout()


def _put_back_stdout() -> None:
    if isinstance(sys.stdout, _TerminalStream):
        sys.stdout = sys.stdout.inner


def wrap_terminal(config: pytest.Config) -> None:
    """Send the terminal reporter's output through the redactor (header, summaries, -rA, -l, ...)."""
    terminal = config.stash.get(_TERMINAL, None)
    if terminal is not None:
        terminal.scrubbing = True


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Scrub the ``--debug`` trace: it records hook arguments and results (what
    ``pytest_opscheck_secrets`` returned, before anything could register it), so it is held back until
    the session starts, when the config's and the hooks' secrets are known, and scrubbed from then on."""
    trace = config.trace.root
    # the one private attribute read here: pluggy's tracer has setwriter() but no getter, and pytest keeps
    # no other reference to the debug file it traces to, so _writer is the only way to that file
    writer = trace._writer
    if writer is not None and not isinstance(writer, _HeldBackWriter):
        held = _HeldBackWriter(writer)
        trace.setwriter(held)
        config.stash[_TRACE] = held
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
    held = session.config.stash.get(_TRACE, None)
    if held is not None:
        held.release()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    """Scrub what checks print when output is not captured (``-s``) or also shown (``tee-sys``): pytest's
    capturing, started inside this hook, keeps the ``sys.stdout`` and ``sys.stderr`` it finds as the streams
    it shows output on, so they are wrapped first (and put back when the run's config is cleaned up)."""
    if early_config.known_args_namespace.capture in ("no", "tee-sys"):
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _scrubbing(sys.stdout), _scrubbing(sys.stderr)

        def restore() -> None:
            sys.stdout, sys.stderr = saved

        early_config.add_cleanup(restore)
    return (yield)


def _scrubbing(stream: TextIO) -> TextIO:
    return cast(TextIO, _ScrubbingFile(stream))
