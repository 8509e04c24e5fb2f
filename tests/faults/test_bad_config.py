"""Bad configuration: every row is a one-line error and pytest's usage-error exit (4), never a traceback
(exit 3), never a run that starts and passes.

Each row writes an ``opscheck.toml`` (and whatever file it needs), runs pytest on one check with
``--env x`` and asserts: exit status 4; the error is one line that says what is wrong (the key, the path, the
variable); no traceback; no planted secret in the output. The last rows are the counterpart: a value only some
checks need keeps the lazy rule (the run starts, and only the check that needs the value errors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.project import EXAMPLE_RUNBOOK, checks_by_name, summary

PLANTED_PASSWORD = "planted-bad-config-pw"
CHECK = """
import pytest

@pytest.mark.runbook("site-down-p0", severity="P0")
def test_a_check(opscheck_env):
    pass
"""
HEAD = f'[environments.x]\nbase_url = "http://127.0.0.1:9"\nrunbook = "{EXAMPLE_RUNBOOK}"\n'


@dataclass(frozen=True)
class BadConfig:
    id: str
    #: the file's bytes (``HEAD`` is not added: rows that break the head write their own)
    body: bytes
    #: words the one-line error must contain; ``{tmp}`` is the row's directory
    says: tuple[str, ...]
    environ: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[Path], None] | None = None


def row(id: str, body: str | bytes, *says: str, **kwargs: object) -> object:
    data = body if isinstance(body, bytes) else body.encode()
    return pytest.param(BadConfig(id, data, says, **kwargs), id=id)  # type: ignore[arg-type]


def numeric(table: str | None, key: str, value: str) -> str:
    if table is None:
        return HEAD + f"{key} = {value}\n"
    extra = {"backups": 'location = "backups"\n', "database": 'url = "postgresql://db/app"\n'}.get(table, "")
    return HEAD + f"[environments.x.{table}]\n{extra}{key} = {value}\n"


def write_runbook_latin1(directory: Path) -> None:
    (directory / "RUNBOOK.md").write_bytes("# Runbook\n\n## Caf\xe9\n".encode("latin-1"))


ROWS = [
    row(
        "not-utf8",
        HEAD.encode() + b'expected_version = "v\xff1"\n',
        "opscheck.toml: not UTF-8 text: byte 0xff at line 4",
    ),
    row(
        "base-url-unset-variable",
        '[environments.x]\nbase_url = "${OPSCHECK_TEST_BASE_URL}"\n',
        "OPSCHECK_TEST_BASE_URL is not set (environments.x.base_url)",
        "needed by every check",
    ),
    row(
        "production-unset-variable",
        HEAD + 'production = "${OPSCHECK_TEST_IS_PRODUCTION}"\n',
        "OPSCHECK_TEST_IS_PRODUCTION is not set (environments.x.production)",
        "needed by every check",
    ),
    row(
        "deeply-nested-arrays",
        HEAD + "[environments.x.smoke]\npages = " + "[" * 3000 + "]" * 3000 + "\n",
        "nested too deeply",
    ),
    row(
        "unterminated-variable",
        HEAD + '[environments.x.auth]\nusername = "u"\npassword = "${SMOKE_PASSWORD"\n',
        "environments.x.auth.password has an unterminated or invalid variable reference",
    ),
    row(
        "base-url-not-a-url",
        '[environments.x]\nbase_url = "not a url"\n',
        "environments.x.base_url must be an http:// or https:// URL",
    ),
    row(
        "ca-bundle-missing",
        HEAD + 'ca_bundle = "certs/private-ca.pem"\n',
        "environments.x.ca_bundle: the CA bundle {tmp}/certs/private-ca.pem does not exist",
    ),
    row(
        "runbook-missing",
        '[environments.x]\nbase_url = "http://127.0.0.1:9"\nrunbook = "docs/RUNBOOK.md"\n',
        "environments.x.runbook: the runbook {tmp}/docs/RUNBOOK.md does not exist",
    ),
    row(
        "runbook-not-utf8",
        '[environments.x]\nbase_url = "http://127.0.0.1:9"\nrunbook = "RUNBOOK.md"\n',
        "the runbook {tmp}/RUNBOOK.md is not UTF-8 text",
        prepare=write_runbook_latin1,
    ),
    row(
        "redis-url-malformed",
        HEAD + f'[environments.x.cache]\nredis_url = "redis://:{PLANTED_PASSWORD}/x@127.0.0.1:6379/0"\n',
        "environments.x.cache.redis_url is not a Redis URL",
    ),
    row(
        "redis-url-without-scheme",
        HEAD + '[environments.x.cache]\nredis_url = "${OPSCHECK_TEST_REDIS_URL}"\n',
        "environments.x.cache.redis_url is not a Redis URL: its scheme",
        environ={"OPSCHECK_TEST_REDIS_URL": "127.0.0.1:6379"},
    ),
    row(
        "database-url-malformed",
        HEAD + f'[environments.x.database]\nurl = "postgresql://app:{PLANTED_PASSWORD}/x@127.0.0.1/app"\n',
        "environments.x.database.url is not a PostgreSQL connection string",
    ),
    row(
        "database-url-empty-literal",
        HEAD + '[environments.x.database]\nurl = ""\n',
        "environments.x.database.url is empty",
    ),
    row("rpo-hours-nan", numeric("backups", "rpo_hours", "nan"), "environments.x.backups.rpo_hours", "nan"),
    row(
        "rpo-hours-nan-from-variable",
        numeric("backups", "rpo_hours", '"${OPSCHECK_TEST_RPO}"'),
        "environments.x.backups.rpo_hours",
        "nan",
        environ={"OPSCHECK_TEST_RPO": "nan"},
    ),
    row(
        "rto-minutes-inf-from-variable",
        numeric("backups", "rto_minutes", '"${OPSCHECK_TEST_RTO}"'),
        "environments.x.backups.rto_minutes",
        environ={"OPSCHECK_TEST_RTO": "inf"},
    ),
    row(
        "retention-days-inf",
        numeric("backups", "retention_days", "inf"),
        "environments.x.backups.retention_days",
    ),
    row(
        "timeout-nan-from-variable",
        numeric(None, "timeout_s", '"${OPSCHECK_TEST_TIMEOUT}"'),
        "environments.x.timeout_s",
        environ={"OPSCHECK_TEST_TIMEOUT": "NaN"},
    ),
    row("retries-nan", numeric(None, "retries", "nan"), "environments.x.retries"),
    row("max-latency-inf", numeric("smoke", "max_latency_ms", "inf"), "environments.x.smoke.max_latency_ms"),
    row("tls-min-days-nan", numeric("smoke", "tls_min_days", "nan"), "environments.x.smoke.tls_min_days"),
    row(
        "database-latency-from-variable",
        numeric("database", "max_latency_ms", '"${OPSCHECK_TEST_DB_MS}"'),
        "environments.x.database.max_latency_ms",
        environ={"OPSCHECK_TEST_DB_MS": "-1"},
    ),
]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OPSCHECK_TEST_BASE_URL", "OPSCHECK_TEST_IS_PRODUCTION", "SMOKE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def run(pytester: pytest.Pytester) -> pytest.RunResult:
    reports = pytester.path / "reports"
    return pytester.runpytest("-p", "no:cacheprovider", "--opscheck-reports", str(reports), "--env", "x")


@pytest.mark.parametrize("bad", ROWS)
def test_bad_config_is_one_line_and_exit_4(
    bad: BadConfig, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pytester.path / "opscheck.toml").write_bytes(bad.body)
    if bad.prepare is not None:
        bad.prepare(pytester.path)
    for name, value in bad.environ.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(test_checks=CHECK)
    result = run(pytester)
    output = "\n".join(result.outlines + result.errlines)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert "Traceback" not in output
    errors = [line for line in result.errlines if line.startswith("ERROR: ")]
    assert len(errors) == 1, output
    for words in bad.says:
        assert words.format(tmp=pytester.path) in errors[0], output
    assert PLANTED_PASSWORD not in output


# -- the lazy rule still holds for values only some checks need ---------------------------------------------
LAZY = """
import pytest

