"""Unit tests of opscheck.credentials: dotenv loading and the pure rules, each failing when broken and passing
when right, and never quoting a value (not even a prefix) in what it says."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opscheck.config import ConfigFile, CredentialsSettings, load_config
from opscheck.credentials.database import RolePrivileges, parse_postgres_url, postgres_url_finding
from opscheck.credentials.exposure import Needle, exposure_needles, public_copies, script_references
from opscheck.credentials.findings import Finding, enforce
from opscheck.credentials.reuse import find_reuse
from opscheck.credentials.sources import CredentialSource, EnvFileError, load_source, parse_env_file
from opscheck.credentials.values import (
    MIN_BITS_PER_BYTE,
    MIN_KEY_BYTES,
    MIN_TOTAL_BITS,
    NEXTAUTH_DOCS_SAMPLE_SECRET,
    KeyMaterial,
    key_material,
    maintenance_mode_finding,
    nextauth_secret_finding,
    nextauth_url_finding,
    placeholder_kind,
    required_finding,
    sentry_dsn_finding,
    shannon_entropy,
)
from opscheck.errors import CheckFailed
from opscheck.secrets import redactor
from tests.support.suite_run import write_environments

SAMPLES = 20_000


def said(finding: Finding) -> str:
    return " ".join([finding.expected, finding.seen or "", finding.skipped or "", *finding.notes])


def assert_quiet(finding: Finding, value: str) -> None:
    """Nothing the finding says contains the value, or (unless it is a URL, whose scheme is no secret) its
    first or last six characters."""
    text = said(finding)
    parts = {value, value[:6], value[-6:]} if len(value) >= 12 and "://" not in value else {value}
    assert not [part for part in parts if part and part in text], text


def openssl_base64_32() -> str:
    """What `openssl rand -base64 32` prints: 32 random bytes, standard base64 with padding."""
    return base64.b64encode(os.urandom(32)).decode()


# ============================================================================================ dotenv


def test_env_file_understands_quotes_export_comments_and_multiline(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# Created by Vercel CLI\n"
        'DATABASE_URL="postgresql://app:p%40ss@db.acme-corp.test/app?sslmode=verify-full"\n'
        "export NEXTAUTH_SECRET='abc$def'\n"
        "NEXTAUTH_URL=https://app.acme-corp.test # the public URL\n"
        'PRIVATE_KEY="-----BEGIN KEY-----\nline two\n-----END KEY-----"\n'
        "\n"
        "BARE\n"
        "DUP=first\n"
        "DUP=second\n"
        "INTERPOLATED=${NEXTAUTH_SECRET}\n",
        encoding="utf-8",
    )
    values = parse_env_file(path)
    assert values == {
        "DATABASE_URL": "postgresql://app:p%40ss@db.acme-corp.test/app?sslmode=verify-full",
        "NEXTAUTH_SECRET": "abc$def",
        "NEXTAUTH_URL": "https://app.acme-corp.test",
        "PRIVATE_KEY": "-----BEGIN KEY-----\nline two\n-----END KEY-----",
        "BARE": "",
        "DUP": "second",
        "INTERPOLATED": "${NEXTAUTH_SECRET}",  # a value is taken as written, never expanded
    }
    # registered the moment they were read: secret names, and URL passwords in any form
    assert "abc$def" in redactor()
    assert "p@ss" in redactor()
    assert "https://app.acme-corp.test" not in redactor()


def test_missing_env_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError, match=f"credentials.env_file {tmp_path / 'nope.env'} does not exist"):
        parse_env_file(tmp_path / "nope.env")
    with pytest.raises(EnvFileError, match="is a directory"):
        parse_env_file(tmp_path)


def test_env_file_that_is_not_utf8_is_an_error_without_content(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"NEXTAUTH_SECRET=\xff\xfe\n")
    with pytest.raises(EnvFileError, match="not UTF-8 text"):
        parse_env_file(path)


def test_malformed_lines_are_reported_by_number_and_name_never_by_value(tmp_path: Path) -> None:
    hidden = secrets.token_urlsafe(20)
    path = tmp_path / ".env"
    path.write_text(
        f"OK=1\nnot an assignment {hidden}\nAPI_TOKEN='{hidden}x\nLATER=2\n",
        encoding="utf-8",
    )
    with pytest.raises(EnvFileError) as caught:
        parse_env_file(path)
    message = str(caught.value)
    assert "line 2, line 3 (API_TOKEN) are not a valid dotenv assignment" in message
    assert hidden[:6] not in message
    assert redactor().scrub(f"saw {hidden}") == "saw ***"  # registered although the line was malformed


def test_source_is_the_env_file_when_set_else_the_process_environment(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text("NEXTAUTH_SECRET=from-file-1234\n", encoding="utf-8")
    settings = CredentialsSettings({"env_file": "app.env"}, "environments.x.credentials", "x", tmp_path)
    from_file = load_source(settings, environ={"NEXTAUTH_SECRET": "from-process"})
    assert from_file.get("NEXTAUTH_SECRET") == "from-file-1234"
    assert from_file.origin == f"env file {tmp_path / 'app.env'}"
    from_process = load_source(
        CredentialsSettings({}, "environments.x.credentials", "x", tmp_path),
        environ={"NEXTAUTH_SECRET": "from-process"},
    )
    assert from_process.get("NEXTAUTH_SECRET") == "from-process"
    assert from_process.origin == "the process environment"
    assert "from-process" in redactor()
    assert repr(from_process) == "CredentialSource(the process environment, 1 variables)"


# ============================================================================ required and placeholders


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("changeme", "a placeholder word"),
        ("CHANGE_ME", "a placeholder word"),
        ("TODO", "a placeholder word"),
        ("xxxxxxxx", "a run of x's"),
        ("https://xxx@o1.ingest.sentry.io/42", "a run of x's"),
        ("https://app.example.com", "a placeholder word"),
        ("sk_live_TODO", "an unfinished-work marker"),
        ("<your-secret>", "an angle-bracket placeholder"),
        ("postgresql://<user>:<password>@<host>/db", "an angle-bracket placeholder"),
        ("********", "a masked value (asterisks or dots)"),
        ("your-secret-here", "a placeholder word"),
        ("please-change-me-now", "a placeholder phrase"),
        ("insert-key-here", "a placeholder phrase"),
        ("postgresql://app:password@db.acme-corp.test/app", "a placeholder password in the URL"),
        (NEXTAUTH_DOCS_SAMPLE_SECRET, "the sample secret from the NextAuth docs"),
    ],
)
def test_placeholders_are_recognised(value: str, kind: str) -> None:
    assert placeholder_kind(value) == kind
    finding = required_finding("SOME_SECRET", value)
    assert (finding.rule, finding.seen) == ("placeholder", f"a placeholder: {kind}")
    assert_quiet(finding, value)


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://app:Zk3-q@db.acme-corp.test:5432/todo",  # a todo app's database is not a placeholder
        "https://app.acme-corp.test",
        "true",
        "exampled",
        "a1b2c3",
    ],
)
def test_real_values_are_not_placeholders(value: str) -> None:
    assert placeholder_kind(value) is None
    assert required_finding("NAME", value).ok


def test_random_secrets_are_never_taken_for_placeholders() -> None:
    for _ in range(SAMPLES // 4):
        raw = os.urandom(32)
        for value in (base64.b64encode(raw).decode(), raw.hex(), base64.urlsafe_b64encode(raw).decode()):
            assert placeholder_kind(value) is None


def test_required_variable_missing_or_empty() -> None:
    assert required_finding("API_KEY", None).seen == "it is not set"
    assert required_finding("API_KEY", "  ").seen == "it is set but empty"
    with pytest.raises(
        CheckFailed,
        match=r"^API_KEY \[set\]: expected a real value .*, saw it is not set, in env file /x.env$",
    ):
        enforce(required_finding("API_KEY", None), origin="env file /x.env")


# ==================================================================================== NEXTAUTH_SECRET


def test_key_material_is_decoded_hex_or_base64_else_raw() -> None:
    raw = os.urandom(32)
    assert key_material(raw.hex()) == KeyMaterial(raw, "hex")
    assert key_material(base64.b64encode(raw).decode()).data == raw
    urlsafe = b"\xfb\xff\xbf" * 11  # encodes to '-' and '_' only
    assert key_material(base64.urlsafe_b64encode(urlsafe).decode().rstrip("=")) == KeyMaterial(
        urlsafe, "base64url"
    )
    assert key_material(base64.b64encode(raw).decode()).encoding == "base64"
    assert key_material("correct horse battery staple").encoding == "raw"
    assert key_material("abc=def").encoding == "raw"  # padding in the middle is not base64


def test_openssl_rand_base64_32_always_meets_every_rule() -> None:
    """Over many random samples, with margin: the thresholds never reject a properly generated secret."""
    lowest_per_byte, lowest_total = 8.0, 1e9
    for _ in range(SAMPLES):
        value = openssl_base64_32()
        material = key_material(value)
        assert len(material.data) == MIN_KEY_BYTES
        lowest_per_byte = min(lowest_per_byte, material.bits_per_byte)
        lowest_total = min(lowest_total, material.total_bits)
    assert lowest_per_byte > MIN_BITS_PER_BYTE + 0.15, lowest_per_byte
    assert lowest_total > MIN_TOTAL_BITS + 5, lowest_total
    for _ in range(200):
        value = openssl_base64_32()
        assert all(
            nextauth_secret_finding(rule, value).ok for rule in ("key-material", "entropy", "deny-list")
        )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_real_openssl_output_meets_every_rule() -> None:
    script = "for i in $(seq 300); do openssl rand -base64 32; openssl rand -hex 32; done"
    lines = subprocess.run(["sh", "-c", script], check=True, capture_output=True, text=True).stdout.split()
    assert len(lines) == 600
    failing = [
        rule for value in lines for rule in ("key-material", "entropy", "deny-list")
        if not nextauth_secret_finding(rule, value).ok
    ]  # fmt: skip
    assert failing == []


def test_other_generators_meet_every_rule() -> None:
    for value in (
        secrets.token_urlsafe(32),
        secrets.token_hex(32),
        base64.b64encode(os.urandom(48)).decode(),
    ):
        assert all(
            nextauth_secret_finding(rule, value).ok for rule in ("key-material", "entropy", "deny-list")
        )


def test_short_secret_fails_key_material() -> None:
    value = base64.b64encode(os.urandom(16)).decode()
    finding = nextauth_secret_finding("key-material", value)
    assert finding.seen == "16 bytes (base64-decoded)"
    assert finding.metrics == {"key_bytes": 16}
    assert_quiet(finding, value)


@pytest.mark.parametrize(
    "value",
    ["ab" * 40, "0" * 64, "12345678901234567890123456789012345678901234567890abcd", "a" * 48 + "b" * 48],
)
def test_low_entropy_secret_fails_entropy(value: str) -> None:
    finding = nextauth_secret_finding("entropy", value)
    assert "bits per byte" in (finding.seen or "")
    assert_quiet(finding, value)


def test_entropy_measure() -> None:
    assert shannon_entropy(b"") == 0
    assert shannon_entropy(b"aaaa") == 0
    assert shannon_entropy(bytes(range(256))) == 8
    assert shannon_entropy(b"abab") == 1


@pytest.mark.parametrize("value", [NEXTAUTH_DOCS_SAMPLE_SECRET, "supersecret", "Keyboard Cat", " secret "])
def test_deny_listed_secret_fails(value: str) -> None:
    finding = nextauth_secret_finding("deny-list", value)
    assert finding.seen in {
        "the sample secret from the NextAuth docs",
        "a value on the deny-list of well-known secrets",
    }
    assert_quiet(finding, value)


def test_docs_sample_passes_the_other_rules() -> None:
    """It is 32 random-looking bytes: only the deny-list (and the placeholder rule) catch it."""
    assert nextauth_secret_finding("key-material", NEXTAUTH_DOCS_SAMPLE_SECRET).ok
    assert nextauth_secret_finding("entropy", NEXTAUTH_DOCS_SAMPLE_SECRET).ok


def test_unknown_rule_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown"):
        nextauth_secret_finding("length", "x")


# ======================================================================================= NEXTAUTH_URL

BASE = "https://app.acme-corp.test"


def url(rule: str, value: str, production: bool = True, base_url: str = BASE) -> Finding:
    return nextauth_url_finding(rule, value, base_url=base_url, production=production)


@pytest.mark.parametrize(
    "value", ["app.acme-corp.test", "/api/auth", "ftp://app.acme-corp.test", "https://", "http://h:x/"]
)
def test_nextauth_url_must_be_absolute(value: str) -> None:
    assert url("absolute", value).seen == "not an absolute http(s) URL"
    assert url("host", value).skipped == "it is not an absolute http(s) URL (see the absolute rule)"


def test_nextauth_url_https_in_production_only() -> None:
    assert url("https", "http://app.acme-corp.test").seen == "an http:// URL"
    assert url("https", "https://app.acme-corp.test").ok
    assert url("https", "http://app.acme-corp.test", production=False).skipped is not None


@pytest.mark.parametrize(
    ("value", "seen"),
    [
        ("https://user:pw@app.acme-corp.test", "a URL with user info"),
        ("https://app.acme-corp.test/?a=1", "a URL with a query string"),
        ("https://app.acme-corp.test/#", "a URL with a fragment"),
        ("https://u@app.acme-corp.test/?a=1#f", "a URL with user info and a query string and a fragment"),
    ],
)
def test_nextauth_url_has_no_extras(value: str, seen: str) -> None:
    assert url("no-extras", value).seen == seen
    assert url("no-extras", "https://app.acme-corp.test/api/auth").ok  # a base path is fine


def test_nextauth_url_host_is_base_urls() -> None:
    assert url("host", "https://APP.acme-corp.test./").ok
    assert url("host", "https://staging.acme-corp.test").seen == "host staging.acme-corp.test"
    assert (
        url("host", "https://staging.acme-corp.test").expected == "the host of base_url (app.acme-corp.test)"
    )
    noted = url("host", "http://app.acme-corp.test:8080")
    assert noted.ok
    assert noted.notes == (
        "its port differs from base_url's: sign-in callbacks may go to the wrong port",
        "its scheme (http) differs from base_url's (https)",
    )
    assert url("host", "https://app.acme-corp.test:443").notes == ()


# ======================================================================================= DATABASE_URL


def db(rule: str, value: str, production: bool = True) -> Finding:
    return postgres_url_finding(rule, value, production=production)


def test_postgres_url_is_taken_apart_like_libpq() -> None:
    parsed = parse_postgres_url("postgresql://app:s%40cret@h1:5432,[::1]:6432/app%20db?sslmode=verify-full")
    assert parsed.hosts == ("h1", "::1")
    assert parsed.ports == ("5432", "6432")
    assert (parsed.user, parsed.dbname, parsed.has_password, parsed.sslmode) == (
        "app",
        "app db",
        True,
        "verify-full",
    )
    assert parse_postgres_url("postgres:///app?host=/var/run/postgresql").hosts == ("/var/run/postgresql",)
    prisma = parse_postgres_url("postgresql://db/app?schema=public")  # a parameter libpq does not know
    assert (prisma.ignored, prisma.params) == (("schema",), {"host": "db", "dbname": "app"})


@pytest.mark.parametrize(
    ("value", "dbname"),
    [
        ("postgresql://app:pw@db/app#blue", "app#blue"),  # no fragments in libpq's URLs
        ("postgresql://app:pw@db/app?sslmode=verify-full#blue", None),  # nor in a parameter's value
    ],
)
def test_postgres_url_is_read_by_libpq_itself(value: str, dbname: str | None) -> None:
    """What the hand-written parser read differently from libpq, which is what connects."""
    if dbname is None:
        assert db("parses", value).seen == "its sslmode is not one libpq knows"  # it was taken as verify-full
    else:
        assert parse_postgres_url(value).dbname == dbname


def test_an_upper_case_scheme_libpq_cannot_use_does_not_parse() -> None:
    value = "POSTGRESQL://app:hunter2-secret@db.acme-corp.test/app"
    finding = db("parses", value)
    assert finding.seen == "not a postgres:// or postgresql:// URL"
    assert_quiet(finding, value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("mysql://app:pw@db/app", "not a postgres:// or postgresql:// URL"),
        ("db.acme-corp.test:5432/app", "not a postgres:// or postgresql:// URL"),
        ("postgresql://app:pw@db:port/app", "its port is not a number"),
        ("postgresql://app:pw@db:70000/app", "its port is out of range"),
        ("postgresql://app:p%zz@db/app", "it has an invalid percent-escape"),
        ("postgresql://app:pw@[::1/app", "it has a malformed IPv6 host"),
        ("postgresql://db/app?sslmode=yes", "its sslmode is not one libpq knows"),
        ("postgresql://db/app?port=abc", "its port is not a number"),
        ("postgresql://app:hunter2-secret@db/app?sslmode=require?x=1", "libpq cannot parse it"),
    ],
)
def test_unparseable_database_url_fails_without_quoting_it(value: str, reason: str) -> None:
    finding = db("parses", value)
    assert finding.seen == reason
    assert_quiet(finding, value)
    assert db("sslmode", value).skipped == "it does not parse (see the parses rule)"


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://app:pw@localhost/app",
        "postgresql://app:pw@127.0.0.1:5432/app",
        "postgresql://app:pw@127.8.9.10/app",
        "postgresql://app:pw@[::1]/app",
        "postgresql://app:pw@0.0.0.0/app",
        "postgresql://app:pw@db.localhost/app",
        "postgresql:///app",
        "postgresql://app@/app?host=/var/run/postgresql",
        "postgresql://app:pw@db.acme-corp.test,localhost/app",
        "postgresql://app:pw@db.acme-corp.test/app?hostaddr=127.0.0.1",
    ],
)
def test_production_database_is_not_local(value: str) -> None:
    finding = db("not-localhost", value)
    assert (finding.seen or "").startswith("a local host")
    assert db("not-localhost", value, production=False).skipped is not None


def test_remote_production_database_passes_not_localhost() -> None:
    assert db("not-localhost", "postgresql://app:pw@db.acme-corp.test:5432/app").ok
    assert db("not-localhost", "postgresql://app:pw@10.0.0.5/app").ok


@pytest.mark.parametrize(
    ("sslmode", "verdict"),
    [
        ("verify-full", "pass"),
        ("verify-ca", "warn"),
        ("require", "warn"),
        ("prefer", "fail"),
        ("allow", "fail"),
        ("disable", "fail"),
        (None, "fail"),
    ],
)
def test_sslmode_rule(sslmode: str | None, verdict: str) -> None:
    value = "postgresql://app:pw@db.acme-corp.test/app" + (f"?sslmode={sslmode}" if sslmode else "")
    finding = db("sslmode", value)
    assert (finding.seen is None) == (verdict != "fail")
    assert bool(finding.notes) == (verdict == "warn")
    if verdict == "warn":
        assert finding.notes[0].startswith(f"sslmode={sslmode} encrypts but does not verify")
    assert db("sslmode", value, production=False).skipped is not None


# ========================================================================================= SENTRY_DSN


def test_sentry_dsn_format() -> None:
    good = "https://0123456789abcdef0123456789abcdef@o123.ingest.sentry.io/4505"
    assert sentry_dsn_finding("format", good).ok
    assert sentry_dsn_finding(
        "format", "https://key@sentry.acme-corp.test/sentry/7"
    ).ok  # self-hosted, path prefix
    assert sentry_dsn_finding("format", "https://o123.ingest.sentry.io/4505").seen == "it has no public key"
    assert sentry_dsn_finding("format", "ftp://k@h/1").seen == "its scheme is not http or https"
    assert sentry_dsn_finding("format", "https://k@h/").seen == "its project id is missing or not numeric"
    assert sentry_dsn_finding("format", "https://k@h:port/1").seen == "not a URL"
    finding = sentry_dsn_finding("format", "just words")
    assert "it has no host" in (finding.seen or "")


def test_sentry_dsn_has_no_legacy_secret_key() -> None:
    value = "https://0123456789abcdef:fedcba9876543210@o1.ingest.sentry.io/42"
    finding = sentry_dsn_finding("no-secret-key", value)
    assert finding.seen == "a secret key after the public key"
    assert_quiet(finding, value)
    assert sentry_dsn_finding("no-secret-key", "https://0123456789abcdef@o1.ingest.sentry.io/42").ok


# =================================================================================== MAINTENANCE_MODE


@pytest.mark.parametrize(
    ("value", "ok"), [(None, True), ("", True), ("false", True), ("0", True), ("Off", True)]
)
def test_maintenance_mode_off(value: str | None, ok: bool) -> None:
    assert maintenance_mode_finding(value, production=True).ok is ok


@pytest.mark.parametrize("value", ["true", "1", "YES", "on", "maybe"])
def test_maintenance_mode_on_or_unclear_fails_in_production(value: str) -> None:
    assert maintenance_mode_finding(value, production=True).seen is not None
    assert maintenance_mode_finding(value, production=False).skipped is not None


# ================================================================================= database privileges


def test_role_privilege_problems() -> None:
    assert RolePrivileges((), (), ()).finding().ok
    assert RolePrivileges(("",), ("", "pg_admin"), ("",)).problems() == ["it is a superuser"]
    assert RolePrivileges(("admin",), (), ()).problems() == ["it is a superuser through membership in admin"]
    assert RolePrivileges((), ("",), ("", "other")).problems() == [
        "it can create roles (CREATEROLE)",
        "it can create databases (CREATEDB)",
    ]


# ============================================================================================== reuse


Environments = dict[str, dict[str, Any]]


@pytest.fixture
def write_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[Environments], ConfigFile]:
    """Write and load an opscheck.toml whose ${PROD_DB} and ${STAGING_DB} share a password."""
    monkeypatch.setenv("PROD_DB", "postgresql://a:shared-db-pass@p/app")
    monkeypatch.setenv("STAGING_DB", "postgresql://b:shared-db-pass@s/app")
    return lambda environments: load_config(write_environments(tmp_path, environments))


def site(host: str, env_file: str | None = None, database_url: str | None = None) -> dict[str, Any]:
    """An environment at ``https://<host>.acme-corp.test``, with an env file and a database when given."""
    environment: dict[str, Any] = {"base_url": f"https://{host}.acme-corp.test"}
    if env_file is not None:
        environment["credentials"] = {"env_file": env_file}
    if database_url is not None:
        environment["database"] = {"url": database_url}
    return environment


