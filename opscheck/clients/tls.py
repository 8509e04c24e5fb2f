"""TLS certificate inspection for smoke checks.

:func:`inspect_certificate` connects to a host, performs a verifying TLS handshake (chain of trust and
hostname) and reports what the server presented as a :class:`CertificateInfo`. A certificate that does
not verify is not an error at this stage: the certificate is read over a second, non-verifying
connection and returned with ``verified=False`` and a short, human ``verify_error`` ("certificate has
expired", "hostname mismatch: certificate is for ...", "untrusted issuer: ..."). Only a target that
cannot be reached at all (DNS failure, refused connection, timeout, failed TLS handshake) raises
:class:`~opscheck.errors.TargetUnreachable`.

:func:`check_certificate` then applies the runbook's expectation (verifies, and has enough validity
left) and raises :class:`~opscheck.errors.CheckFailed` otherwise.

``timeout_s`` bounds the whole inspection (name resolution, connecting and handshakes, including the
second connection made after a verification failure), not each step separately.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from opscheck.errors import CheckFailed, TargetUnreachable, UsageError

if TYPE_CHECKING:
    from cryptography import x509

# cryptography is imported where a certificate is read (https targets only): an http run, and every
# run's collection, never pay for importing it

__all__ = ["CertificateInfo", "check_certificate", "inspect_certificate"]

# OpenSSL X509_V_ERR_* codes carried by ssl.SSLCertVerificationError.verify_code.
_V_ERR_UNABLE_TO_GET_ISSUER_CERT = 2
_V_ERR_CERT_NOT_YET_VALID = 9
_V_ERR_CERT_HAS_EXPIRED = 10
_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18
_V_ERR_SELF_SIGNED_CERT_IN_CHAIN = 19
_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21
_V_ERR_CERT_UNTRUSTED = 27
_V_ERR_HOSTNAME_MISMATCH = 62
_V_ERR_IP_ADDRESS_MISMATCH = 64

_UNTRUSTED_CODES = frozenset(
    {
        _V_ERR_UNABLE_TO_GET_ISSUER_CERT,
        _V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
        _V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
        _V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
        _V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE,
        _V_ERR_CERT_UNTRUSTED,
    }
)

_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class CertificateInfo:
    """What a server presented, and whether it verified for the host that was asked for."""

    #: subject common name (CN), or None when the subject has none
    common_name: str | None
    #: DNS names of the subjectAltName extension, in certificate order
    subject_alt_names: tuple[str, ...]
    #: issuer distinguished name, RFC 4514 string (e.g. "CN=R11,O=Let's Encrypt,C=US")
    issuer: str
    #: start of validity, aware UTC datetime
    not_before: datetime
    #: end of validity, aware UTC datetime
    not_after: datetime
    #: days from "now" to not_after (negative once expired)
    days_left: float
    #: whether the verifying handshake (chain and hostname) succeeded
    verified: bool
    #: short human reason when not verified, else None
    verify_error: str | None


class _Deadline:
    """Remaining time of one overall timeout, for steps that each take their own timeout."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._end = time.monotonic() + timeout_s

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left


def inspect_certificate(
    host: str,
    port: int = 443,
    *,
    ca_bundle: str | None = None,
    timeout_s: float = 10,
    server_name: str | None = None,
    now: datetime | None = None,
) -> CertificateInfo:
    """Connect to ``host:port`` and describe the certificate it presents.

    The handshake verifies the chain against the system's default trust store plus ``ca_bundle`` (a PEM
    file of private CAs; the environment's HTTP client trusts the same), and the hostname against
    ``server_name`` (default: ``host``), which is also sent as SNI. ``now`` (default: the current time;
    a naive value is taken as UTC) is the reference for ``days_left``; verification itself always uses
    the real clock.

    Raises :class:`TargetUnreachable` when no certificate could be read: DNS failure, connection
    refused, timeout (``timeout_s`` bounds the whole call) or a TLS handshake that fails for a reason
    other than certificate verification; :class:`UsageError` when ``ca_bundle`` cannot be loaded.
    """
    checked = f"TLS certificate of {host}:{port}"
    sni = server_name or host
    deadline = _Deadline(timeout_s)

    verifying = _verifying_context(ca_bundle)
    verify_exc: ssl.SSLCertVerificationError | None = None
    try:
        der = _fetch_certificate(host, port, sni=sni, context=verifying, deadline=deadline, checked=checked)
    except ssl.SSLCertVerificationError as exc:
        verify_exc = exc
        der = _fetch_certificate(
            host, port, sni=sni, context=_non_verifying_context(), deadline=deadline, checked=checked
        )

    from cryptography import x509  # noqa: PLC0415 - see the note at the imports

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise TargetUnreachable(checked, f"server sent an unreadable certificate: {exc}") from exc

    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    not_after = cert.not_valid_after_utc
    return CertificateInfo(
        common_name=_common_name(cert.subject),
        subject_alt_names=_dns_names(cert),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=not_after,
        days_left=(not_after - now).total_seconds() / _SECONDS_PER_DAY,
        verified=verify_exc is None,
        verify_error=None if verify_exc is None else _describe_verify_error(verify_exc, cert),
    )


def check_certificate(info: CertificateInfo, *, host: str, min_days: float) -> None:
    """Raise :class:`CheckFailed` unless ``info`` verified and has at least ``min_days`` left."""
    checked = f"TLS certificate of {host}"
    if not info.verified:
        raise CheckFailed(
            checked,
            "a certificate that verifies for the host",
            info.verify_error or "verification failed",
        )
    if info.days_left < min_days:
        expires = info.not_after.strftime("%Y-%m-%d %H:%M UTC")
        raise CheckFailed(
            checked,
            f"at least {min_days:g} days of validity",
            f"{info.days_left:.1f} days left (expires {expires})",
        )


