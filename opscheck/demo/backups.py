"""The demo stack's backup history: a local S3 server (``moto_server``) holding 30 daily gzipped
``pg_dump`` backups of the demo database, named the runbook's way and backdated one per day."""

from __future__ import annotations

import gzip
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from opscheck.demo.process import HelperServer
from opscheck.errors import OpscheckError
from opscheck.restore.servers.base import ThrowawayPostgres

__all__ = ["BUCKET", "PREFIX", "LocalS3", "write_backup_history"]

BUCKET = "opscheck-demo-backups"
PREFIX = "backups/database/"
_READY_TIMEOUT_S = 30.0


class DemoS3Error(OpscheckError):
    """The demo's local S3 server could not be started or filled."""


@dataclass
class LocalS3(HelperServer):
    """``moto_server`` on a loopback port: a real S3 API over HTTP, for the demo's backups."""

    access_key: str = "opscheck-demo"
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def credentials_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self) -> LocalS3:
        executable = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
        if not Path(executable).exists():
            raise DemoS3Error("moto_server is needed for the demo's backups: pip install -e '.[demo]'")
        self.launch(
            [executable, "-H", "127.0.0.1", "-p", str(self.port)],
            what="moto_server",
            timeout_s=_READY_TIMEOUT_S,
            error=DemoS3Error,
        )
        return self

    def client(self) -> Any:
        return boto3.session.Session(
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key, region_name="us-east-1"
        ).client("s3", endpoint_url=self.url, config=Config(connect_timeout=5, read_timeout=30))


def _dump(cluster: ThrowawayPostgres, dbname: str, out: Path) -> None:
    command = cluster.client_command("pg_dump", dbname, "--no-password")
    with out.open("wb") as handle:
        proc = subprocess.run(command, stdout=handle, stderr=subprocess.PIPE, timeout=300, check=False)
    if proc.returncode != 0:
        raise DemoS3Error(
            f"pg_dump of the demo database failed: {proc.stderr.decode(errors='replace')[-300:]}"
        )


def write_backup_history(cluster: ThrowawayPostgres, dbname: str, s3: LocalS3, days: int = 30) -> list[str]:
    """Dump ``dbname`` once, gzip it, and upload it as ``days`` daily backups ending about an hour ago,
    into a bucket with versioning, default encryption and a 30-day expiry rule, like production's."""
    client = s3.client()
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    client.put_public_access_block(
        Bucket=BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    client.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    client.put_bucket_lifecycle_configuration(
        Bucket=BUCKET,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "retention",
                    "Status": "Enabled",
                    "Filter": {"Prefix": PREFIX},
                    "Expiration": {"Days": days},
                }
            ]
        },
    )
    workdir = Path(tempfile.mkdtemp(prefix="opscheck-demo-dump-"))
    try:
        sql = workdir / "dump.sql"
        _dump(cluster, dbname, sql)
        archive = workdir / "dump.sql.gz"
        with sql.open("rb") as source, gzip.open(archive, "wb", compresslevel=6) as target:
            shutil.copyfileobj(source, target, 1 << 20)
        body = archive.read_bytes()
        newest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        names = []
        for age in range(days - 1, -1, -1):
            name = f"backup_{(newest - timedelta(days=age)):%Y%m%d_%H%M%S}.sql.gz"
            client.put_object(Bucket=BUCKET, Key=PREFIX + name, Body=body, ServerSideEncryption="AES256")
            names.append(name)
        return names
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