def test_secret_shared_by_two_environments_is_found_by_hash(
    tmp_path: Path, write_config: Callable[[Environments], ConfigFile]
) -> None:
    shared = secrets.token_urlsafe(24)
    (tmp_path / "prod.env").write_text(f"NEXTAUTH_SECRET={shared}\nAPI_TOKEN={secrets.token_hex(12)}\n")
    (tmp_path / "staging.env").write_text(f"SESSION_SECRET={shared}\nAPI_TOKEN={secrets.token_hex(12)}\n")
    config = write_config(
        {
            "production": site("app", "prod.env", "${PROD_DB}"),
            "staging": site("staging", "staging.env", "${STAGING_DB}"),
            "preview": site("preview"),
        }
    )
    source = load_source(config.environment("production").credentials)
    reuse = find_reuse(config, "production", source)
    assert reuse.shared == (
        ("NEXTAUTH_SECRET", "staging", "SESSION_SECRET"),
        (
            "environments.production.database.url password",
            "staging",
            "environments.staging.database.url password",
        ),
    )
    assert reuse.compared == ("staging",)
    assert reuse.notes == ("environment preview has no env file of its own: its variables are not compared",)
    finding = reuse.finding()
    assert finding.variable == "NEXTAUTH_SECRET and environments.production.database.url password"
    assert "NEXTAUTH_SECRET is also staging's SESSION_SECRET" in (finding.seen or "")
    assert_quiet(finding, shared)


