"""HTTP for checks: an httpx client with explicit timeouts, bounded retries and redaction.

* Transient failures during a rollout (connection refused or reset, 502/503/504) are retried with
  tenacity, bounded in attempts and in total time; every retry is noted on the running check, which is
  then reported as flaky, never silently green. Timeouts are not retried: a blackholed target costs one
  timeout, not several.
* A target that cannot be reached raises :class:`~opscheck.errors.TargetUnreachable` naming the request,
  also when it fails while a streamed body is read (``client.stream``).
* Session and CSRF cookie values are registered as secrets the moment they arrive.
* :meth:`OpsClient.probe_many` fetches many paths concurrently, so a smoke gate over 40 pages costs
  about one round trip; each page keeps its own verdict.
* Every request is bounded as a whole (``timeout_s`` covers connect, send, retries and the full body) and
  so is every body (``max_body_mb``); see :mod:`opscheck.clients.bounded`. A probe reads at most the cap and
  says when it stopped there.
"""

from __future__ import annotations

import functools
import json
import socket
import ssl
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
)

from opscheck.clients.bounded import (
    BodyTooLarge,
    BodyUndecodable,
    BoundedTransport,
    bounded_http_transport,
    concurrently,
)
from opscheck.clients.cookies import register_cookie_secrets
from opscheck.errors import TargetUnreachable
from opscheck.run.context import note_retry, retry_sink
from opscheck.secrets import mask_url, redactor

if TYPE_CHECKING:
    from opscheck.config import Environment

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "RETRY_STATUSES",
    "OpsClient",
    "Probe",
    "describe_transport_error",
    "request_headers",
    "ssl_context",
]

#: the body cap when none is configured (``max_body_mb = 10``)
DEFAULT_MAX_BODY_BYTES = 10_000_000

RETRY_STATUSES = frozenset({502, 503, 504})
_RETRY_ERRORS = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def request_headers(env: Environment) -> dict[str, str]:
    """The environment's extra request headers (``headers = {...}``), values revealed for sending."""
    return {name: value.reveal() for name, value in env.headers.items()}