@pytest.mark.runbook("database-connection-errors", severity="P0")
def test_needs_the_database(opscheck_env):
    opscheck_env.database.url

@pytest.mark.runbook("authentication-issues", severity="P1")
def test_needs_the_password(opscheck_env):
    opscheck_env.auth.password

@pytest.mark.runbook("site-down-p0", severity="P0")
def test_needs_neither(opscheck_env):
    assert opscheck_env.base_url == "http://127.0.0.1:9"
"""


def test_variables_only_some_checks_need_error_only_those_checks(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (
        HEAD
        + '[environments.x.database]\nurl = "${DATABASE_URL}"\n'
        + '[environments.x.auth]\nusername = "u"\npassword = "${SMOKE_PASSWORD}"\n'
    )
    (pytester.path / "opscheck.toml").write_text(body, encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", "")  # a missing CI secret expands to the empty string
    pytester.makepyfile(test_checks=LAZY)
    result = run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    checks = checks_by_name(summary(pytester.path / "reports"))
    assert checks["test_needs_the_database"]["outcome"] == "error"
    assert checks["test_needs_the_database"]["message"] == (
        "DATABASE_URL is empty, which counts as not set (environments.x.database.url)"
    )
    assert (
        checks["test_needs_the_password"]["message"]
        == "SMOKE_PASSWORD is not set (environments.x.auth.password)"
    )
    assert checks["test_needs_neither"]["outcome"] == "passed"
