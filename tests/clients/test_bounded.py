"""Bounded time and memory for every HTTP request: real local servers that dribble a byte at a time
(headers or body) or serve an 800 MB page from a generator.

``timeout_s`` bounds each request as a whole (connect + send + retries + the full body), not each read;
bodies are capped (``max_body_mb``): a probe keeps the first ``max_body_bytes`` and says it stopped there,
any other read of a larger body is an error ("could not be verified"), never a pass.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import httpx
import pytest

from opscheck.auth.client import NextAuth
from opscheck.clients.bounded import BodyTooLarge, bounded_client
from opscheck.clients.http import OpsClient, ssl_context
from opscheck.config import load_config
from opscheck.credentials.exposure import exposure_needles, scan_site
from opscheck.errors import OpscheckError, TargetUnreachable
from tests.support.hostile_http import (
    STALLS,
    DribblingServer,
    HugeBodyServer,
    StallingServer,
    gzip_bomb,
    html_chunks,
)
from tests.support.processes import run_with_peak_memory
from tests.support.servers import LocalHTTPServer, Route
from tests.support.suite_run import REPO, write_opscheck_toml
from tests.support.time_limits import SLACK_S, finishes_within


@pytest.mark.parametrize("stage", ["headers", "body"])
def test_a_dribbling_server_costs_one_timeout_not_one_per_byte(stage: str) -> None:
    with DribblingServer(stage=stage, interval_s=0.1) as server, OpsClient(server.url, timeout_s=2) as client:
        took, result = finishes_within(2 + SLACK_S, lambda: client.get("/"))

    assert isinstance(result, TargetUnreachable), result
    assert "as a whole took longer than timeout_s = 2 s" in str(result), str(result)
    assert took >= 1.9, took


def test_retries_share_the_one_deadline() -> None:
    with (
        DribblingServer(stage="headers", interval_s=0.1) as server,
        OpsClient(server.url, timeout_s=1.5, attempts=5) as client,
    ):
        _took, result = finishes_within(1.5 + SLACK_S, lambda: client.get("/"))
    assert isinstance(result, TargetUnreachable), result
    assert server.requests == 1, "a timed-out request is not retried"


def test_a_streamed_body_is_bounded_too() -> None:
    """The exposure scan streams its downloads: the deadline runs on while the body is read."""

    def read_all() -> int:
        with client.stream("GET", "/") as response:
            return sum(len(chunk) for chunk in response.iter_bytes())

    with (
        DribblingServer(stage="body", interval_s=0.05) as server,
        OpsClient(server.url, timeout_s=1.5) as client,
    ):
        _took, result = finishes_within(1.5 + SLACK_S, read_all)
    assert "as a whole took longer than timeout_s = 1.5 s" in str(result), repr(result)


def test_a_probe_of_a_dribbling_page_records_the_timeout() -> None:
    with (
        DribblingServer(stage="body", interval_s=0.1) as server,
        OpsClient(server.url, timeout_s=1.5) as client,
    ):
        _took, probe = finishes_within(1.5 + SLACK_S, lambda: client.probe("/"))
    assert probe.status == 200
    assert "as a whole" in (probe.error or ""), probe


def test_a_body_over_the_cap_is_an_error_naming_the_key() -> None:
    with HugeBodyServer(50_000_000) as server:
        url = server.url
        with (
            OpsClient(url, timeout_s=10, max_body_bytes=1_000_000) as client,
            pytest.raises(BodyTooLarge) as caught,
        ):
            client.get("/")
    message = str(caught.value)
    assert f"GET {url}/: could not be verified" in message
    assert "max_body_mb = 1 MB" in message
    assert max(server.sent) < 25_000_000, "the rest of the body is not downloaded"


def test_a_probe_keeps_the_first_max_body_bytes_and_says_so() -> None:
    with (
        HugeBodyServer(3_000_000) as server,
        OpsClient(server.url, timeout_s=10, max_body_bytes=1_000_000) as client,
    ):
        probe = client.probe("/")
    assert probe.error is None, probe.error
    assert probe.status == 200
    assert probe.truncated
    assert len(probe.text) == 1_000_000
    assert probe.text.startswith("<p>all is well")


def test_a_body_within_the_cap_is_read_in_full() -> None:
    with (
        HugeBodyServer(999_999) as server,
        OpsClient(server.url, timeout_s=10, max_body_bytes=1_000_000) as client,
    ):
        probe = client.probe("/")
        response = client.get("/")
    assert not probe.truncated
    assert len(probe.text) == 999_999
    assert len(response.content) == 999_999


PEAK_RSS_SCRIPT = """
import sys
from opscheck.clients.http import OpsClient
with OpsClient(sys.argv[1], timeout_s=120) as client:
    probe = client.probe("/")