def test_same_variable_reference_and_same_env_file_are_not_reuse(
    tmp_path: Path, write_config: Callable[[Environments], ConfigFile]
) -> None:
    (tmp_path / "app.env").write_text(f"NEXTAUTH_SECRET={secrets.token_urlsafe(24)}\n")
    config = write_config(
        {"production": site("app", "app.env", "${PROD_DB}"), "again": site("again", "app.env", "${PROD_DB}")}
    )
    reuse = find_reuse(config, "production", load_source(config.environment("production").credentials))
    assert reuse.shared == ()
    assert reuse.notes == ("environment again reads the same env file: its variables are not compared",)
    assert reuse.finding().ok


def test_only_environment_has_nothing_to_compare(write_config: Callable[[Environments], ConfigFile]) -> None:
    config = write_config({"production": site("app")})
    reuse = find_reuse(config, "production", CredentialSource({}, "the process environment"))
    assert reuse.finding().skipped == "nothing to compare with: it is the only environment in the config"


# =========================================================================================== exposure


def found(needles: list[Needle], text: bytes) -> set[tuple[str, str]]:
    return {(n.variable, n.form) for n in needles if n.data in text}


@pytest.mark.parametrize("prefix", ["", "a", "ab", '{"k":"', "xyz1234"])
def test_base64_needles_find_a_secret_inside_any_encoded_blob(prefix: str) -> None:
    secret = secrets.token_urlsafe(20)
    needles, short = exposure_needles({"API_SECRET": secret})
    assert short == []
    blob = (prefix + secret + '","more":1}').encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        assert ("API_SECRET", "base64") in found(needles, b"var c='" + encode(blob) + b"'")
    assert ("API_SECRET", "raw") in found(needles, b"const x = " + secret.encode())