@functools.cache
def ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Verification with the system store, plus the environment's private CA bundle if set.

    One per bundle and process: loading the system store costs ~25 ms of CPU, and a run builds several
    clients (checks, the protection probe, metrics, paging). Clients share it read-only (HTTP/1.1 only).
    """
    context = ssl.create_default_context()
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    return context


def describe_transport_error(exc: BaseException) -> str:
    """A short, secret-free reason for a transport failure."""
    if isinstance(exc, httpx.TimeoutException):
        if "as a whole" in str(exc):  # the request's deadline (opscheck.clients.bounded), not one operation's
            return str(exc)
        kind = type(exc).__name__.replace("Timeout", " timeout").strip().lower()
        return f"{kind} after the configured timeout"
    text = str(exc) or type(exc).__name__
    causes = _causes(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or any(
        isinstance(c, ssl.SSLCertVerificationError) for c in causes
    ):
        return f"TLS verification failed: {text}"
    # any resolver failure (unknown name, resolver unreachable, ...) arrives as socket.gaierror, which
    # httpx wraps twice (httpcore.ConnectError, then httpx.ConnectError)
    if any(isinstance(c, socket.gaierror) for c in causes) or any(
        marker in text for marker in ("Name or service not known", "nodename nor servname", "-2]")
    ):
        return f"DNS lookup failed: {text}"
    if any(isinstance(c, ssl.SSLError) for c in causes):
        return f"TLS handshake failed: {text}"
    if "Connection refused" in text or "111]" in text:
        return "connection refused"
    return redactor().scrub(text)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _last_outcome(state: RetryCallState) -> httpx.Response:
    """When retries run out: the last response, or the last exception raised again."""
    assert state.outcome is not None
    return state.outcome.result()  # type: ignore[no-any-return]


class RetryingTransport(httpx.BaseTransport):
    """Retries transient failures of the wrapped transport, bounded by attempts and total time."""

    def __init__(self, inner: httpx.BaseTransport, attempts: int, budget_s: float) -> None:
        self.inner = inner
        self.attempts = max(1, attempts)
        self.budget_s = budget_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        def before_sleep(state: RetryCallState) -> None:
            outcome = state.outcome
            if outcome is not None and outcome.failed:
                reason = describe_transport_error(outcome.exception() or Exception())
            else:
                reason = f"HTTP {outcome.result().status_code}" if outcome else "?"
            note_retry(
                f"{request.method} {mask_url(str(request.url))}: {reason} (attempt {state.attempt_number})"
            )
            if outcome is not None and not outcome.failed:
                outcome.result().close()

        retrying = Retrying(
            # an attempt starts only within the first half of the budget: the last one has time to finish
            # inside the request's deadline (opscheck.clients.bounded), and its answer is what is reported
            stop=stop_after_attempt(self.attempts) | stop_before_delay(self.budget_s / 2),
            wait=wait_exponential(multiplier=0.25, max=2),
            retry=retry_if_exception_type(_RETRY_ERRORS)
            | retry_if_result(lambda r: r.status_code in RETRY_STATUSES),
            before_sleep=before_sleep,
            retry_error_callback=_last_outcome,
        )
        # a retryable answer's body is not read here: before_sleep closes it if there is another attempt,
        # and the last one is read by the caller under the body cap (opscheck.clients.bounded)
        return retrying(self.inner.handle_request, request)

    def close(self) -> None:
        self.inner.close()


def _register_cookies(response: httpx.Response) -> None:
    register_cookie_secrets(response.headers)


class _BodyOrUnreachable(httpx.SyncByteStream):
    """A streamed response's body: a transport failure while it is read (the request's deadline passing,
    a reset) is :class:`~opscheck.errors.TargetUnreachable` naming the request, as when ``send`` reads it."""

    def __init__(self, inner: httpx.SyncByteStream, request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except httpx.TransportError as exc:
            checked = f"{self._request.method} {mask_url(str(self._request.url))}"
            raise TargetUnreachable(checked, describe_transport_error(exc)) from None

    def close(self) -> None:
        self._inner.close()


@dataclass
class Probe:
    """One GET of a path: what came back, how long it took, how often it had to be retried."""

    path: str
    url: str
    status: int | None = None
    latency_ms: float | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    text: str = ""
    error: str | None = None
    retries: list[str] = field(default_factory=list)
    #: the body was longer than the cap: ``text`` holds only its first ``max_body_bytes``
    truncated: bool = False

    def json(self) -> Any:
        return json.loads(self.text)


class OpsClient(httpx.Client):
    """httpx client on the environment's base URL; unreachable targets raise TargetUnreachable."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        ca_bundle: Path | None = None,
        attempts: int = 3,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        verify: ssl.SSLContext = ssl_context(ca_bundle)
        transport = BoundedTransport(
            RetryingTransport(bounded_http_transport(verify), attempts, budget_s=timeout_s),
            total_s=timeout_s,
            max_body_bytes=max_body_bytes,
        )
        hooks = kwargs.pop("event_hooks", {})
        hooks.setdefault("response", []).append(_register_cookies)
        super().__init__(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            event_hooks=hooks,
            follow_redirects=False,
            headers={"User-Agent": "opscheck", **(headers or {})},
            **kwargs,
        )
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes

    @classmethod
    def for_environment(cls, env: Environment, **kwargs: Any) -> OpsClient:
        """A client on ``env``'s base URL with its timeout, CA bundle, retries, body cap and extra
        ``headers`` (e.g. Vercel's ``x-vercel-protection-bypass``), sent with every request; ``kwargs``
        override any of them."""
        settings: dict[str, Any] = {
            "timeout_s": env.timeout_s,
            "ca_bundle": env.ca_bundle,
            "attempts": int(env.retries),
            "max_body_bytes": env.max_body_bytes,
            "headers": request_headers(env),
        }
        return cls(env.base_url, **{**settings, **kwargs})

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        try:
            response = super().send(request, **kwargs)
        except httpx.TransportError as exc:
            raise TargetUnreachable(
                f"{request.method} {mask_url(str(request.url))}", describe_transport_error(exc)
            ) from None
        if kwargs.get("stream"):  # the body is read later, by the caller (``client.stream``)
            assert isinstance(response.stream, httpx.SyncByteStream)
            response.stream = _BodyOrUnreachable(response.stream, response.request)
        return response

    def probe(self, path: str) -> Probe:
        """GET ``path`` and record the outcome instead of raising: for concurrent probe phases.

        At most ``max_body_bytes`` of the body are read (``truncated`` says when there was more)."""
        probe = Probe(path, mask_url(str(self.base_url.join(path))))
        with retry_sink(probe.retries):
            started = time.perf_counter()
            try:
                with self.stream("GET", path) as response:
                    probe.status = response.status_code
                    probe.headers = response.headers
                    body, probe.truncated = self._prefix(response)
                    probe.text = body.decode(response.encoding or "utf-8", errors="replace")
            except (TargetUnreachable, BodyUndecodable) as exc:
                probe.error = exc.reason
            probe.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        return probe

    def _prefix(self, response: httpx.Response) -> tuple[bytes, bool]:
        """The first ``max_body_bytes`` of the (decoded) body, and whether there was more."""
        buffer = bytearray()
        try:
            for chunk in response.iter_bytes():
                buffer += chunk
                if len(buffer) > self.max_body_bytes:
                    return bytes(buffer[: self.max_body_bytes]), True
        except BodyTooLarge:
            return bytes(buffer[: self.max_body_bytes]), True
        return bytes(buffer), False

    def probe_many(self, paths: Iterable[str], max_workers: int = 64) -> dict[str, Probe]:
        """GET every path concurrently; results keyed by path. Ctrl-C or SIGTERM ends them promptly."""
        unique = list(dict.fromkeys(paths))
        return dict(zip(unique, concurrently(self.probe, unique, max_workers), strict=True))
