"""The server's DTLS identity: one self-signed ECDSA P-256 certificate per process.

WebRTC peers do not trust certificate chains: each side puts the digest of its certificate in
the SDP (``a=fingerprint``, RFC 8122 §5) and the other side checks the certificate presented in
the DTLS handshake against that digest (RFC 8827 §6.5). The certificate is therefore
self-signed, with a random subject, and only its key and its fingerprint matter.

``load_or_create`` keeps it in the data directory (PEM, mode 0600) so the fingerprint stays
stable across restarts when wanted; an expired or nearly expired file is replaced.

Time is passed in (``now``, Unix seconds) like everywhere in ``proto``: certificate validity is
calendar time, so callers pass ``time.time()``.
"""

from __future__ import annotations

import datetime
import os
import secrets
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import crypto

__all__ = ["FINGERPRINT_ALGORITHMS", "Certificate", "fingerprint_of", "load_or_create"]

# RFC 8122 §5 hash function textual names (from the IANA registry) that we can compute.
FINGERPRINT_ALGORITHMS: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "sha-1": hashes.SHA1,
    "sha-224": hashes.SHA224,
    "sha-256": hashes.SHA256,
    "sha-384": hashes.SHA384,
    "sha-512": hashes.SHA512,
}

_VALID_BEFORE: Final = datetime.timedelta(days=1)  # tolerate peers whose clock is behind
_VALID_FOR: Final = datetime.timedelta(days=30)
_RENEW_MARGIN: Final = datetime.timedelta(days=1)


def fingerprint_of(cert: x509.Certificate, algorithm: str = "sha-256") -> str:
    """RFC 8122 §5 fingerprint: uppercase hex byte pairs joined by colons, e.g. ``"AB:CD:..."``.

    Raises ``ValueError`` for a hash function name we do not know (the name is case-insensitive).
    """
    hash_type = FINGERPRINT_ALGORITHMS.get(algorithm.lower())
    if hash_type is None:
        raise ValueError(f"unsupported fingerprint hash function {algorithm!r}")
    return cert.fingerprint(hash_type()).hex(":").upper()


class Certificate:
    """A self-signed certificate and its private key."""

    __slots__ = ("_cert", "_key")

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self._cert = cert
        self._key = key

    @classmethod
    def generate(cls, now: float) -> Certificate:
        """A fresh P-256 key and a certificate valid from ``now - 1 day`` to ``now + 30 days``."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, secrets.token_hex(16))])
        start = datetime.datetime.fromtimestamp(now, tz=datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start - _VALID_BEFORE)
            .not_valid_after(start + _VALID_FOR)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @property
    def x509(self) -> x509.Certificate:
        return self._cert

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        return self._key

    def fingerprint(self, algorithm: str = "sha-256") -> str:
        """This certificate's fingerprint for ``a=fingerprint`` (RFC 8122 §5)."""
        return fingerprint_of(self._cert, algorithm)

    def expires_before(self, when: float) -> bool:
        return self._cert.not_valid_after_utc.timestamp() < when

    def to_pyopenssl(self) -> tuple[crypto.X509, crypto.PKey]:
        """The same certificate and key as pyOpenSSL objects."""
        return crypto.X509.from_cryptography(self._cert), crypto.PKey.from_cryptography_key(self._key)

    def to_pem(self) -> bytes:
        """Key then certificate, PEM encoded (the key unencrypted: protect the file)."""
        key_pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return key_pem + self._cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def from_pem(cls, data: bytes) -> Certificate:
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("stored DTLS key is not an ECDSA key")
        cert = x509.load_pem_x509_certificate(data)
        if cert.public_key() != key.public_key():
            raise ValueError("stored DTLS certificate does not match its key")
        return cls(cert, key)


def load_or_create(path: Path, now: float) -> Certificate:
    """Load the certificate stored at ``path``, or generate and store one (mode 0600).

    A stored certificate that expires within a day of ``now`` is replaced by a new one, so the
    fingerprint changes at most once a month.
    """
    if path.exists():
        cert = Certificate.from_pem(path.read_bytes())
        if not cert.expires_before(now + _RENEW_MARGIN.total_seconds()):
            return cert
    cert = Certificate.generate(now)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(cert.to_pem())
    os.replace(tmp, path)  # atomic: a crash never leaves half a key behind
    return cert
