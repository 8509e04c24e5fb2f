"""The shipped credentials suite against real components: dotenv files, a real PostgreSQL with a superuser and
a read-only role, a real moto_server that enforces IAM (STS, IAM, S3), and a local site whose
``/_next/static`` bundle leaks planted secrets.

Each run is the real ``suites/credentials`` in a subprocess, read back from ``opscheck-summary.json``. A run
breaks many rules at once (every rule is a check of its own), so a handful of runs shows each rule failing
when broken, with the variable's name and the runbook section, and passing when right. Every run that holds
planted values is scanned for them in every output: terminal, summary JSON, JUnit and Allure results.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest

from opscheck.clients.http import OpsClient
from opscheck.credentials.aws import AwsAccess
from opscheck.credentials.database import role_privileges
from opscheck.credentials.exposure import exposure_needles, scan_site, script_references
from opscheck.credentials.values import NEXTAUTH_DOCS_SAMPLE_SECRET
from opscheck.restore.servers.local import LocalCluster
from tests.support.certs import LocalPKI
from tests.support.credentials_run import (
    AUTH,
    BACKUPS,
    CONNECT,
    DB,
    DEMO_REQUIRED,
    ENV_VARS,
    EXPOSURE,
    HTML_HEADERS,
    INCIDENT,
    KEY_AGE,
    MAINTENANCE,
    MAINTENANCE_SECTION,
    MONITORING,
    NO_REMOTE_DB,
    READ_ONLY_ROLE,
    REUSE,
    ROLE,
    ROLES,
    ROTATION,
    SCRIPT_HEADERS,
    STS,
    Env,
    assert_no_leaks,
    assert_verdict,
    bucket_rule,
    db_rule,
    required,
    run_credentials,
    secret_rule,
    sentry_rule,
    site_routes,
    token,
    url_rule,
    write_project,
)
from tests.support.iam_moto import STALE_KEY_AGE_DAYS, STALE_USER_PREFIX, running_iam_moto
from tests.support.moto import client_for, running_moto
from tests.support.project import REPO
from tests.support.servers import LocalHTTPServer, Route, closed_port
from tests.support.suite_run import SuiteRun

BACKUP_BUCKET = "creds-backups"
BARE_BUCKET = "creds-bare"


# ----------------------------------------------------------------------------------------- components


@dataclass(frozen=True)
class AwsKey:
    access_key: str
    secret_key: str


@dataclass(frozen=True)
class Aws:
    endpoint: str
    writer: AwsKey  # s3:* and iam:ListAccessKeys, key created today
    stale: AwsKey  # the same rights, key created STALE_KEY_AGE_DAYS ago
    limited: AwsKey  # s3:* only: IAM will not tell it its key's age


_WRITER_POLICY = {"Effect": "Allow", "Action": ["s3:*", "iam:ListAccessKeys"], "Resource": "*"}
_LIMITED_POLICY = {"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}


def _user(iam: Any, name: str, statement: dict[str, Any]) -> AwsKey:
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="backups",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return AwsKey(key["AccessKeyId"], key["SecretAccessKey"])


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    """moto enforcing IAM, with a protected backup bucket, a bare one, and three users."""
    with running_iam_moto() as server:
        with server.auth_disabled():
            s3 = client_for(server.endpoint)
            iam = client_for(server.endpoint, service="iam")
            s3.create_bucket(Bucket=BACKUP_BUCKET)
            s3.put_bucket_versioning(Bucket=BACKUP_BUCKET, VersioningConfiguration={"Status": "Enabled"})
            s3.put_bucket_encryption(
                Bucket=BACKUP_BUCKET,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            )
            s3.put_public_access_block(
                Bucket=BACKUP_BUCKET,
                PublicAccessBlockConfiguration=dict.fromkeys(
                    ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
                    True,
                ),
            )
            s3.create_bucket(Bucket=BARE_BUCKET)
            aws = Aws(
                endpoint=server.endpoint,
                writer=_user(iam, "backup-writer", _WRITER_POLICY),
                stale=_user(iam, f"{STALE_USER_PREFIX}writer", _WRITER_POLICY),
                limited=_user(iam, "limited-writer", _LIMITED_POLICY),
            )
        yield aws


@dataclass(frozen=True)
class Database:
    readonly_url: str
    superuser_url: str
    readonly_password: str


@pytest.fixture(scope="module")
def database(pg_cluster: LocalCluster) -> Iterator[Database]:
    """A database with a read-only login role (no SUPERUSER, CREATEROLE or CREATEDB), dropped afterwards."""
    name = f"creds_{uuid.uuid4().hex[:10]}"
    role = f"reader_{uuid.uuid4().hex[:8]}"
    password = secrets.token_urlsafe(18)
    pg_cluster.create_database(name)
    pg_cluster.psql(
        "-c", f"CREATE ROLE {role} LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEROLE NOCREATEDB"
    )
    pg_cluster.psql("-c", f"GRANT CONNECT ON DATABASE {name} TO {role}")
    try:
        yield Database(pg_cluster.dsn(name, user=role, password=password), pg_cluster.dsn(name), password)
    finally:
        pg_cluster.drop_database(name)
        pg_cluster.psql("-c", f"DROP ROLE IF EXISTS {role}")


def backups_for(aws: Aws, bucket: str = BACKUP_BUCKET, endpoint: str | None = None) -> dict[str, str]:
    return {
        "location": f"s3://{bucket}/db/",
        "s3_endpoint_url": endpoint or aws.endpoint,
        "region": "us-east-1",
    }


def aws_vars(key: AwsKey) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": key.access_key, "AWS_SECRET_ACCESS_KEY": key.secret_key}


# ================================================================================== 1. well configured


def test_well_configured_environment_passes_every_check_or_skips_with_a_reason(
    pytester: pytest.Pytester, tmp_path: Path, aws: Aws, database: Database
) -> None:
    nextauth_secret = base64.b64encode(secrets.token_bytes(32)).decode()  # `openssl rand -base64 32`
    with LocalHTTPServer(site_routes()) as site:
        dotenv = {
            "DATABASE_URL": database.readonly_url,
            "NEXTAUTH_SECRET": nextauth_secret,
            "NEXTAUTH_URL": site.url,
            "SENTRY_DSN": f"https://{secrets.token_hex(16)}@o1.ingest.sentry.io/4242",
            **aws_vars(aws.writer),
        }
        staging = {
            "DATABASE_URL": f"postgresql://app:{token()}@db.staging.acme-corp.test/app?sslmode=verify-full",
            "NEXTAUTH_SECRET": token(32),
            "AWS_SECRET_ACCESS_KEY": token(30),
        }
        config = write_project(
            tmp_path,
            {
                "x": Env(site.url, dotenv=dotenv, backups=backups_for(aws)),
                "staging": Env("https://staging.acme-corp.test", dotenv=staging),
            },
        )
        run = run_credentials(pytester, config, tmp_path / "reports")

    assert run.result.ret == 0, run.output
    skipped = {name: c["message"] for name, c in run.checks.items() if c["outcome"] == "skipped"}
    assert set(skipped) == {
        url_rule("https"),
        db_rule("not-localhost"),
        db_rule("sslmode"),
        MAINTENANCE,
        READ_ONLY_ROLE,
    }
    assert "database] is not configured" in skipped.pop(READ_ONLY_ROLE)
    assert all("production = false" in message for message in skipped.values()), skipped
    assert {o for n, o in run.outcomes().items() if n not in skipped and n != READ_ONLY_ROLE} == {"passed"}
    assert len(run.checks) == 29  # and the secret-source and URL-source checks of next-auth 4 and 5
    assert run.check(CONNECT)["metrics"]["server_version"]
    assert run.check(secret_rule("key-material"))["metrics"]["key_bytes"] == 32
    assert run.check(KEY_AGE)["metrics"]["access_key_age_days"] < 1
    assert run.check(REUSE)["metrics"]["environments_compared"] == ["staging"]
    exposure = run.check(EXPOSURE)
    # both pages, and the five same-origin scripts (tag, preload, import(), flight payload), not the CDN one
    assert exposure["metrics"]["pages_scanned"] == 2
    assert exposure["metrics"]["scripts_scanned"] == 5
    assert exposure["metrics"]["secrets_searched"] == 3  # NEXTAUTH_SECRET, DATABASE_URL, AWS secret key
    assert any("another origin" in note for note in exposure["notes"])
    assert_no_leaks(
        run,
        {
            "NEXTAUTH_SECRET": nextauth_secret,
            "database password": database.readonly_password,
            "AWS secret": aws.writer.secret_key,
            "staging NEXTAUTH_SECRET": staging["NEXTAUTH_SECRET"],
            "staging AWS secret": staging["AWS_SECRET_ACCESS_KEY"],
        },
    )


def test_well_configured_production_over_https_passes(
    pytester: pytest.Pytester, tmp_path: Path, aws: Aws
) -> None:
    pki = LocalPKI(tmp_path / "pki")
    db_password, nextauth_secret = token(), secrets.token_hex(32)  # `openssl rand -hex 32` is fine too
    with LocalHTTPServer(site_routes(), ssl_context=pki.valid().server_context) as site:
        dotenv = {
            "DATABASE_URL": f"postgresql://app:{db_password}@db.acme-corp.test:5432/app?sslmode=verify-full",
            "NEXTAUTH_SECRET": nextauth_secret,
            "NEXTAUTH_URL": site.url,
            "SENTRY_DSN": f"https://{secrets.token_hex(16)}@o1.ingest.sentry.io/4242",
            "MAINTENANCE_MODE": "false",
            **aws_vars(aws.limited),
        }
        env = Env(site.url, production=True, dotenv=dotenv, backups=backups_for(aws), ca_bundle=pki.ca_bundle)
        config = write_project(tmp_path, {"x": env})
        run = run_credentials(pytester, config, tmp_path / "reports", "-k", NO_REMOTE_DB)

    assert run.result.ret == 0, run.output
    for name in (url_rule("https"), db_rule("not-localhost"), db_rule("sslmode"), MAINTENANCE, EXPOSURE):
        assert_verdict(run, name, "passed")
    assert run.check(db_rule("sslmode"))["notes"] == []
    assert run.check(EXPOSURE)["metrics"]["scripts_scanned"] == 5
    key_age = assert_verdict(
        run, KEY_AGE, "skipped", says=("ListAccessKeys", "limited-writer", "age cannot be read")
    )
    assert "AccessDenied" in key_age["message"]
    assert_verdict(run, REUSE, "skipped", says=("only environment",))
    assert run.check(READ_ONLY_ROLE)["outcome"] == "skipped"
    assert {o for n, o in run.outcomes().items() if n not in (KEY_AGE, REUSE, READ_ONLY_ROLE)} == {"passed"}
    secrets_planted = {
        "NEXTAUTH_SECRET": nextauth_secret,
        "database": db_password,
        "AWS": aws.limited.secret_key,
    }
    assert_no_leaks(run, secrets_planted)


# ====================================================================================== 2. broken rules

#: check name -> (outcome, runbook section, severity, words the message must contain)
Expected = dict[str, tuple[str, str | None, str | None, tuple[str, ...]]]


def assert_verdicts(run: SuiteRun, expected: Expected) -> None:
    for name, (outcome, section, severity, says) in expected.items():
        assert_verdict(run, name, outcome, says=says, section=section, severity=severity)


def test_broken_production_fails_each_rule_with_the_variable_and_the_runbook_section(
    pytester: pytest.Pytester, tmp_path: Path, aws: Aws
) -> None:
    """Missing, empty and placeholder values, a short secret, an http NEXTAUTH_URL with extras, a local
    database without TLS (unreachable), a DSN with a secret key, maintenance on, rejected AWS keys, a
    secret shared with staging, and a bundle leaking secrets raw, base64 and through NEXT_PUBLIC_."""
    short_secret = secrets.token_hex(16)
    db_password, url_password, legacy_key = token(), token(), secrets.token_hex(16)
    bad_aws = AwsKey("AKIA" + secrets.token_hex(8).upper(), token(30))
    database_url = f"postgresql://app:{db_password}@localhost:{closed_port()}/app?sslmode=disable"
    leaks = {short_secret: "raw", bad_aws.secret_key: "base64"}
    with LocalHTTPServer(site_routes(leaks)) as site:
        host_port = site.url.split("://", 1)[1]
        dotenv = {
            "DATABASE_URL": database_url,
            "NEXTAUTH_SECRET": short_secret,
            "NEXTAUTH_URL": f"http://ops:{url_password}@{host_port}/?next=1#top",
            "SENTRY_DSN": f"https://{secrets.token_hex(16)}:{legacy_key}@o1.ingest.sentry.io/project",
            "MAINTENANCE_MODE": "true",
            "WEBHOOK_SECRET": "changeme",
            "EMPTY_TOKEN": "",
            "NEXT_PUBLIC_DEBUG_DATABASE": database_url,
            **aws_vars(bad_aws),
        }
        names = ["DATABASE_URL", "NEXTAUTH_SECRET", "NEXTAUTH_URL", "SENTRY_DSN"]
        names += ["PAYMENTS_API_KEY", "WEBHOOK_SECRET", "EMPTY_TOKEN"]
        config = write_project(
            tmp_path,
            {
                "x": Env(site.url, production=True, dotenv=dotenv, required=names, backups=backups_for(aws)),
                "staging": Env("https://staging.acme-corp.test", dotenv={"NEXTAUTH_SECRET": short_secret}),
            },
        )
        run = run_credentials(pytester, config, tmp_path / "reports")

    assert run.result.ret == 1, run.output
    env_file = str(tmp_path / "x.env")
    not_verified = ("skipped", None, None, ("not verified",))
    assert_verdicts(
        run,
        {
            **{required(name): ("passed", None, None, ()) for name in names[:4]},
            required("PAYMENTS_API_KEY"): (
                "failed",
                ENV_VARS,
                "P1",
                ("PAYMENTS_API_KEY [set]", "not set", env_file),
            ),
            required("WEBHOOK_SECRET"): (
                "failed",
                ENV_VARS,
                "P1",
                ("WEBHOOK_SECRET [placeholder]", "placeholder"),
            ),
            required("EMPTY_TOKEN"): ("failed", ENV_VARS, "P1", ("EMPTY_TOKEN [set]", "empty")),
            secret_rule("key-material"): (
                "failed",
                AUTH,
                "P1",
                ("NEXTAUTH_SECRET [key-material]", "16 bytes"),
            ),
            secret_rule("entropy"): ("failed", AUTH, "P1", ("NEXTAUTH_SECRET [entropy]", "bits in all")),
            secret_rule("deny-list"): ("passed", None, None, ()),
            url_rule("absolute"): ("passed", None, None, ()),
            url_rule("https"): ("failed", AUTH, "P1", ("NEXTAUTH_URL [https]", "http://")),
            url_rule("no-extras"): (
                "failed",
                AUTH,
                "P1",
                ("NEXTAUTH_URL [no-extras]", "user info", "query string", "fragment"),
            ),
            url_rule("host"): ("passed", None, None, ()),
            db_rule("parses"): ("passed", None, None, ()),
            db_rule("not-localhost"): ("failed", DB, "P1", ("DATABASE_URL [not-localhost]", "localhost")),
            db_rule("sslmode"): ("failed", DB, "P1", ("DATABASE_URL [sslmode]", "sslmode=disable")),
            CONNECT: ("error", DB, "P0", ("DATABASE_URL [connect]", "localhost:", "refused")),
            ROLE: ("error", ROLES, "P2", ("DATABASE_URL [least-privilege]", "refused")),
            sentry_rule("format"): ("failed", MONITORING, "P2", ("SENTRY_DSN [format]", "project id")),
            sentry_rule("no-secret-key"): (
                "failed",
                MONITORING,
                "P2",
                ("SENTRY_DSN [no-secret-key]", "secret key"),
            ),
            MAINTENANCE: (
                "failed",
                MAINTENANCE_SECTION,
                "P1",
                ("MAINTENANCE_MODE [off-in-production]", "true"),
            ),
            STS: (
                "failed",
                ROTATION,
                "P1",
                ("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY [accepted]", "InvalidClientTokenId", aws.endpoint),
            ),
            KEY_AGE: not_verified,
            **{
                bucket_rule(rule): not_verified
                for rule in ("versioning", "encryption", "public-access-block")
            },
            REUSE: ("failed", ROTATION, "P2", ("NEXTAUTH_SECRET [not-reused]", "staging's NEXTAUTH_SECRET")),
            EXPOSURE: (
                "failed",
                INCIDENT,
                "P0",
                (
                    "[not-exposed]",
                    "NEXTAUTH_SECRET (raw) in /_next/static/chunks/x.js",
                    "AWS_SECRET_ACCESS_KEY (base64) in /_next/static/chunks/x.js",
                    "DATABASE_URL (copied into NEXT_PUBLIC_DEBUG_DATABASE",
                ),
            ),
        },
    )
    assert run.check(CONNECT)["duration_s"] < 3 + 1  # bounded by timeout_s
    assert_no_leaks(
        run,
        {
            "NEXTAUTH_SECRET": short_secret,
            "database password": db_password,
            "NEXTAUTH_URL password": url_password,
            "Sentry secret key": legacy_key,
            "AWS secret": bad_aws.secret_key,
        },
    )


def test_low_entropy_secret_foreign_host_unparseable_url_stale_key_and_bare_bucket_fail(
    pytester: pytest.Pytester, tmp_path: Path, aws: Aws
) -> None:
    db_password = token()
    with LocalHTTPServer(site_routes()) as site:
        dotenv = {
            "DATABASE_URL": f"postgresql://app:{db_password}@db.acme-corp.test:notaport/app",
            "NEXTAUTH_SECRET": "ab" * 40,  # 40 bytes of hex, all the same byte
            "NEXTAUTH_URL": "https://auth.acme-corp.test/",
            "SENTRY_DSN": "sentry is not set up yet",
            **aws_vars(aws.stale),
        }
        env = Env(site.url, production=True, dotenv=dotenv, backups=backups_for(aws, BARE_BUCKET))
        run = run_credentials(pytester, write_project(tmp_path, {"x": env}), tmp_path / "reports")

    assert run.result.ret == 1, run.output
    bucket = f"backup bucket s3://{BARE_BUCKET}"
    unparsed = ("skipped", None, None, ("does not parse",))
    assert_verdicts(
        run,
        {
            secret_rule("key-material"): ("passed", None, None, ()),
            secret_rule("entropy"): (
                "failed",
                AUTH,
                "P1",
                ("NEXTAUTH_SECRET [entropy]", "0.00 bits per byte"),
            ),
            url_rule("https"): ("passed", None, None, ()),
            url_rule("no-extras"): ("passed", None, None, ()),
            url_rule("host"): (
                "failed",
                AUTH,
                "P1",
                ("NEXTAUTH_URL [host]", "127.0.0.1", "auth.acme-corp.test"),
            ),
            db_rule("parses"): ("failed", DB, "P1", ("DATABASE_URL [parses]", "port")),
            **dict.fromkeys((db_rule("not-localhost"), db_rule("sslmode"), CONNECT, ROLE), unparsed),
            sentry_rule("format"): (
                "failed",
                MONITORING,
                "P2",
                ("SENTRY_DSN [format]", "scheme", "project id"),
            ),
            MAINTENANCE: ("passed", None, None, ()),  # absent
            STS: ("passed", None, None, ()),
            KEY_AGE: (
                "failed",
                ROTATION,
                "P2",
                ("AWS_ACCESS_KEY_ID [max-age]", f"{STALE_KEY_AGE_DAYS} days ago", "younger than 90 days"),
            ),
            bucket_rule("versioning"): ("failed", BACKUPS, "P2", (f"{bucket} [versioning]", "Disabled")),
            bucket_rule("encryption"): ("failed", BACKUPS, "P2", (f"{bucket} [encryption]", "none")),
            bucket_rule("public-access-block"): ("failed", BACKUPS, "P2", (bucket, "no public access block")),
            EXPOSURE: ("passed", None, None, ()),
        },
    )
    assert run.check(KEY_AGE)["metrics"]["access_key_age_days"] >= STALE_KEY_AGE_DAYS
    assert_no_leaks(run, {"database": db_password, "AWS": aws.stale.secret_key})


def test_docs_sample_secret_relative_url_and_unreachable_sts_fail_and_sslmode_require_warns(
    pytester: pytest.Pytester, tmp_path: Path, aws: Aws
) -> None:
    db_password = token()
    with LocalHTTPServer(site_routes()) as site:
        dotenv = {
            "DATABASE_URL": f"postgresql://app:{db_password}@db.acme-corp.test:5432/app?sslmode=require",
            "NEXTAUTH_SECRET": NEXTAUTH_DOCS_SAMPLE_SECRET,
            "NEXTAUTH_URL": site.url.split("://", 1)[1],
            "SENTRY_DSN": f"https://{secrets.token_hex(16)}@o1.ingest.sentry.io/4242",
            **aws_vars(aws.writer),
        }
        unreachable = f"http://127.0.0.1:{closed_port()}"
        env = Env(site.url, production=True, dotenv=dotenv, backups=backups_for(aws, endpoint=unreachable))
        run = run_credentials(
            pytester, write_project(tmp_path, {"x": env}), tmp_path / "reports", "-k", NO_REMOTE_DB
        )

    not_absolute = ("skipped", None, None, ("not an absolute",))
    assert_verdicts(
        run,
        {
            required("NEXTAUTH_SECRET"): (
                "failed",
                ENV_VARS,
                "P1",
                ("NEXTAUTH_SECRET [placeholder]", "NextAuth docs"),
            ),
            secret_rule("key-material"): ("passed", None, None, ()),
            secret_rule("entropy"): ("passed", None, None, ()),  # random-looking: only the deny-list knows it
            secret_rule("deny-list"): (
                "failed",
                AUTH,
                "P1",
                ("NEXTAUTH_SECRET [deny-list]", "NextAuth docs"),
            ),
            url_rule("absolute"): ("failed", AUTH, "P1", ("NEXTAUTH_URL [absolute]",)),
            **{url_rule(rule): not_absolute for rule in ("https", "no-extras", "host")},
            db_rule("not-localhost"): ("passed", None, None, ()),
            db_rule("sslmode"): ("passed", None, None, ()),
            STS: ("error", ROTATION, "P1", ("STS GetCallerIdentity", unreachable, "could not be reached")),
            KEY_AGE: ("skipped", None, None, ("not verified",)),
        },
    )
    assert run.check(db_rule("sslmode"))["notes"] == [
        "DATABASE_URL [sslmode]: sslmode=require encrypts but does not verify the server certificate; use verify-full"
    ]
    assert run.check(STS)["duration_s"] < 3 + 1  # one attempt, bounded by timeout_s
    assert_no_leaks(run, {"database": db_password, "AWS": aws.writer.secret_key})


# ============================================================================================ the demo


def test_demo_stack_configuration_passes_or_skips_with_reasons(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_cluster: LocalCluster
) -> None:
    """What ``opscheck demo`` would write (see the report of issue 5): an http, non-production app with a
    database role that owns its database, no Sentry, and AWS credentials for a permissive local S3 in the
    process environment, not in the app's dotenv file."""
    role, password = f"app_{uuid.uuid4().hex[:8]}", token(18)
    pg_cluster.psql("-c", f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    pg_cluster.create_database(role, owner=role)
    try:
        with running_moto() as moto, LocalHTTPServer(site_routes()) as site:
            s3 = client_for(moto.endpoint)
            s3.create_bucket(Bucket="opscheck-demo-backups")
            s3.put_bucket_versioning(
                Bucket="opscheck-demo-backups", VersioningConfiguration={"Status": "Enabled"}
            )
            s3.put_bucket_encryption(
                Bucket="opscheck-demo-backups",
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            )
            s3.put_public_access_block(
                Bucket="opscheck-demo-backups",
                PublicAccessBlockConfiguration=dict.fromkeys(
                    ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
                    True,
                ),
            )
            dotenv = {
                "DATABASE_URL": pg_cluster.dsn(role, user=role, password=password),
                "NEXTAUTH_SECRET": secrets.token_urlsafe(32),
                "NEXTAUTH_URL": site.url,
                "APP_VERSION": "demo-1.0.0",
                "SMOKE_USER": "smoke@example.com",
                "SMOKE_PASSWORD": secrets.token_urlsafe(18),
            }
            demo_s3_secret = token(24)
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", "opscheck-demo")
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", demo_s3_secret)
            monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
            backups = {
                "location": "s3://opscheck-demo-backups/backups/database/",
                "s3_endpoint_url": moto.endpoint,
                "region": "us-east-1",
            }
            env = Env(site.url, dotenv=dotenv, required=DEMO_REQUIRED, backups=backups)
            run = run_credentials(
                pytester, write_project(tmp_path, {"demo": env}), tmp_path / "reports", env="demo"
            )
    finally:
        pg_cluster.drop_database(role)
        pg_cluster.psql("-c", f"DROP ROLE IF EXISTS {role}")

    assert run.result.ret == 0, run.output
    skipped = {name: c["message"] for name, c in run.checks.items() if c["outcome"] == "skipped"}
    assert skipped == {
        url_rule("https"): "NEXTAUTH_URL [https]: production = false: http is allowed here",
        db_rule(
            "not-localhost"
        ): "DATABASE_URL [not-localhost]: production = false: this rule applies to production only",
        db_rule(
            "sslmode"
        ): "DATABASE_URL [sslmode]: production = false: this rule applies to production only",
        MAINTENANCE: "MAINTENANCE_MODE [off-in-production]: production = false: maintenance may be on",
        sentry_rule("format"): f"SENTRY_DSN is not set in env file {tmp_path / 'demo.env'}: nothing to check",
        sentry_rule(
            "no-secret-key"
        ): f"SENTRY_DSN is not set in env file {tmp_path / 'demo.env'}: nothing to check",
        KEY_AGE: "AWS_ACCESS_KEY_ID [max-age]: IAM has no access keys for arn:aws:sts::123456789012:user/moto "
        "(NoSuchEntity): it is not an IAM user's key",
        REUSE: "secrets [not-reused]: nothing to compare with: it is the only environment in the config",
        READ_ONLY_ROLE: "[environments.demo.database] is not configured for environment 'demo'",
    }
    assert {o for n, o in run.outcomes().items() if n not in skipped} == {"passed"}, run.output
    # the app's own secrets: DATABASE_URL, NEXTAUTH_SECRET, SMOKE_PASSWORD (the S3 keys are opscheck's, not the app's)
    assert run.check(EXPOSURE)["metrics"]["secrets_searched"] == 3
    assert_no_leaks(
        run,
        {
            "NEXTAUTH_SECRET": dotenv["NEXTAUTH_SECRET"],
            "SMOKE_PASSWORD": dotenv["SMOKE_PASSWORD"],
            "database password": password,
            "S3 secret": demo_s3_secret,
        },
    )


# =========================================================================================== bad input


def test_missing_env_file_errors_every_check_naming_the_path(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    env = Env("https://app.acme-corp.test", production=True, env_file="secrets/missing.env")
    run = run_credentials(pytester, write_project(tmp_path, {"x": env}), tmp_path / "reports")

    assert run.result.ret == 1, run.output
    assert run.check(READ_ONLY_ROLE)["outcome"] == "skipped"  # it reads database.url, not the env file
    reading = {n: c for n, c in run.checks.items() if n != READ_ONLY_ROLE}
    assert {c["outcome"] for c in reading.values()} == {"error"}, run.output
    expected = f"credentials.env_file {tmp_path / 'secrets' / 'missing.env'} does not exist"
    assert {c["message"] for c in reading.values()} == {expected}


def test_malformed_env_file_errors_with_line_numbers_and_no_value(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    good, stray, unterminated = token(), token(), token()
    (tmp_path / "app.env").write_text(
        f"NEXTAUTH_SECRET={good}\n"
        f"# a comment, then a line that is not an assignment\n"
        f"oops {stray} here\n"
        f'API_TOKEN="{unterminated}\n'
        "NEXTAUTH_URL=https://app.acme-corp.test\n",
        encoding="utf-8",
    )
    env = Env("https://app.acme-corp.test", env_file="app.env")
    run = run_credentials(pytester, write_project(tmp_path, {"x": env}), tmp_path / "reports")

    assert run.check(READ_ONLY_ROLE)["outcome"] == "skipped"  # it reads database.url, not the env file
    assert {o for n, o in run.outcomes().items() if n != READ_ONLY_ROLE} == {"error"}, run.output
    message = run.check(secret_rule("entropy"))["message"]
    assert message == (
        f"credentials.env_file {tmp_path / 'app.env'}: line 3, line 4 (API_TOKEN) are not a valid dotenv "
        "assignment (expected NAME=value; check quotes and line continuations)"
    )
    assert_no_leaks(run, {"good": good, "stray": stray, "unterminated": unterminated})


def test_values_from_the_process_environment_and_a_superuser_role(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: Database
) -> None:
    monkeypatch.setenv("DATABASE_URL", database.superuser_url)
    monkeypatch.setenv("NEXTAUTH_SECRET", "supersecret")
    with LocalHTTPServer(site_routes()) as site:
        monkeypatch.setenv("NEXTAUTH_URL", site.url)
        env = Env(site.url, required=["DATABASE_URL", "NEXTAUTH_SECRET", "NEXTAUTH_URL"])
        run = run_credentials(pytester, write_project(tmp_path, {"x": env}), tmp_path / "reports")

    assert_verdict(run, CONNECT, "passed")
    assert_verdict(
        run,
        ROLE,
        "failed",
        says=("DATABASE_URL [least-privilege]", "is a superuser", "the process environment"),
        section=ROLES,
        severity="P2",
    )
    assert_verdict(
        run,
        secret_rule("key-material"),
        "failed",
        says=("NEXTAUTH_SECRET [key-material]", "saw 11 bytes (raw text), in the process environment"),
    )
    assert_verdict(run, secret_rule("deny-list"), "failed", says=("deny-list",))
    assert_verdict(
        run, sentry_rule("format"), "skipped", says=("SENTRY_DSN is not set in the process environment",)
    )
    assert_verdict(run, STS, "skipped", says=("backups", "not configured"))
    assert_verdict(run, EXPOSURE, "passed")
    password = database.superuser_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert_no_leaks(run, {"superuser password": password})


# ============================================================================= mechanics, by themselves


def test_role_privileges_see_attributes_direct_and_through_membership(
    pg_cluster: LocalCluster, database: Database
) -> None:
    suffix = uuid.uuid4().hex[:8]
    password = token()
    roles = {
        "createdb": f"CREATE ROLE c_db_{suffix} LOGIN PASSWORD '{password}' CREATEDB",
        "createrole": f"CREATE ROLE c_role_{suffix} LOGIN PASSWORD '{password}' CREATEROLE",
        "member": f"CREATE ROLE c_member_{suffix} LOGIN PASSWORD '{password}'",
    }
    for sql in roles.values():
        pg_cluster.psql("-c", sql)
    pg_cluster.psql("-c", f"CREATE ROLE c_admin_{suffix} SUPERUSER NOLOGIN")
    pg_cluster.psql("-c", f"GRANT c_admin_{suffix} TO c_member_{suffix}")
    dbname = database.readonly_url.rsplit("/", 1)[1]
    try:

        def problems(role: str) -> list[str]:
            url = pg_cluster.dsn(dbname, user=role, password=password)
            return role_privileges(url, timeout_s=5).problems()

        assert problems(f"c_db_{suffix}") == ["it can create databases (CREATEDB)"]
        assert problems(f"c_role_{suffix}") == ["it can create roles (CREATEROLE)"]
        assert problems(f"c_member_{suffix}") == [f"it is a superuser through membership in c_admin_{suffix}"]
        assert role_privileges(database.readonly_url, timeout_s=5).problems() == []
        assert role_privileges(database.superuser_url, timeout_s=5).problems() == ["it is a superuser"]
    finally:
        for role in (f"c_db_{suffix}", f"c_role_{suffix}", f"c_member_{suffix}", f"c_admin_{suffix}"):
            pg_cluster.psql("-c", f"DROP ROLE IF EXISTS {role}")


def test_site_scan_is_bounded_in_files_bytes_and_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from opscheck.credentials import exposure

    secret = token(32)
    needles, _ = exposure_needles({"NEXTAUTH_SECRET": secret})
    chunks = {
        f"/_next/static/chunks/c{i}.js": Route(body=f"var c{i}=1;", headers=SCRIPT_HEADERS) for i in range(6)
    }
    tags = "".join(f'<script src="{path}"></script>' for path in chunks)
    routes = {
        "/": Route(body=f"<html><head>{tags}</head></html>", headers=HTML_HEADERS),
        "/big": Route(
            body='<script src="/_next/static/chunks/big.js"></script><script src="/_next/static/chunks/slow.js"></script>',
            headers=HTML_HEADERS,
        ),
        "/_next/static/chunks/big.js": Route(body="x" * 2000 + secret, headers=SCRIPT_HEADERS),
        "/_next/static/chunks/slow.js": Route(body=secret, headers=SCRIPT_HEADERS, delay_s=3),
        **chunks,
    }
    monkeypatch.setattr(exposure, "MAX_SCRIPTS", 4)
    monkeypatch.setattr(exposure, "MAX_FILE_BYTES", 1000)
    with LocalHTTPServer(routes) as site, OpsClient(site.url, timeout_s=1, attempts=1) as client:
        many = scan_site(client, ["/"], needles)
        started = time.perf_counter()
        bounded = scan_site(client, ["/big"], needles)
        elapsed = time.perf_counter() - started

    assert len(many.scripts) == 4
    assert any("only 4 were scanned" in note for note in many.notes)
    assert bounded.exposures == []  # the secret sits past the per-file limit, the slow file never answered
    assert any("big.js: only its first 1000 bytes" in note for note in bounded.notes), bounded.notes
    assert any("slow.js" in note and "timeout" in note for note in bounded.notes), bounded.notes
    assert elapsed < 2.5


NEXT_BUILD = REPO / "examples" / "nextjs-app" / ".next"


@pytest.mark.xdist_group("reference-app")
def test_site_scan_follows_the_chunks_of_a_real_next_build(tmp_path: Path) -> None:
    """The reference app's own prerendered HTML and /_next/static files: every chunk the page loads is
    found and scanned, and a secret planted in one of them is found."""
    from opscheck.demo.reference_app import ReferenceApp

    ReferenceApp(REPO / "examples" / "nextjs-app", tmp_path / "build-logs").ensure_built()  # cached, locked

    html = (NEXT_BUILD / "server" / "app" / "_not-found.html").read_bytes()
    routes = {"/": Route(body=html, headers=HTML_HEADERS)}
    for path in (NEXT_BUILD / "static").rglob("*.js"):
        route = "/_next/static/" + path.relative_to(NEXT_BUILD / "static").as_posix()
        routes[route] = Route(body=path.read_bytes(), headers=SCRIPT_HEADERS)
    secret = token(32)
    referenced, _ = script_references(html, "http://127.0.0.1")
    assert referenced
    leaky = "/_next/" + referenced[-1].split("/_next/", 1)[1]
    routes[leaky] = Route(
        body=routes[leaky].body + f'\n;const s="{secret}";'.encode(), headers=SCRIPT_HEADERS
    )
    needles, _ = exposure_needles({"NEXTAUTH_SECRET": secret})
    with LocalHTTPServer(routes) as site, OpsClient(site.url, timeout_s=5, attempts=1) as client:
        scan = scan_site(client, ["/"], needles)

    assert len(scan.scripts) >= len(referenced)
    assert [str(e) for e in scan.exposures] == [f"NEXTAUTH_SECRET (raw) in {leaky}"]


def test_site_scan_of_an_unreachable_site_is_an_error() -> None:
    from opscheck.errors import TargetUnreachable

    url = f"http://127.0.0.1:{closed_port()}"
    with OpsClient(url, timeout_s=1, attempts=1) as client, pytest.raises(TargetUnreachable) as caught:
        scan_site(client, ["/"], [])
    assert "connection refused" in str(caught.value)


def test_an_endpoint_without_sts_skips_the_credentials_check_with_the_reason() -> None:
    """An S3-compatible store that does not speak STS (here: a server answering 404 to everything)."""
    session = boto3.session.Session(
        aws_access_key_id="AKIA" + secrets.token_hex(8).upper(),
        aws_secret_access_key=token(),
        region_name="us-east-1",
    )
    with LocalHTTPServer({}) as server:
        access = AwsAccess(session, "AWS credentials", "test", "bucket", "", server.url, "us-east-1", 2)
        with pytest.raises(pytest.skip.Exception, match="does not implement STS GetCallerIdentity"):
            access.caller_identity()


def test_moto_rejects_unknown_keys(aws: Aws) -> None:
    """The fixture's premise: this moto checks credentials like AWS (so a passing STS check means something)."""
    sts = client_for(aws.endpoint, "AKIA" + secrets.token_hex(8).upper(), token(), service="sts")
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidClientTokenId"):
        sts.get_caller_identity()
