"""DTLS-SRTP key agreement (RFC 5764, RFC 8827 §6.5) as a sans-I/O engine over pyOpenSSL.

Theory of operation
-------------------
``DtlsEndpoint`` wraps one OpenSSL DTLS 1.2 connection whose two ends are memory BIOs: the
caller feeds it each UDP datagram that demultiplexes as DTLS (``is_dtls``, RFC 7983 §7) with
``receive_datagram(data, now)``, sends what ``datagrams_to_send()`` returns, arms a timer for
``get_timer()`` and calls ``handle_timer(now)`` when it fires, and reads ``next_event()``:

- ``DtlsConnected``: the handshake is done, the peer's certificate matched a fingerprint from
  its SDP, and the SRTP keys are exported (RFC 5764 §4.2);
- ``DtlsClosed``: close_notify was received or ``close()`` was called;
- ``DtlsFailed``: the handshake failed, timed out, or the peer's certificate did not match.

After ``DtlsClosed`` or ``DtlsFailed`` the endpoint drops everything it is given.

Trust (RFC 8827 §6.5, RFC 8122 §5): certificates are self-signed, so OpenSSL's chain check is
overridden to accept any chain, and the leaf certificate's digest is compared with the
``a=fingerprint`` values instead, both inside the handshake (a mismatch aborts it with a
``bad_certificate`` alert) and again before keys are handed out. Fingerprints may be given
later with ``set_remote_fingerprints`` when the handshake can start before the SDP is known;
``DtlsConnected`` then waits for them.

Hostile input: non-DTLS and oversize datagrams are dropped before OpenSSL sees them; OpenSSL
silently discards malformed or unauthenticated records (RFC 6347 §4.1.2.7); any OpenSSL error
becomes ``DtlsFailed``. Nothing raises out of ``receive_datagram`` or ``handle_timer``.

Retransmission (RFC 6347 §4.2.4): OpenSSL runs its retransmission timer (§4.2.4.1: 1 s,
doubling, at most 60 s) on its own real-time clock; ``get_timer`` converts its deadline into
the caller's clock. When the caller's clock runs ahead of OpenSSL's (a manual clock in tests,
a wall clock stepped back), ``handle_timer`` sends the last flight again itself, byte for byte,
with the same doubling and at most ``MAX_RETRANSMITS`` times before the handshake fails.
A byte-identical copy is dropped as a replay by a peer that already processed it (§4.1.2.6),
so OpenSSL would never answer one; the endpoint therefore recognises a verbatim copy of the
peer flight that our last flight answered and answers it with that flight again, also after
the handshake (the server's final flight, §4.2.4 figure 2).

MTU: OpenSSL is told not to query the (memory) BIO for a path MTU and to keep records and
handshake fragments within ``mtu`` bytes of UDP payload (1200 by default, as browsers do);
records are then packed into datagrams of at most ``mtu`` bytes at record boundaries.

Application data (SCTP for data channels, RFC 8261) is out of scope: it is counted and dropped.
"""

from __future__ import annotations

import contextlib
import enum
import functools
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from OpenSSL import SSL, crypto

from hubbub.proto.certificate import FINGERPRINT_ALGORITHMS, Certificate, fingerprint_of
from hubbub.proto.srtp import AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, PROFILES_BY_NAME, SrtpProfile

__all__ = [
    "MAX_RETRANSMITS",
    "DtlsClosed",
    "DtlsConnected",
    "DtlsEndpoint",
    "DtlsError",
    "DtlsEvent",
    "DtlsFailed",
    "DtlsState",
    "Role",
    "is_dtls",
]

Role = Literal["server", "client"]