def test_secret_spellings_json_and_url_encoded() -> None:
    secret = 'p/ss"word+with spaces'
    needles, _ = exposure_needles({"DB_PASSWORD": secret})
    assert ("DB_PASSWORD", "JSON-escaped") in found(needles, json.dumps({"p": secret}).encode())
    assert ("DB_PASSWORD", "URL-encoded") in found(needles, b"?p=p%2Fss%22word%2Bwith%20spaces")


def test_what_counts_as_a_secret_to_look_for() -> None:
    values = {
        "DATABASE_URL": "postgresql://app:db-password-123@db/app",
        "NEXTAUTH_URL": "https://app.acme-corp.test",
        "SENTRY_DSN": "https://0123456789abcdef:legacy-secret-1@o1.ingest.sentry.io/1",
        "NEXT_PUBLIC_API_KEY": "public-by-design-123",
        "SHORT_TOKEN": "abc123",
        "FEATURE_FLAG_SECRET_ENABLED": "true",
    }
    needles, short = exposure_needles(values)
    variables = {n.variable for n in needles}
    assert variables == {"DATABASE_URL", "SENTRY_DSN"}
    assert {n.data for n in needles if n.form == "raw"} == {
        b"db-password-123",
        b"postgresql://app:db-password-123@db/app",
        b"legacy-secret-1",  # the DSN's public part is public by design, its legacy secret key is not
    }
    assert short == ["SHORT_TOKEN"]