# --------------------------------------------------------------------------------------------------
# connecting


def _verifying_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The system trust store plus ``ca_bundle``: what the environment's HTTP client trusts, too."""
    context = ssl.create_default_context()
    if ca_bundle is None:
        return context
    try:
        context.load_verify_locations(cafile=ca_bundle)
    except (OSError, ValueError) as exc:  # missing file, or no PEM certificate in it (ssl.SSLError)
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise UsageError(f"CA bundle {ca_bundle} cannot be used: {reason}") from exc
    return context


def _non_verifying_context() -> ssl.SSLContext:
    """A client context that accepts any certificate: used only to *read* a certificate that failed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _fetch_certificate(
    host: str,
    port: int,
    *,
    sni: str,
    context: ssl.SSLContext,
    deadline: _Deadline,
    checked: str,
) -> bytes:
    """Handshake with ``context`` and return the peer's DER certificate.

    Lets ssl.SSLCertVerificationError through; every other failure becomes TargetUnreachable.
    """
    phase = "resolving the name"
    try:
        addresses = _resolve(host, port, deadline)
        phase = "connecting"
        with _connect(addresses, port, deadline) as raw:
            phase = "during the TLS handshake"
            raw.settimeout(deadline.remaining())
            with context.wrap_socket(raw, server_hostname=sni) as tls:
                der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError:
        raise
    except socket.gaierror as exc:
        raise TargetUnreachable(checked, f"DNS lookup of {host} failed: {exc.strerror or exc}") from exc
    except TimeoutError as exc:
        raise TargetUnreachable(checked, f"timed out after {deadline.timeout_s:g} s {phase}") from exc
    except ConnectionRefusedError as exc:
        raise TargetUnreachable(checked, "connection refused") from exc
    except ssl.SSLError as exc:
        raise TargetUnreachable(checked, f"TLS handshake failed: {exc.reason or exc}") from exc
    except OSError as exc:
        raise TargetUnreachable(checked, exc.strerror or str(exc) or type(exc).__name__) from exc
    if not der:
        raise TargetUnreachable(checked, "server presented no certificate")
    return der


def _resolve(host: str, port: int, deadline: _Deadline) -> list[str]:
    """The IP addresses of ``host``, by getaddrinfo with a timeout (the resolver has none we control).

    A literal IP address is returned as is; a name is looked up in a daemon thread that is abandoned when
    the deadline passes.
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [host]

    outcome: list[list[str] | Exception] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            outcome.append(list(dict.fromkeys(str(info[4][0]) for info in infos)))
        except Exception as exc:  # handed over to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=lookup, name=f"opscheck-resolve-{host}", daemon=True)
    worker.start()
    worker.join(deadline.remaining())
    if not outcome:
        raise TimeoutError
    result = outcome[0]
    if isinstance(result, Exception):
        raise result
    return result


def _connect(addresses: list[str], port: int, deadline: _Deadline) -> socket.socket:
    """Connect to the first address that accepts, like socket.create_connection does for a name."""
    last_error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=deadline.remaining())
        except TimeoutError:
            raise
        except OSError as exc:
            last_error = exc
    raise last_error or OSError("the name resolved to no addresses")


# --------------------------------------------------------------------------------------------------
# describing


def _name_attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    attributes = name.get_attributes_for_oid(oid)
    if not attributes:
        return None
    value = attributes[0].value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _common_name(name: x509.Name) -> str | None:
    from cryptography.x509.oid import NameOID  # noqa: PLC0415 - see the note at the imports

    return _name_attribute(name, NameOID.COMMON_NAME)


def _short_name(name: x509.Name) -> str:
    """The most telling single attribute of a name: CN, else OU, else O, else the whole DN."""
    from cryptography.x509.oid import NameOID  # noqa: PLC0415 - see the note at the imports

    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.ORGANIZATION_NAME):
        value = _name_attribute(name, oid)
        if value:
            return value
    return name.rfc4514_string() or "an unnamed issuer"


def _subject_alt_names(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    from cryptography import x509  # noqa: PLC0415 - see the note at the imports

    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    from cryptography import x509  # noqa: PLC0415 - see the note at the imports

    san = _subject_alt_names(cert)
    return () if san is None else tuple(san.get_values_for_type(x509.DNSName))


def _names_covered(cert: x509.Certificate) -> list[str]:
    """Every identity the certificate is for (DNS and IP SANs, else the CN), for messages."""
    from cryptography import x509  # noqa: PLC0415 - see the note at the imports

    san = _subject_alt_names(cert)
    names: list[str] = []
    if san is not None:
        names.extend(san.get_values_for_type(x509.DNSName))
        names.extend(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    if not names:
        common_name = _common_name(cert.subject)
        if common_name:
            names.append(common_name)
    return names


def _describe_verify_error(exc: ssl.SSLCertVerificationError, cert: x509.Certificate) -> str:
    code = exc.verify_code
    if code == _V_ERR_CERT_HAS_EXPIRED:
        return "certificate has expired"
    if code == _V_ERR_CERT_NOT_YET_VALID:
        return "certificate is not yet valid"
    if code in (_V_ERR_HOSTNAME_MISMATCH, _V_ERR_IP_ADDRESS_MISMATCH):
        names = _names_covered(cert)
        return "hostname mismatch: certificate is for " + (", ".join(names) if names else "no names")
    if code in _UNTRUSTED_CODES:
        issuer = _short_name(cert.issuer)
        self_signed = " (self-signed)" if cert.issuer == cert.subject else ""
        return f"untrusted issuer: {issuer}{self_signed}"
    return exc.verify_message or exc.reason or str(exc)