DEFAULT_MTU: Final = 1200
MAX_RETRANSMITS: Final = 7  # 1+2+4+8+16+32+60 s: about two minutes of silence
_MAX_TIMEOUT: Final = 60.0  # RFC 6347 §4.2.4.1
_CLOCK_SLACK: Final = 0.05  # OpenSSL's clock may trail the caller's by this much
_DTLS1_2_VERSION: Final = 0xFEFD  # RFC 6347 §4.1; pyOpenSSL has no constant for it
_RECORD_HEADER_LEN: Final = 13  # RFC 6347 §4.1: type, version, epoch, sequence_number, length
_MAX_DATAGRAM: Final = 16384  # larger than any record OpenSSL would read from one BIO read
_MAX_REMEMBERED: Final = 32  # datagrams of the peer's flight kept to recognise its retransmission
_EXPORTER_LABEL: Final = b"EXTRACTOR-dtls_srtp"  # RFC 5764 §4.2
_CIPHERS: Final = (
    b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    b"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:"
    b"ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA"
)


def is_dtls(data: bytes) -> bool:
    """RFC 7983 §7: a first byte in 20..63 is DTLS (STUN is 0..3, SRTP/SRTCP 128..191)."""
    return len(data) > 0 and 20 <= data[0] <= 63


class DtlsError(Exception):
    """The caller used the endpoint wrongly (a local error, never caused by the peer)."""


class DtlsState(enum.Enum):
    HANDSHAKING = "handshaking"
    AWAITING_FINGERPRINT = "awaiting_fingerprint"  # handshake done, SDP fingerprint not yet given
    CONNECTED = "connected"
    CLOSED = "closed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DtlsConnected:
    """Keys are master key + master salt, in the form ``SrtpSession`` takes them."""

    srtp_profile: SrtpProfile
    local_keys: bytes = field(repr=False)  # kept out of logs
    remote_keys: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class DtlsClosed:
    reason: str


@dataclass(frozen=True, slots=True)
class DtlsFailed:
    reason: str


DtlsEvent = DtlsConnected | DtlsClosed | DtlsFailed


def _describe(exc: SSL.Error) -> str:
    """OpenSSL's error queue as a short text: the reason strings, ``; ``-joined."""
    parts: list[str] = []
    for arg in exc.args:
        if isinstance(arg, list):
            parts.extend(str(item[-1]) for item in arg if isinstance(item, tuple) and item)
        elif arg:
            parts.append(str(arg))
    return "; ".join(parts) or type(exc).__name__


_VERIFY_MODE: Final = SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT


def _reject_all(conn: SSL.Connection, cert: crypto.X509, errno: int, depth: int, ok: int) -> bool:
    return False  # replaced per connection by the endpoint's fingerprint check


@functools.lru_cache(maxsize=16)
def _context(certificate: Certificate, profile_names: tuple[str, ...]) -> SSL.Context:
    """One OpenSSL context per certificate and profile list, shared by all connections (~0.4 ms saved)."""
    ctx = SSL.Context(SSL.DTLS_METHOD)
    ctx.set_min_proto_version(_DTLS1_2_VERSION)  # RFC 8827 §6.5: DTLS 1.2 or later
    ctx.set_options(SSL.OP_NO_QUERY_MTU | SSL.OP_NO_RENEGOTIATION | SSL.OP_NO_TICKET)
    ctx.set_cipher_list(_CIPHERS)
    ctx.use_certificate(certificate.x509)
    ctx.use_privatekey(certificate.private_key)
    # RFC 5763 §5: both sides present a certificate. The callback is set per connection.
    ctx.set_verify(_VERIFY_MODE, _reject_all)
    # RFC 5764 §4.1.1 use_srtp; as server OpenSSL picks the first of *our* list the client offers.
    ctx.set_tlsext_use_srtp(":".join(profile_names).encode("ascii"))
    return ctx


def _split_records(data: bytes) -> list[bytes]:
    """Split a byte stream written by OpenSSL into DTLS records (RFC 6347 §4.1)."""
    records: list[bytes] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < _RECORD_HEADER_LEN:
            records.append(data[pos:])
            break
        end = pos + _RECORD_HEADER_LEN + int.from_bytes(data[pos + 11 : pos + 13], "big")
        records.append(data[pos:end])
        pos = end
    return records


