"""opscheck.clients.tls against real TLS servers on 127.0.0.1, and the LocalHTTPServer test helper itself."""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from opscheck.clients.tls import CertificateInfo, check_certificate, inspect_certificate
from opscheck.errors import CheckFailed, TargetUnreachable, UsageError
from tests.support.certs import IssuedCert, LocalPKI
from tests.support.servers import LocalHTTPServer, Route, closed_port, silent_tcp_server

CLIENT_TIMEOUT_S = 5.0


@pytest.fixture
def pki(tmp_path: Path) -> LocalPKI:
    return LocalPKI(tmp_path)


def http_client(*, base_url: str = "", verify: ssl.SSLContext | bool = True) -> httpx.Client:
    # trust_env=False: never route a test request through a proxy from the environment
    return httpx.Client(base_url=base_url, verify=verify, timeout=CLIENT_TIMEOUT_S, trust_env=False)


def inspect_served(
    cert: IssuedCert,
    host: str = "localhost",
    *,
    server_name: str | None = None,
    now: datetime | None = None,
) -> CertificateInfo:
    """Serve ``cert`` on 127.0.0.1 and inspect it as a client trusting the PKI's CA would."""
    with LocalHTTPServer(ssl_context=cert.server_context) as server:
        return inspect_certificate(
            host, server.port, ca_bundle=cert.ca_bundle, timeout_s=5, server_name=server_name, now=now
        )


# -- inspect_certificate / check_certificate --------------------------------------------------------


def test_valid_certificate_passes(pki: LocalPKI) -> None:
    cert = pki.valid()

    info = inspect_served(cert)

    assert info.verified
    assert info.verify_error is None
    assert info.common_name == "localhost"
    assert info.subject_alt_names == ("localhost",)  # DNS names only; 127.0.0.1 is an IP SAN
    assert "opscheck test CA" in info.issuer
    assert info.not_before.tzinfo is not None
    assert info.not_after.utcoffset() == timedelta(0)
    assert abs(info.not_after - cert.not_after) < timedelta(seconds=1)
    assert 89.9 < info.days_left <= 90
    check_certificate(info, host="localhost", min_days=14)


def test_valid_certificate_verifies_by_ip_address(pki: LocalPKI) -> None:
    info = inspect_served(pki.valid(), host="127.0.0.1")

    assert info.verified, info.verify_error


def test_server_name_overrides_the_name_verified(pki: LocalPKI) -> None:
    info = inspect_served(pki.wrong_host("other.example"), host="127.0.0.1", server_name="other.example")

    assert info.verified, info.verify_error
    assert info.subject_alt_names == ("other.example",)


def test_expiring_certificate_fails_with_days_left(pki: LocalPKI) -> None:
    cert = pki.expiring(days_left=5)
    info = inspect_served(cert)
    assert info.verified

    with pytest.raises(CheckFailed) as failure:
        check_certificate(info, host="localhost", min_days=14)

    error = failure.value
    assert error.checked == "TLS certificate of localhost"
    assert error.expected == "at least 14 days of validity"
    expires = cert.not_after.strftime("%Y-%m-%d")
    assert re.fullmatch(rf"(4\.9|5\.0) days left \(expires {expires} \d\d:\d\d UTC\)", error.seen), error.seen
    assert "days left" in str(error)


def test_days_left_is_counted_from_now_argument(pki: LocalPKI) -> None:
    cert = pki.valid()
    info = inspect_served(cert, now=cert.not_after - timedelta(days=3))

    assert info.days_left == pytest.approx(3, abs=1e-3)
    with pytest.raises(CheckFailed, match=r"3\.0 days left"):
        check_certificate(info, host="localhost", min_days=14)


@pytest.mark.parametrize(
    ("variant", "verify_error"),
    [
        (LocalPKI.expired, "certificate has expired"),
        (LocalPKI.not_yet_valid, "certificate is not yet valid"),
        (LocalPKI.wrong_host, "hostname mismatch: certificate is for other.example"),
        (LocalPKI.untrusted, f"untrusted issuer: {LocalPKI.UNTRUSTED_CA_NAME}"),
    ],
    ids=["expired", "not-yet-valid", "wrong-host", "untrusted"],
)
def test_certificate_that_does_not_verify(
    pki: LocalPKI, variant: Callable[[LocalPKI], IssuedCert], verify_error: str
) -> None:
    info = inspect_served(variant(pki))

    assert not info.verified
    assert info.verify_error == verify_error
    with pytest.raises(CheckFailed) as failure:
        check_certificate(info, host="localhost", min_days=14)
    assert failure.value.expected == "a certificate that verifies for the host"
    assert failure.value.seen == verify_error
    assert verify_error in str(failure.value)


def test_expired_certificate_is_still_read(pki: LocalPKI) -> None:
    info = inspect_served(pki.expired())

    assert info.common_name == "localhost"
    assert -1.1 < info.days_left < -0.9


def test_closed_port_is_unreachable_quickly() -> None:
    port = closed_port()
    started = time.monotonic()

    with pytest.raises(TargetUnreachable) as unreachable:
        inspect_certificate("127.0.0.1", port, timeout_s=5)

    assert time.monotonic() - started < 2
    assert unreachable.value.reason == "connection refused"
    assert unreachable.value.checked == f"TLS certificate of 127.0.0.1:{port}"