seen = {"status": probe.status, "chars": len(probe.text), "truncated": probe.truncated, "error": probe.error}
"""

PAGE_BYTES = 800 * 1024 * 1024


def test_an_800_mb_page_is_probed_in_bounded_memory() -> None:
    """Peak RSS of a smoke probe of an 800 MB page (served by a generator, never stored): measured 5.3 GB
    before the cap (benchmarks/RESULTS.md), now the interpreter plus one capped body."""
    with HugeBodyServer(PAGE_BYTES) as server:
        seen = run_with_peak_memory(PEAK_RSS_SCRIPT, server.url, cwd=REPO)
    print(f"peak RSS probing an 800 MB page: {seen['peak_mb']:.0f} MB ({seen})")
    assert (seen["status"], seen["error"]) == (200, None), seen
    assert (seen["truncated"], seen["chars"]) == (True, 10_000_000), seen
    assert seen["peak_mb"] < 200, seen
    assert max(server.sent) < PAGE_BYTES // 4, "the probe stopped downloading at the cap"


def test_the_auth_client_caps_bodies_at_the_environments_max_body_mb(tmp_path: Path) -> None:
    """The NextAuth client (auth suite) reads at most max_body_mb, like every other check, not 10 MB."""
    with HugeBodyServer(3_000_000) as server:
        config = write_opscheck_toml(tmp_path, base_url=server.url, top={"max_body_mb": 1})
        with NextAuth.for_environment(load_config(config, {}).environment("x")) as auth:
            _took, result = finishes_within(30, auth.csrf)
    assert isinstance(result, BodyTooLarge), repr(result)
    assert "max_body_mb = 1 MB" in str(result)


GZIP_HTML = {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"}


def test_a_gzip_bomb_is_capped_after_decompression() -> None:
    """200 MB of zeros in 200 KB of gzip: small on the wire, so only a cap on the decoded body stops it."""
    bomb = gzip_bomb(200_000_000)
    assert len(bomb) < 1_000_000
    with (
        LocalHTTPServer({"/": Route(body=bomb, headers=GZIP_HTML)}) as server,
        OpsClient(server.url, timeout_s=30, max_body_bytes=1_000_000) as client,
    ):
        _took, result = finishes_within(30, lambda: client.get("/"))
        probe = client.probe("/")
    assert isinstance(result, BodyTooLarge), f"read {len(result.content)} decoded bytes"
    assert "max_body_mb = 1 MB" in str(result)
    assert (probe.error, probe.truncated, len(probe.text)) == (None, True, 1_000_000), probe
    assert probe.text == "\0" * 1_000_000


@pytest.mark.parametrize(("encoding", "wbits"), [("gzip", 31), ("deflate", 15), ("deflate", -15)])
def test_a_compressed_page_within_the_cap_is_decoded_in_full(encoding: str, wbits: int) -> None:
    """gzip, deflate as RFC 9110 says (zlib-wrapped) and deflate as some servers send it (raw)."""
    page = b"".join(html_chunks(900_000))
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = compressor.compress(page) + compressor.flush()
    headers = {"Content-Type": "text/html", "Content-Encoding": encoding}
    with (
        LocalHTTPServer({"/": Route(body=body, headers=headers)}) as server,
        OpsClient(server.url, timeout_s=10, max_body_bytes=1_000_000) as client,
    ):
        response = client.get("/")
        with client.stream("GET", "/") as streamed:
            chunks = list(streamed.iter_bytes())
    assert response.content == page
    assert b"".join(chunks) == page


def test_a_truncated_gzip_body_is_an_error_not_a_short_page() -> None:
    body = gzip_bomb(3_000_000)
    with (
        LocalHTTPServer({"/": Route(body=body[: len(body) // 2], headers=GZIP_HTML)}) as server,
        OpsClient(server.url, timeout_s=10) as client,
        pytest.raises(httpx.DecodingError, match="ended before the end of its gzip stream"),
    ):
        client.get("/")


def test_only_the_codings_decoded_under_the_cap_are_offered() -> None:
    """httpx offers br and zstd when their libraries happen to be installed; they would be decoded uncapped."""
    with (
        LocalHTTPServer({"/": Route(body="ok")}) as server,
        OpsClient(server.url, timeout_s=5) as client,
    ):
        sent = client.get("/", headers={"Accept-Encoding": "br, gzip;q=0.9, zstd, deflate"}).request
    assert sent.headers["Accept-Encoding"] == "gzip;q=0.9, deflate"


BOMB_RSS_SCRIPT = """
import sys
from opscheck.clients.bounded import BodyTooLarge, bounded_client
from opscheck.clients.http import OpsClient, ssl_context
with OpsClient(sys.argv[1], timeout_s=120) as client:
    try:
        client.get("/")
        outcome = "read in full"
    except BodyTooLarge as exc:
        outcome = str(exc)
    probe = client.probe("/")
