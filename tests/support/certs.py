"""Test certificates built on trustme (>= 1.1, which lets ``issue_cert`` set the validity window).

``issue()`` signs a server certificate with a CA and returns an :class:`IssuedCert`: a server-side
``ssl.SSLContext`` presenting it (hand it to ``LocalHTTPServer(ssl_context=...)``) and the path of the
PEM bundle a client must trust. Files go into the directory you give (``tmp_path``)::

    pki = LocalPKI(tmp_path)
    with LocalHTTPServer(ssl_context=pki.valid().server_context) as server:
        inspect_certificate("localhost", server.port, ca_bundle=pki.ca_bundle)

``LocalPKI`` holds one trusted CA and has ready-made variants: ``valid`` (localhost and 127.0.0.1,
90 days left), ``expiring`` (5 days left), ``expired``, ``not_yet_valid``, ``wrong_host`` (issued for
another name) and ``untrusted`` (signed by a second CA that clients are not given).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme

__all__ = [
    "DEFAULT_HOSTNAMES",
    "IssuedCert",
    "LocalPKI",
    "client_context",
    "issue",
    "new_ca",
    "write_ca_bundle",
]

#: what test servers are reached as: LocalHTTPServer's TLS url uses "localhost", and it listens on 127.0.0.1
DEFAULT_HOSTNAMES: tuple[str, ...] = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class IssuedCert:
    """A server certificate ready to serve, and what a client needs to (try to) trust it."""

    #: server-side context presenting the certificate (and its chain)
    server_context: ssl.SSLContext
    #: PEM file of the CA a client is given; for an "untrusted" certificate this is NOT its issuer
    ca_bundle: str
    #: PEM file with the server certificate chain (leaf first)
    cert_path: str
    hostnames: tuple[str, ...]
    not_before: datetime
    not_after: datetime

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context trusting ``ca_bundle`` (e.g. for ``httpx.Client(verify=...)``)."""
        return client_context(self.ca_bundle)


def new_ca(name: str = "opscheck test CA") -> trustme.CA:
    """A fresh root CA; ``name`` becomes its organizational unit (trustme CAs have no CN)."""
    return trustme.CA(organization_unit_name=name)


def write_ca_bundle(ca: trustme.CA, directory: Path, stem: str = "ca") -> str:
    """Write the CA certificate as PEM into ``directory`` and return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def client_context(ca_bundle: str) -> ssl.SSLContext:
    """A verifying client context that trusts only ``ca_bundle``."""
    return ssl.create_default_context(cafile=ca_bundle)


def issue(
    ca: trustme.CA,
    hostnames: Sequence[str] = DEFAULT_HOSTNAMES,
    *,
    directory: Path,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    common_name: str | None = None,
    name: str = "server",
    trusted_ca_bundle: str | None = None,
) -> IssuedCert:
    """Issue a server certificate for ``hostnames`` (DNS names or IP addresses) signed by ``ca``.

    Validity defaults to one day ago until 90 days from now; ``common_name`` defaults to the first
    hostname. Key and chain are written to ``directory/<name>-key-and-chain.pem``, the leaf chain to
    ``<name>-chain.pem`` and, unless ``trusted_ca_bundle`` names another bundle for clients to use,
    ``ca``'s certificate to ``<name>-ca.pem``.
    """
    if not hostnames:
        raise ValueError("a server certificate needs at least one hostname")
    now = datetime.now(UTC)
    not_before = not_before or now - timedelta(days=1)
    not_after = not_after or now + timedelta(days=90)
    leaf = ca.issue_cert(
        *hostnames,
        common_name=common_name or hostnames[0],
        not_before=not_before,
        not_after=not_after,
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_and_chain = directory / f"{name}-key-and-chain.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(key_and_chain))
    chain = directory / f"{name}-chain.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(str(key_and_chain))
    return IssuedCert(
        server_context=server_context,
        ca_bundle=trusted_ca_bundle or write_ca_bundle(ca, directory, f"{name}-ca"),
        cert_path=str(chain),
        hostnames=tuple(hostnames),
        not_before=not_before,
        not_after=not_after,
    )


class LocalPKI:
    """One trusted test CA (bundle at ``ca_bundle``) and ready-made server certificates.

    Each variant method issues a fresh certificate; its ``ca_bundle`` is always this PKI's trusted CA,
    so a client configured like a real one sees exactly the problem the variant is named after.
    """

    UNTRUSTED_CA_NAME = "opscheck untrusted test CA"

    def __init__(self, directory: Path, ca_name: str = "opscheck test CA") -> None:
        self.directory = directory
        self.ca = new_ca(ca_name)
        self.ca_bundle = write_ca_bundle(self.ca, directory, "trusted-ca")

    def client_context(self) -> ssl.SSLContext:
        return client_context(self.ca_bundle)

    def issue(
        self,
        hostnames: Sequence[str] = DEFAULT_HOSTNAMES,
        *,
        name: str,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        common_name: str | None = None,
        ca: trustme.CA | None = None,
    ) -> IssuedCert:
        """Issue with this PKI's CA (or ``ca``), handing clients this PKI's trusted bundle."""
        return issue(
            ca or self.ca,
            hostnames,
            directory=self.directory,
            not_before=not_before,
            not_after=not_after,
            common_name=common_name,
            name=name,
            trusted_ca_bundle=self.ca_bundle,
        )

    def valid(self, days_left: float = 90) -> IssuedCert:
        """Valid for localhost and 127.0.0.1, ``days_left`` days to go."""
        now = datetime.now(UTC)
        return self.issue(
            name="valid", not_before=now - timedelta(days=1), not_after=now + timedelta(days=days_left)
        )

    def expiring(self, days_left: float = 5) -> IssuedCert:
        """Valid and trusted, but expiring in ``days_left`` days."""
        now = datetime.now(UTC)
        return self.issue(
            name="expiring", not_before=now - timedelta(days=60), not_after=now + timedelta(days=days_left)
        )

    def expired(self) -> IssuedCert:
        """Expired yesterday (valid for 90 days before that)."""
        now = datetime.now(UTC)
        return self.issue(
            name="expired", not_before=now - timedelta(days=91), not_after=now - timedelta(days=1)
        )

    def not_yet_valid(self) -> IssuedCert:
        """Valid only from tomorrow on."""
        now = datetime.now(UTC)
        return self.issue(
            name="not-yet-valid", not_before=now + timedelta(days=1), not_after=now + timedelta(days=91)
        )

    def wrong_host(self, hostname: str = "other.example") -> IssuedCert:
        """Trusted and current, but issued for ``hostname`` only."""
        return self.issue((hostname,), name="wrong-host")

    def untrusted(self) -> IssuedCert:
        """Current and for the right host, but signed by a CA clients do not have."""
        return self.issue(name="untrusted", ca=new_ca(self.UNTRUSTED_CA_NAME))