def test_secret_copied_into_a_next_public_variable() -> None:
    secret = secrets.token_urlsafe(24)
    values = {"NEXTAUTH_SECRET": secret, "NEXT_PUBLIC_AUTH_SECRET": secret, "NEXT_PUBLIC_SITE": "acme"}
    needles, _ = exposure_needles(values)
    assert public_copies(values, needles) == [("NEXTAUTH_SECRET", "NEXT_PUBLIC_AUTH_SECRET")]


def test_script_references_in_html_and_flight_payloads() -> None:
    html = b"""<html><head>
<link rel="preload" as="script" href="/_next/static/chunks/webpack-abc.js"/>
<script src="/_next/static/chunks/main-app.js?v=1" async=""></script>
<script src="/docs/_next/static/chunks/pages/blog/[slug]-d4e5.js"></script>
<script src="https://app.acme-corp.test/_next/static/chunks/absolute.js"></script>
<script src="https://cdn.acme-corp.test/_next/static/chunks/cdn.js"></script>
<script src="//cdn.acme-corp.test/_next/static/chunks/cdn2.js"></script>
<link rel="stylesheet" href="/_next/static/css/app.css"/>
</head><body><script>self.__next_f.push([1,"2:I[\\"7\\",[\\"static/chunks/app/(shop)/page-1.js\\"],\\"\\"]"])</script>
<a href="/_next/static/chunks/data.json">x</a></body></html>"""
    refs, foreign = script_references(html, "https://app.acme-corp.test")
    assert refs == [
        "https://app.acme-corp.test/_next/static/chunks/webpack-abc.js",
        "https://app.acme-corp.test/_next/static/chunks/main-app.js",
        "https://app.acme-corp.test/docs/_next/static/chunks/pages/blog/[slug]-d4e5.js",
        "https://app.acme-corp.test/_next/static/chunks/absolute.js",
        "https://app.acme-corp.test/_next/static/chunks/app/(shop)/page-1.js",
    ]
    assert foreign == [
        "https://cdn.acme-corp.test/_next/static/chunks/cdn.js",
        "https://cdn.acme-corp.test/_next/static/chunks/cdn2.js",
    ]