seen = {"outcome": outcome, "chars": len(probe.text), "truncated": probe.truncated}
"""


def test_a_1_gb_gzip_bomb_is_read_in_bounded_memory() -> None:
    """1 GB of zeros in about 1 MB of gzip, read with the default max_body_mb = 10: the read errors and
    the memory stays that of the interpreter plus one capped body (measured: see README)."""
    bomb = gzip_bomb(1_000_000_000)
    with LocalHTTPServer({"/": Route(body=bomb, headers=GZIP_HTML)}) as server:
        seen = run_with_peak_memory(BOMB_RSS_SCRIPT, server.url, cwd=REPO)
    print(f"peak RSS reading a 1 GB gzip bomb ({len(bomb)} bytes on the wire): {seen['peak_mb']:.0f} MB")
    assert "max_body_mb = 10 MB" in seen["outcome"], seen
    assert (seen["truncated"], seen["chars"]) == (True, 10_000_000), seen
    assert seen["peak_mb"] < 200, seen


def test_an_empty_body_labelled_gzip_is_empty_not_an_error() -> None:
    """A HEAD request or a bodiless answer keeps the Content-Encoding its GET would have."""
    routes = {
        "/": Route(body=gzip_bomb(1000), headers=GZIP_HTML),
        "/empty": Route(status=204, headers=GZIP_HTML),
    }
    with LocalHTTPServer(routes) as server, OpsClient(server.url, timeout_s=5) as client:
        head = client.head("/")
        empty = client.get("/empty")
    assert (head.status_code, head.content) == (200, b"")
    assert (empty.status_code, empty.content) == (204, b"")


# -- a receiver that goes silent at any point of its answer ------------------------------------------------


def _get(url: str) -> object:
    with OpsClient(url, timeout_s=1) as client:
        return client.get("/")


def _stream(url: str) -> object:
    with OpsClient(url, timeout_s=1) as client, client.stream("GET", "/") as response:
        return b"".join(response.iter_bytes())


def _probe_many(url: str) -> object:
    with OpsClient(url, timeout_s=1) as client:
        return client.probe_many(["/"])["/"].error


def _auth_csrf(url: str) -> object:
    with NextAuth(url, timeout_s=1) as auth:
        return auth.csrf()


def _exposure_scan(url: str) -> object:
    needles, _ = exposure_needles({"NEXTAUTH_SECRET": "s3cr3t-value-long-enough-to-search"})
    with OpsClient(url, timeout_s=1) as client:
        return scan_site(client, ["/"], needles)


def _bounded_post(url: str) -> object:
    """The client paging and metrics send with."""
    with bounded_client(timeout_s=1, max_body_bytes=65536, verify=ssl_context(None)) as client:
        return client.post(f"{url}/hook", json={"event": "trigger"})


ENTRY_POINTS = [_get, _stream, _probe_many, _auth_csrf, _exposure_scan, _bounded_post]


@pytest.mark.parametrize("stall", list(STALLS))
def test_a_receiver_that_goes_silent_anywhere_is_one_named_timeout_never_an_httpcore_error(
    stall: str,
) -> None:
    """Whatever an entry point raises or records names the request's deadline; no exception of httpcore
    (the layer under httpx) reaches a caller, whichever point of the answer the receiver stops at."""
    seen = {}
    with StallingServer(STALLS[stall]) as server:
        url = server.url.replace("http:", "https:") if "TLS" in stall else server.url
        for call in ENTRY_POINTS:
            took, seen[call.__name__] = finishes_within(1 + SLACK_S, lambda call=call: call(url))
            assert took < 1 + SLACK_S
    for name, outcome in seen.items():
        assert not type(outcome).__module__.startswith("httpcore"), f"{name}: {outcome!r}"
        assert isinstance(outcome, TargetUnreachable | httpx.TimeoutException | str), f"{name}: {outcome!r}"
        assert "the request as a whole took longer than timeout_s = 1 s" in str(outcome), (
            f"{name}: {outcome!r}"
        )


@pytest.mark.parametrize("stall", [s for s in STALLS if "body" in s or "closing" in s])
def test_a_streamed_body_that_times_out_is_target_unreachable_like_every_other_read(stall: str) -> None:
    """``client.stream``: a timeout while the body is read reaches the caller as TargetUnreachable naming
    the request, as one before the body does, and as ``client.get`` reports the same stall."""
    with StallingServer(STALLS[stall]) as server:
        url = server.url
        _took, streamed = finishes_within(1 + SLACK_S, lambda: _stream(url))
        _took, got = finishes_within(1 + SLACK_S, lambda: _get(url))
    assert isinstance(streamed, TargetUnreachable), repr(streamed)
    assert str(streamed) == (
        f"GET {url}/: could not be reached (the request as a whole took longer than timeout_s = 1 s)"
    )
    assert (type(streamed), str(streamed)) == (type(got), str(got))


@pytest.mark.parametrize(
    ("body", "seen"),
    [
        (gzip_bomb(3_000_000)[:1500], "the body ended before the end of its gzip stream"),
        (b"\x1f\x8bnot gzip at all", "the gzip body is corrupt"),
    ],
    ids=["cut", "corrupt"],
)
def test_a_gzip_body_that_cannot_be_decoded_could_not_be_verified_for_every_entry_point(
    body: bytes, seen: str
) -> None:
    """A page or a script (exposure scan) whose gzip cannot be decoded is an error naming the request,
    and a probe records it: never an exception out of the probe phase or a traceback."""
    routes = {path: Route(body=body, headers=GZIP_HTML) for path in ("/", "/api/auth/csrf")}
    with LocalHTTPServer(routes) as server, OpsClient(server.url, timeout_s=5) as client:
        url = server.url
        with pytest.raises(OpscheckError) as got:
            client.get("/")
        probe = client.probe_many(["/"])["/"]
        needles, _ = exposure_needles({"NEXTAUTH_SECRET": "s3cr3t-value-long-enough-to-search"})
        with pytest.raises(TargetUnreachable) as scanned:
            scan_site(client, ["/"], needles)
        with NextAuth(url, timeout_s=5) as auth, pytest.raises(OpscheckError) as csrf:
            auth.csrf()
    assert str(got.value).startswith(f"GET {url}/: could not be verified ({seen}")
    assert isinstance(got.value, httpx.DecodingError)  # callers that catch httpx's errors still do
    assert (probe.status, probe.error is not None and probe.error.startswith(seen)) == (200, True), probe
    assert seen in str(scanned.value)
    assert str(csrf.value).startswith(f"GET {url}/api/auth/csrf: could not be verified ({seen}")
