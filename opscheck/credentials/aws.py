"""The AWS credentials an environment's backups use: STS accepts them, the access key is not old, and the
backup bucket is versioned, encrypted and blocks public access."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeVar

import boto3
import botocore.exceptions
import botocore.parsers
import pytest

from opscheck.clients import aws
from opscheck.clients.aws import client_config, parse_s3_location, region_or_default
from opscheck.clients.bounded import DeadlinePassed, finish_within
from opscheck.config import Environment
from opscheck.credentials.findings import Finding
from opscheck.credentials.sources import CredentialSource
from opscheck.errors import CheckFailed, TargetUnreachable
from opscheck.restore.backups import BucketFacts
from opscheck.restore.s3 import S3Store
from opscheck.secrets import mask_url, redactor, register_aws_credentials

__all__ = ["BUCKET_RULES", "MAX_ACCESS_KEY_AGE_DAYS", "AwsAccess"]

T = TypeVar("T")


MAX_ACCESS_KEY_AGE_DAYS: Final = 90
#: for the IAM, STS and S3-settings calls made here, a bodiless 404 means the endpoint has no such action
#: (an S3 object call's 404 means no such key: that is why it is not in the shared map)
_UNSUPPORTED: Final = aws.UNSUPPORTED | {"404"}
_PUBLIC_ACCESS_FLAGS: Final = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)
BUCKET_RULES: Final = ("versioning", "encryption", "public-access-block")


class _Refused(Exception):
    """An AWS call that was denied, is not implemented by the endpoint, or found nothing configured."""

    def __init__(self, code: str, kind: str) -> None:
        super().__init__(code)
        self.code = code
        self.kind = kind

    def why(self) -> str:
        return {"denied": "is denied", "unsupported": "is not implemented by the endpoint"}.get(
            self.kind, "failed"
        )


@dataclass
class AwsAccess:
    """The AWS credentials an environment's backups use, and the backup bucket they are for.

    Credentials are ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``) from the
    env file when it has them, else the standard AWS credential chain. STS and IAM are asked at the
    backups' ``s3_endpoint_url`` when one is set (an S3-compatible stack such as moto or LocalStack),
    else at AWS. Every call has connect and read timeouts of ``timeout_s`` and is made once.
    """

    session: boto3.session.Session
    variables: str
    origin: str
    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str
    timeout_s: float
    clients: dict[str, Any] = field(default_factory=dict, repr=False)
    identity: dict[str, str] | None = field(default=None, repr=False)
    identity_error: CheckFailed | TargetUnreachable | None = field(default=None, repr=False)
    facts: BucketFacts | None = field(default=None, repr=False)

    @classmethod
    def for_environment(cls, env: Environment, source: CredentialSource) -> AwsAccess:
        """From ``[backups]`` (an ``s3://`` location) and the credentials in ``source``."""
        backups = env.backups
        bucket, prefix = parse_s3_location(backups.location.strip())
        region = region_or_default(backups.region.strip() or None, source.values)
        key_id, secret = source.get("AWS_ACCESS_KEY_ID"), source.get("AWS_SECRET_ACCESS_KEY")
        if source.path is not None and (key_id or secret):
            if not (key_id and secret):
                missing = "AWS_SECRET_ACCESS_KEY" if key_id else "AWS_ACCESS_KEY_ID"
                raise CheckFailed(
                    f"AWS credentials in {source.origin}",
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY together",
                    f"{missing} is missing",
                )
            session = boto3.session.Session(
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                aws_session_token=source.get("AWS_SESSION_TOKEN") or None,
                region_name=region,
            )
            variables, origin = "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", source.origin
        else:
            session = boto3.session.Session(region_name=region)
            variables, origin = "AWS credentials", "the standard AWS credential chain"
        return cls(
            session=session,
            variables=variables,
            origin=origin,
            bucket=bucket,
            prefix=prefix,
            endpoint_url=backups.s3_endpoint_url.strip() or None,
            region=region,
            timeout_s=env.timeout_s,
        )

    def client(self, service: str) -> Any:
        """A boto3 client with the environment's timeouts and a single attempt per call."""
        if service not in self.clients:
            self.clients[service] = self.session.client(  # type: ignore[call-overload]
                service, endpoint_url=self.endpoint_url, config=client_config(self.timeout_s, 1)
            )
            register_aws_credentials(self.session)
        return self.clients[service]

    def _rejected(self, expected: str, seen: str) -> CheckFailed:
        return CheckFailed(f"{self.variables} [accepted]", expected, f"{seen}, in {self.origin}")

    def endpoint(self, service: str) -> str:
        return mask_url(str(self.client(service).meta.endpoint_url))

    def call(
        self, service: str, operation: str, call: Callable[[], T], *, absent: frozenset[str] = frozenset()
    ) -> T:
        """One AWS call. Rejected or missing credentials → CheckFailed naming the variables; unreachable
        → TargetUnreachable naming the endpoint; denied, not implemented, or one of the ``absent`` codes
        (nothing configured) → :class:`_Refused`."""
        __tracebackhide__ = True
        where = f"{service.upper()} {operation} at {self.endpoint(service)}"
        try:  # bounded as a whole: botocore's timeouts apply to each read, which a dribble never trips
            return finish_within(call, self.timeout_s)
        except DeadlinePassed as exc:
            raise TargetUnreachable(where, str(exc)) from None
        except botocore.exceptions.ClientError as exc:
            code = aws.error_code(exc)
            if code in aws.CREDENTIAL_ERRORS:
                raise self._rejected(
                    f"credentials {service.upper()} accepts", f"{aws.rejected(code)} by {where}"
                ) from None
            if code in absent:
                raise _Refused(code, "absent") from None
            if code in aws.DENIED or code in _UNSUPPORTED:
                raise _Refused(code, "denied" if code in aws.DENIED else "unsupported") from None
            message = redactor().scrub(aws.error_message(exc))
            raise CheckFailed(
                where, "a successful answer", f"{code}: {message}" if message else code
            ) from None
        except aws.NO_CREDENTIALS as exc:
            raise self._rejected(
                "credentials from the env file or the standard AWS chain", type(exc).__name__
            ) from None
        except aws.UNREACHABLE as exc:
            raise TargetUnreachable(
                where, redactor().scrub(aws.connection_reason(exc, self.timeout_s))
            ) from None
        except botocore.parsers.ResponseParserError:
            raise _Refused("an answer that is not the AWS API's", "unsupported") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise TargetUnreachable(where, redactor().scrub(f"{type(exc).__name__}: {exc}")) from None

    def caller_identity(self) -> dict[str, str]:
        """STS GetCallerIdentity: Arn, Account, UserId. Asked once per run; a failure is raised again
        (without asking again) to every later caller, so a blackholed endpoint costs one timeout."""
        if self.identity_error is not None:
            raise self.identity_error
        if self.identity is None:
            sts = self.client("sts")
            try:
                answer = self.call("sts", "GetCallerIdentity", sts.get_caller_identity)
            except _Refused as refused:
                if refused.kind == "unsupported":
                    pytest.skip(
                        f"{self.endpoint('sts')} does not implement STS GetCallerIdentity ({refused.code})"
                    )
                self.identity_error = self._rejected(
                    "STS GetCallerIdentity to succeed (AWS never denies it to valid credentials)",
                    refused.code,
                )
                raise self.identity_error from None
            except (CheckFailed, TargetUnreachable) as exc:
                self.identity_error = exc
                raise
            self.identity = {k: str(answer.get(k, "")) for k in ("Arn", "Account", "UserId")}
        return self.identity

    def access_key_finding(self, now: datetime, max_age_days: float = MAX_ACCESS_KEY_AGE_DAYS) -> Finding:
        """The access key in use is younger than ``max_age_days``; skipped when IAM does not tell."""
        variable, rule = "AWS_ACCESS_KEY_ID", "max-age"
        expected = f"an access key younger than {max_age_days:g} days"
        arn = self.caller_identity()["Arn"]
        credentials = self.session.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
        if frozen is None:
            return Finding(variable, rule, expected, skipped="no credentials were found")
        if frozen.token or ":assumed-role/" in arn or ":federated-user/" in arn:
            return Finding(
                variable, rule, expected, skipped=f"{arn} uses temporary credentials: no key to age"
            )
        iam = self.client("iam")

        def listed() -> list[dict[str, Any]]:
            keys: list[dict[str, Any]] = []
            for page in iam.get_paginator("list_access_keys").paginate():
                keys.extend(page.get("AccessKeyMetadata", []))
            return keys

        try:
            keys = self.call("iam", "ListAccessKeys", listed, absent=frozenset({"NoSuchEntity"}))
        except _Refused as refused:
            if refused.kind == "absent":
                why = f"IAM has no access keys for {arn} ({refused.code}): it is not an IAM user's key"
            else:
                why = (
                    f"IAM ListAccessKeys {refused.why()} for {arn} ({refused.code}): the key's age cannot be "
                    "read (allow iam:ListAccessKeys on the user to check it)"
                )
            return Finding(variable, rule, expected, skipped=why)
        created = next((k.get("CreateDate") for k in keys if k.get("AccessKeyId") == frozen.access_key), None)
        if not isinstance(created, datetime):
            return Finding(
                variable, rule, expected, skipped=f"the access key is not among {arn}'s keys in IAM"
            )
        age_days = round((now - created).total_seconds() / 86400, 1)
        metrics = {"access_key_age_days": age_days}
        if age_days >= max_age_days:
            seen = f"a key created {age_days:.0f} days ago, on {created.date().isoformat()}"
            return Finding(variable, rule, expected, seen, metrics=metrics)
        return Finding(variable, rule, expected, metrics=metrics)

    def bucket_facts(self) -> BucketFacts:
        """Versioning and default encryption of the backup bucket (see :meth:`S3Store.bucket_facts`),
        asked once per run."""
        if self.facts is None:
            store = S3Store(
                self.bucket,
                self.prefix,
                region=self.region,
                timeout_s=self.timeout_s,
                client=self.client("s3"),
            )
            self.facts = store.bucket_facts()
        return self.facts

    def bucket_finding(self, rule: str) -> Finding:
        """One of :data:`BUCKET_RULES` for the backup bucket (skipped when the setting cannot be read)."""
        variable = f"backup bucket s3://{self.bucket}"
        if rule == "versioning":
            expected = "versioning Enabled (an overwritten or deleted backup can be recovered)"
            fact = self.bucket_facts().versioning
            if fact.state in {"unavailable", "not applicable"}:
                return Finding(variable, rule, expected, skipped=f"versioning is {fact}")
            seen = None if fact.value == "Enabled" else f"versioning {fact}"
            return Finding(variable, rule, expected, seen)
        if rule == "encryption":
            expected = "default encryption (SSE-S3 or SSE-KMS)"
            fact = self.bucket_facts().encryption
            if fact.state in {"unavailable", "not applicable"}:
                return Finding(variable, rule, expected, skipped=f"default encryption is {fact}")
            return Finding(variable, rule, expected, None if fact.is_set else f"default encryption {fact}")
        if rule == "public-access-block":
            return self._public_access_finding(variable)
        raise ValueError(f"unknown bucket rule {rule!r}")

    def _public_access_finding(self, variable: str) -> Finding:
        rule = "public-access-block"
        expected = f"a public access block with all four settings on ({', '.join(_PUBLIC_ACCESS_FLAGS)})"
        s3 = self.client("s3")
        try:
            answer = self.call(
                "s3",
                "GetPublicAccessBlock",
                lambda: s3.get_public_access_block(Bucket=self.bucket),
                absent=frozenset({"NoSuchPublicAccessBlockConfiguration"}),
            )
        except _Refused as refused:
            if refused.kind == "absent":
                return Finding(variable, rule, expected, "no public access block on the bucket")
            return Finding(
                variable,
                rule,
                expected,
                skipped=f"GetPublicAccessBlock {refused.why()} ({refused.code}): cannot tell",
            )
        settings = answer.get("PublicAccessBlockConfiguration", {})
        off = [flag for flag in _PUBLIC_ACCESS_FLAGS if not settings.get(flag)]
        return Finding(variable, rule, expected, f"{', '.join(off)} off" if off else None)