def _pack(records: Iterable[bytes], mtu: int) -> list[bytes]:
    """Pack whole records into datagrams of at most ``mtu`` bytes (a larger record goes alone)."""
    datagrams: list[bytes] = []
    current = b""
    for record in records:
        if current and len(current) + len(record) > mtu:
            datagrams.append(current)
            current = b""
        current += record
    if current:
        datagrams.append(current)
    return datagrams


class DtlsEndpoint:
    """One DTLS-SRTP association, server or client side."""

    def __init__(
        self,
        certificate: Certificate,
        role: Role,
        remote_fingerprints: Sequence[tuple[str, str]] | None = None,
        srtp_profiles: Sequence[SrtpProfile] = (AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80),
        mtu: int = DEFAULT_MTU,
    ) -> None:
        if role not in ("server", "client"):
            raise DtlsError(f"role must be 'server' or 'client', not {role!r}")
        if not srtp_profiles:
            raise DtlsError("at least one SRTP profile is required")
        self.role: Role = role
        self.mtu = mtu
        self.state = DtlsState.HANDSHAKING
        self.dropped = 0  # datagrams or records dropped without effect (not DTLS, oversize, app data)
        self.retransmissions = 0  # flights sent again by timer (ours or OpenSSL's)
        self._remote_fingerprints: list[tuple[str, str]] | None = None
        self._fingerprint_mismatch = False
        self._events: deque[DtlsEvent] = deque()
        self._outgoing: list[bytes] = []
        self._flight: list[bytes] = []  # our last flight, as sent
        self._answered: set[bytes] = set()  # the peer's datagrams that our last flight answered
        self._incoming: set[bytes] = set()  # the peer's datagrams since our last flight
        self._replays = 0
        self._deadline: float | None = None
        self._rto = 1.0
        self._timer_retransmits = 0
        self._started = role == "server"
        if remote_fingerprints is not None:
            self._remote_fingerprints = self._checked_fingerprints(remote_fingerprints)
        self._conn = SSL.Connection(_context(certificate, tuple(p.name for p in srtp_profiles)), None)
        # RFC 8827 §6.5: chains are not checked, the certificate must match the SDP fingerprint.
        self._conn.set_verify(_VERIFY_MODE, self._verify)
        self._conn.set_ciphertext_mtu(mtu)
        if role == "server":
            self._conn.set_accept_state()
        else:
            self._conn.set_connect_state()

    # -- setup ------------------------------------------------------------------------------

    @staticmethod
    def _checked_fingerprints(fingerprints: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        usable = [(alg.lower(), value.upper()) for alg, value in fingerprints]
        if not any(alg in FINGERPRINT_ALGORITHMS for alg, _ in usable):
            raise DtlsError("no remote fingerprint uses a supported hash function")
        return usable

    def _matches(self, cert: crypto.X509) -> bool:
        """RFC 8122 §5: the certificate must match one of the fingerprints from the SDP."""
        if self._remote_fingerprints is None:
            return True  # checked once they are given
        leaf = cert.to_cryptography()
        return any(
            alg in FINGERPRINT_ALGORITHMS and fingerprint_of(leaf, alg) == value
            for alg, value in self._remote_fingerprints
        )

    def _verify(self, conn: SSL.Connection, cert: crypto.X509, errno: int, depth: int, ok: int) -> bool:
        # Self-signed certificates fail OpenSSL's own check (``ok == 0``): that is expected.
        if depth != 0:
            return True
        if self._matches(cert):
            return True
        self._fingerprint_mismatch = True
        return False  # OpenSSL aborts with a bad_certificate alert (RFC 5246 §7.2.2)

    # -- sans-I/O verbs ---------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Client side: send the ClientHello. The server side waits for one; this is a no-op there."""
        if self._started or self.state is not DtlsState.HANDSHAKING:
            return
        self._started = True
        self._advance(now)

    def set_remote_fingerprints(self, fingerprints: Sequence[tuple[str, str]], now: float) -> None:
        """Give the peer's ``a=fingerprint`` values when they were not known at construction."""
        self._remote_fingerprints = self._checked_fingerprints(fingerprints)
        if self.state is DtlsState.AWAITING_FINGERPRINT:
            self._finish_handshake()

    def receive_datagram(self, data: bytes, now: float) -> None:
        if (
            self.state in (DtlsState.CLOSED, DtlsState.FAILED)
            or not is_dtls(data)
            or len(data) < _RECORD_HEADER_LEN
            or len(data) > _MAX_DATAGRAM
        ):
            self.dropped += 1
            return
        if not self._started:  # a client that has not started yet: nothing can be expected
            self.dropped += 1
            return
        if data in self._answered:
            self._peer_retransmitted()
            return
        if data in self._incoming:
            self.dropped += 1  # a verbatim copy OpenSSL has already seen (RFC 6347 §4.1.2.6)
            return
        if self.state is DtlsState.HANDSHAKING and len(self._incoming) < _MAX_REMEMBERED:
            self._incoming.add(data)
        try:
            self._conn.bio_write(data)
        except SSL.Error:
            self.dropped += 1
            return
        self._advance(now)

    def datagrams_to_send(self) -> list[bytes]:
        out, self._outgoing = self._outgoing, []
        return out

    def get_timer(self) -> float | None:
        """When ``handle_timer`` must be called next, in the caller's clock; ``None`` for never."""
        return self._deadline

    def handle_timer(self, now: float) -> None:
        if self._deadline is None or now < self._deadline:
            return
        if self.state is not DtlsState.HANDSHAKING:
            self._deadline = None
            return
        try:
            fired = self._conn.DTLSv1_handle_timeout()
        except SSL.Error as exc:  # OpenSSL gave up after its own retries
            self._fail(f"handshake timed out: {_describe(exc)}")
            return
        out = self._drain()
        remaining = self._conn.DTLSv1_get_timeout()
        if fired or out:
            self.retransmissions += 1
            self._send_flight(out, new=False)
            self._rto = remaining if remaining is not None else min(self._rto * 2, _MAX_TIMEOUT)
            self._deadline = now + self._rto
            return
        if remaining is None:
            self._deadline = None
        elif remaining <= _CLOCK_SLACK:
            self._deadline = now + remaining  # OpenSSL's clock is a hair behind ours: let it fire
        else:
            # RFC 6347 §4.2.4: our clock is ahead of OpenSSL's; retransmit the last flight ourselves.
            self._timer_retransmits += 1
            if self._timer_retransmits > MAX_RETRANSMITS:
                self._fail("handshake timed out")
                return
            self.retransmissions += 1
            self._outgoing.extend(self._flight)
            self._rto = min(self._rto * 2, _MAX_TIMEOUT)
            self._deadline = now + self._rto

    def next_event(self) -> DtlsEvent | None:
        return self._events.popleft() if self._events else None

    def close(self, now: float) -> None:
        """Send close_notify (RFC 5246 §7.2.1) and stop."""
        if self.state in (DtlsState.CLOSED, DtlsState.FAILED):
            return
        if self._started:
            self._send_close_notify()
        self._end(DtlsClosed("closed locally"), DtlsState.CLOSED)

    # -- internals --------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        if self.state is DtlsState.HANDSHAKING:
            try:
                self._conn.do_handshake()
            except SSL.WantReadError:
                pass
            except SSL.Error as exc:
                self._send_flight(self._drain())  # carries OpenSSL's fatal alert to the peer
                reason = "certificate fingerprint mismatch" if self._fingerprint_mismatch else None
                self._fail(reason or f"handshake failed: {_describe(exc)}")
                return
            else:
                self._deadline = None
                self.state = DtlsState.AWAITING_FINGERPRINT
                self._finish_handshake()
        if self.state in (DtlsState.CONNECTED, DtlsState.AWAITING_FINGERPRINT):
            self._read_records()
        out = self._drain()
        if out:
            self._send_flight(out)
        self._rearm(now, new_flight=bool(out))

    def _rearm(self, now: float, new_flight: bool) -> None:
        if self.state is not DtlsState.HANDSHAKING:
            self._deadline = None
            return
        remaining = self._conn.DTLSv1_get_timeout()
        if remaining is None:
            self._deadline = None  # our last flight was answered: nothing to retransmit
        elif new_flight or self._deadline is None:
            self._rto = max(remaining, 0.0)
            self._timer_retransmits = 0
            self._deadline = now + self._rto

    def _read_records(self) -> None:
        while True:
            try:
                data = self._conn.recv(65536)
            except SSL.WantReadError:
                return
            except SSL.ZeroReturnError:  # RFC 5246 §7.2.1 close_notify: answer with ours
                self._send_close_notify()
                self._end(DtlsClosed("close_notify"), DtlsState.CLOSED)
                return
            except SSL.Error as exc:
                self._fail(f"connection failed: {_describe(exc)}")
                return
            if data:
                self.dropped += 1  # application data (SCTP) is not handled here

    def _finish_handshake(self) -> None:
        if self._remote_fingerprints is None:
            return  # stay in AWAITING_FINGERPRINT
        peer = self._conn.get_peer_certificate()
        if peer is None or not self._matches(peer):
            self._fail("certificate fingerprint mismatch")
            return
        name = self._conn.get_selected_srtp_profile().decode("ascii", "replace")
        profile = PROFILES_BY_NAME.get(name)
        if profile is None:  # RFC 5764 §4.1.2: no common profile means no SRTP
            self._fail(f"no common SRTP profile (peer chose {name or 'none'})")
            return
        try:
            material = self._conn.export_keying_material(_EXPORTER_LABEL, 2 * profile.key_salt_len)
        except SSL.Error as exc:
            self._fail(f"key export failed: {_describe(exc)}")
            return
        # RFC 5764 §4.2: client_write_key | server_write_key | client_write_salt | server_write_salt
        k, s = profile.key_len, profile.salt_len
        client = material[:k] + material[2 * k : 2 * k + s]
        server = material[k : 2 * k] + material[2 * k + s :]
        local, remote = (client, server) if self.role == "client" else (server, client)
        self.state = DtlsState.CONNECTED
        self._events.append(DtlsConnected(profile, local, remote))

    def _drain(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self._conn.bio_read(65536)
            except SSL.WantReadError:
                break
            except SSL.Error:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def _send_flight(self, data: bytes, new: bool = True) -> None:
        if not data:
            return
        datagrams = _pack(_split_records(data), self.mtu)
        self._outgoing.extend(datagrams)
        self._flight = datagrams
        if new:  # this flight answers what the peer sent since our previous one
            self._answered, self._incoming = self._incoming, set()
            self._replays = 0

    def _send_close_notify(self) -> None:
        with contextlib.suppress(SSL.Error):
            self._conn.shutdown()
        self._outgoing.extend(_pack(_split_records(self._drain()), self.mtu))

    def _peer_retransmitted(self) -> None:
        """RFC 6347 §4.2.4: the peer sent its last flight again, so ours was lost: send ours again.

        OpenSSL would discard the peer's verbatim copy as a replay (RFC 6347 §4.1.2.6) without
        answering; after the handshake it would never resend our final flight at all.
        """
        if self._replays >= MAX_RETRANSMITS or not self._flight:
            self.dropped += 1
            return
        self._replays += 1
        self.retransmissions += 1
        self._outgoing.extend(self._flight)

    def _fail(self, reason: str) -> None:
        self._end(DtlsFailed(reason), DtlsState.FAILED)

    def _end(self, event: DtlsEvent, state: DtlsState) -> None:
        self.state = state
        self._deadline = None
        self._flight = []
        self._answered.clear()
        self._incoming.clear()
        self._events.append(event)
