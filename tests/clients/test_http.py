"""opscheck.clients.http.OpsClient against real local servers: bounded retries, timeouts, unreachable targets,
cookie secrets, concurrent probes, and trust that matches the TLS check's."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from opscheck.clients.bounded import BodyTooLarge
from opscheck.clients.http import OpsClient
from opscheck.clients.tls import inspect_certificate
from opscheck.errors import TargetUnreachable
from opscheck.run.context import retry_sink
from opscheck.secrets import redactor
from tests.support.certs import LocalPKI
from tests.support.servers import LocalHTTPServer, Route, closed_port, silent_tcp_server
from tests.support.smoke_run import SequenceRoute

# -- retries -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [502, 503, 504])
def test_transient_status_is_retried_up_to_the_attempts(status: int) -> None:
    with LocalHTTPServer({"/x": Route(status=status, body="busy")}) as server:
        url = server.url
        with OpsClient(url, timeout_s=5, attempts=3) as client, retry_sink([]) as retries:
            response = client.get("/x")

        assert response.status_code == status  # the last answer, once the attempts are used up
        assert response.text == "busy"
        assert len(server.requests) == 3
    assert len(retries) == 2
    assert all(f"GET {url}/x: HTTP {status}" in note for note in retries), retries


def test_a_retried_status_keeps_the_body_cap() -> None:
    """A 503 page is capped like any other: the retries do not read it in full (a 1 GB error page from a
    broken proxy would be held in memory, whatever max_body_mb says)."""
    body = b"<p>down for maintenance</p>" * 100_000  # 2.7 MB
    with (
        LocalHTTPServer({"/x": Route(status=503, body=body)}) as server,
        OpsClient(server.url, timeout_s=5, attempts=2, max_body_bytes=1_000_000) as client,
        retry_sink([]),
    ):
        with pytest.raises(BodyTooLarge, match="max_body_mb = 1 MB"):
            client.get("/x")
        probe = client.probe("/x")
        assert len(server.requests) == 4
    assert (probe.status, probe.truncated, len(probe.text)) == (503, True, 1_000_000)


@pytest.mark.parametrize("status", [500, 404, 429])
def test_other_statuses_are_not_retried(status: int) -> None:
    with LocalHTTPServer({"/x": Route(status=status)}) as server:
        with OpsClient(server.url, timeout_s=5, attempts=3) as client, retry_sink([]) as retries:
            assert client.get("/x").status_code == status
        assert len(server.requests) == 1
    assert retries == []


def test_a_retry_that_succeeds_is_noted() -> None:
    with LocalHTTPServer({"/x": SequenceRoute([503, 200], body="ok")}) as server:
        with OpsClient(server.url, timeout_s=5, attempts=3) as client, retry_sink([]) as retries:
            response = client.get("/x")

        assert (response.status_code, response.text) == (200, "ok")
        assert len(server.requests) == 2
    assert len(retries) == 1
    assert "HTTP 503 (attempt 1)" in retries[0]


def test_retries_are_bounded_in_time_too() -> None:
    with LocalHTTPServer({"/x": Route(status=503)}) as server:
        with OpsClient(server.url, timeout_s=1, attempts=50) as client:
            started = time.monotonic()
            assert client.get("/x").status_code == 503
            elapsed = time.monotonic() - started

        assert len(server.requests) < 10
    assert elapsed < 4


def test_a_timeout_is_not_retried() -> None:
    with LocalHTTPServer({"/slow": Route(body="late", delay_s=3)}) as server:
        url = server.url
        with OpsClient(url, timeout_s=0.5, attempts=3) as client, retry_sink([]) as retries:
            started = time.monotonic()
            with pytest.raises(TargetUnreachable) as raised:
                client.get("/slow")
            elapsed = time.monotonic() - started

        assert len(server.requests) == 1
    assert "took longer than timeout_s = 0.5 s" in raised.value.reason
    assert str(raised.value).startswith(f"GET {url}/slow: could not be reached")
    assert retries == []
    assert elapsed < 1.5  # one timeout, not three


def test_a_blackholed_target_costs_one_timeout() -> None:
    with (
        silent_tcp_server() as port,
        OpsClient(f"http://127.0.0.1:{port}", timeout_s=0.5, attempts=3) as client,
    ):
        started = time.monotonic()
        with pytest.raises(TargetUnreachable, match="timeout"):
            client.get("/")
        assert time.monotonic() - started < 1.5


def test_refused_connection_is_unreachable_after_bounded_retries() -> None:
    port = closed_port()
    with OpsClient(f"http://127.0.0.1:{port}", timeout_s=2, attempts=3) as client, retry_sink([]) as retries:
        started = time.monotonic()
        with pytest.raises(TargetUnreachable) as raised:
            client.get("/api/health")
        elapsed = time.monotonic() - started

    assert raised.value.reason == "connection refused"
    assert raised.value.checked == f"GET http://127.0.0.1:{port}/api/health"
    assert len(retries) == 2
    assert all("connection refused" in note for note in retries)
    assert elapsed < 3


def test_probe_records_an_unreachable_target_instead_of_raising() -> None:
    with OpsClient(f"http://127.0.0.1:{closed_port()}", timeout_s=2, attempts=1) as client:
        probe = client.probe("/login")

    assert probe.error == "connection refused"
    assert probe.status is None
    assert probe.latency_ms is not None
    assert probe.url.endswith("/login")


def test_url_passwords_never_reach_the_error_message() -> None:
    password = "hunter2-" + secrets.token_hex(4)
    base = f"http://admin:{password}@127.0.0.1:{closed_port()}"
    with OpsClient(base, timeout_s=2, attempts=1) as client, pytest.raises(TargetUnreachable) as raised:
        client.get("/")

    assert password not in str(raised.value)


# -- cookies ---------------------------------------------------------------------------------------------


def test_session_and_csrf_cookie_values_become_secrets_on_arrival() -> None:
    session = secrets.token_urlsafe(24)
    csrf = f"{secrets.token_hex(16)}%7C{secrets.token_hex(16)}"
    odd = f'{{"sid": "{secrets.token_hex(8)}"}}'  # a value http.cookies would silently drop
    callback = f"https%3A%2F%2Fapp.example.com%2F{secrets.token_hex(6)}"
    theme = f"dark-{secrets.token_hex(6)}"
    routes = {
        "/session": Route(headers={"Set-Cookie": f"next-auth.session-token={session}; Path=/; HttpOnly"}),
        "/csrf": Route(headers={"Set-Cookie": f"__Host-next-auth.csrf-token={csrf}; Path=/; Secure"}),
        "/odd": Route(headers={"Set-Cookie": f"app_session={odd}; Path=/"}),
        "/callback": Route(headers={"Set-Cookie": f"next-auth.callback-url={callback}; Path=/"}),
        "/theme": Route(headers={"Set-Cookie": f"theme={theme}; Path=/"}),
    }
    with LocalHTTPServer(routes) as server, OpsClient(server.url, timeout_s=5) as client:
        for path in routes:
            assert client.get(path).status_code == 200

    assert session in redactor()
    assert csrf in redactor()
    assert odd in redactor()
    assert callback not in redactor()
    assert theme not in redactor()
    assert (
        redactor().scrub(f"Cookie: next-auth.session-token={session}")
        == "Cookie: next-auth.session-token=***"
    )


def test_a_cookie_value_is_redacted_in_the_same_forms_whichever_client_saw_it() -> None:
    """The probes' client and the NextAuth client share one parser and one name rule: the CSRF cookie's
    token (URL-decoded, before its ``|hash``) and a PKCE verifier are secrets on either path."""
    token, digest = secrets.token_hex(16), secrets.token_hex(32)
    verifier = secrets.token_urlsafe(32)
    routes = {
        "/csrf": Route(headers={"Set-Cookie": f"next-auth.csrf-token={token}%7C{digest}; Path=/"}),
        "/pkce": Route(headers={"Set-Cookie": f"next-auth.pkce.code_verifier={verifier}; Path=/"}),
    }
    with LocalHTTPServer(routes) as server, OpsClient(server.url, timeout_s=5) as client:
        for path in routes:
            assert client.get(path).status_code == 200

    for value in (token, digest, f"{token}|{digest}", verifier):
        assert value in redactor(), value
    assert redactor().scrub(f"csrf {token} verifier {verifier}") == "csrf *** verifier ***"


# -- concurrency -----------------------------------------------------------------------------------------


def test_probe_many_fetches_every_path_at_once() -> None:
    paths = [f"/page/{n}" for n in range(10)]
    routes = {path: Route(body=path, delay_s=0.5) for path in paths}
    with LocalHTTPServer(routes) as server, OpsClient(server.url, timeout_s=5) as client:
        started = time.monotonic()
        probes = client.probe_many([*paths, paths[0]])  # a repeated path is fetched once
        elapsed = time.monotonic() - started

        assert len(server.requests) == 10
    assert list(probes) == paths
    assert all(p.status == 200 and p.text == p.path for p in probes.values())
    assert all(p.latency_ms is not None and p.latency_ms >= 500 for p in probes.values())
    assert elapsed < 1.5  # ten half-second pages one after another would take five seconds


def test_probe_many_of_nothing() -> None:
    with OpsClient("http://127.0.0.1:9", timeout_s=1) as client:
        assert client.probe_many([]) == {}


# -- trust -----------------------------------------------------------------------------------------------


def test_ca_bundle_adds_to_the_system_store_for_http_and_the_tls_check_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a stand-in for a public CA: OpenSSL's default store is read from SSL_CERT_FILE
    public = LocalPKI(tmp_path / "public", "stand-in public CA")
    private = LocalPKI(tmp_path / "private", "private CA")
    monkeypatch.setenv("SSL_CERT_FILE", public.ca_bundle)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    for pki in (public, private):
        cert = pki.valid()
        with LocalHTTPServer({"/": Route(body="hi")}, ssl_context=cert.server_context) as server:
            with OpsClient(server.url, timeout_s=5, ca_bundle=Path(private.ca_bundle)) as client:
                assert client.get("/").status_code == 200
            info = inspect_certificate("localhost", server.port, ca_bundle=private.ca_bundle, timeout_s=5)
            assert info.verified, (pki.ca.cert_pem, info.verify_error)


def test_a_certificate_from_neither_store_is_refused_by_both(tmp_path: Path) -> None:
    pki = LocalPKI(tmp_path)
    with LocalHTTPServer({"/": Route(body="hi")}, ssl_context=pki.untrusted().server_context) as server:
        client = OpsClient(server.url, timeout_s=5, ca_bundle=Path(pki.ca_bundle))
        with client, pytest.raises(TargetUnreachable, match="TLS verification failed"):
            client.get("/")
        info = inspect_certificate("localhost", server.port, ca_bundle=pki.ca_bundle, timeout_s=5)
    assert not info.verified
    assert info.verify_error is not None
    assert info.verify_error.startswith("untrusted issuer")
