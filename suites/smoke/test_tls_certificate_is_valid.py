"""TLS: the certificate verifies for the host and has enough validity left (https targets only)."""

from urllib.parse import urlsplit

import pytest

from opscheck.clients.tls import check_certificate, inspect_certificate
from opscheck.config import Environment
from opscheck.run.context import CheckRecord


@pytest.mark.runbook("tls-certificates", severity="P1")
def test_tls_certificate_is_valid(opscheck_env: Environment, check: CheckRecord) -> None:
    url = urlsplit(opscheck_env.base_url)
    if url.scheme != "https":
        pytest.skip(f"base_url is {url.scheme}://, not https: no certificate to check")
    host = url.hostname or ""
    info = inspect_certificate(
        host,
        url.port or 443,
        ca_bundle=str(opscheck_env.ca_bundle) if opscheck_env.ca_bundle else None,
        timeout_s=opscheck_env.timeout_s,
    )
    check.metric("days_left", round(info.days_left, 1))
    check.metric("issuer", info.issuer)
    check_certificate(info, host=host, min_days=opscheck_env.smoke.tls_min_days)