def test_server_that_never_answers_the_handshake_times_out() -> None:
    with silent_tcp_server() as port:
        started = time.monotonic()
        with pytest.raises(TargetUnreachable, match="timed out after 1 s during the TLS handshake"):
            inspect_certificate("127.0.0.1", port, timeout_s=1)
        elapsed = time.monotonic() - started

    assert 0.8 < elapsed < 3


def test_server_that_does_not_speak_tls_is_unreachable() -> None:
    with LocalHTTPServer() as plain, pytest.raises(TargetUnreachable, match="TLS handshake failed"):
        inspect_certificate("127.0.0.1", plain.port, timeout_s=5)


def test_dns_failure_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)  # no real lookup leaves the machine

    with pytest.raises(
        TargetUnreachable, match=r"DNS lookup of db\.invalid failed: Name or service not known"
    ):
        inspect_certificate("db.invalid", 443, timeout_s=5)


def test_hanging_dns_lookup_is_bounded_by_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def hanging_lookup(*args: object, **kwargs: object) -> list[object]:
        release.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_lookup)
    started = time.monotonic()
    try:
        with pytest.raises(TargetUnreachable, match=r"timed out after 0\.5 s resolving the name"):
            inspect_certificate("slow.invalid", 443, timeout_s=0.5)
        assert time.monotonic() - started < 3
    finally:
        release.set()


@pytest.mark.parametrize("content", [None, "not a certificate\n"], ids=["missing", "not-pem"])
def test_unusable_ca_bundle_is_a_usage_error(tmp_path: Path, content: str | None) -> None:
    bundle = tmp_path / "ca.pem"
    if content is not None:
        bundle.write_text(content)

    with pytest.raises(UsageError, match=r"CA bundle .*ca\.pem cannot be used"):
        inspect_certificate("127.0.0.1", closed_port(), ca_bundle=str(bundle), timeout_s=1)


def test_check_certificate_accepts_exactly_min_days() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    info = CertificateInfo(
        common_name="example.org",
        subject_alt_names=("example.org",),
        issuer="CN=Example CA",
        not_before=now - timedelta(days=10),
        not_after=now + timedelta(days=14),
        days_left=14.0,
        verified=True,
        verify_error=None,
    )
    check_certificate(info, host="example.org", min_days=14)
    with pytest.raises(CheckFailed, match=r"saw 14\.0 days left \(expires 2030-01-15 00:00 UTC\)"):
        check_certificate(info, host="example.org", min_days=14.5)


# -- LocalHTTPServer --------------------------------------------------------------------------------


def test_local_server_serves_routes_and_records_requests() -> None:
    routes = {
        "/json": Route(body={"status": "ok"}),
        "/text": Route(status=503, body="down for maintenance", headers={"Retry-After": "30"}),
        "/bytes": Route(body=b"\x00\x01", headers={"Content-Type": "application/x-test"}),
    }
    with LocalHTTPServer(routes) as server, http_client(base_url=server.url) as client:
        assert server.url == f"http://127.0.0.1:{server.port}"

        response = client.get("/json?verbose=1", headers={"X-Trace": "abc"})
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert response.headers["content-type"] == "application/json"

        response = client.get("/text")
        assert (response.status_code, response.text) == (503, "down for maintenance")
        assert response.headers["retry-after"] == "30"

        response = client.get("/bytes")
        assert (response.content, response.headers["content-type"]) == (b"\x00\x01", "application/x-test")

        response = client.head("/json")
        assert response.status_code == 200
        assert response.content == b""

        assert client.get("/missing").status_code == 404

        server.routes["/missing"] = Route(body="now here")
        assert client.get("/missing").text == "now here"

        first = server.requests[0]
        assert (first.method, first.path, first.query) == ("GET", "/json", "verbose=1")
        assert first.header("x-trace") == first.headers["x-trace"] == "abc"
        assert [r.method for r in server.requests] == ["GET", "GET", "GET", "HEAD", "GET", "GET"]
        server.clear_requests()
        assert server.requests == []


def test_local_server_delays_run_concurrently() -> None:
    with LocalHTTPServer({"/slow": Route(body="done", delay_s=0.5)}) as server:

        def fetch(_: int) -> int:
            with http_client() as client:
                return client.get(server.url + "/slow").status_code

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=2) as pool:
            statuses = list(pool.map(fetch, range(2)))
        elapsed = time.monotonic() - started

    assert statuses == [200, 200]
    assert 0.5 <= elapsed < 0.9


def test_local_server_over_tls(pki: LocalPKI) -> None:
    cert = pki.valid()
    with (
        LocalHTTPServer({"/health": Route(body={"ok": True})}, ssl_context=cert.server_context) as server,
        http_client(verify=pki.client_context()) as client,
    ):
        assert server.url == f"https://localhost:{server.port}"
        response = client.get(server.url + "/health")

    assert response.json() == {"ok": True}


def test_local_server_stops_even_when_the_test_body_fails() -> None:
    ports: list[int] = []

    def failing_test_body() -> None:
        with LocalHTTPServer() as server:
            ports.append(server.port)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_test_body()

    (port,) = ports
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT_S).close()
