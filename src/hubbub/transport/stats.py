"""The counters of one peer connection and of the transport server.

:class:`PeerStats` is written by a ``PeerTransport`` and by its sender (which counts what it
sends); :class:`TransportStats` by the ``RtcTransportServer``. Both only count: plain slotted
dataclasses that the layers above read as dictionaries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["PeerStats", "TransportStats"]


@dataclass(slots=True)
class PeerStats:
    packets_in: int = 0  # every packet handed to this peer, any kind
    bytes_in: int = 0
    packets_out: int = 0  # every packet sent, any kind
    bytes_out: int = 0
    rtp_in: int = 0
    rtcp_in: int = 0
    rtp_out: int = 0
    rtcp_out: int = 0
    stun_in: int = 0
    dtls_in: int = 0
    srtp_failures: int = 0  # unprotect failed: authentication, replay, truncation
    protect_failures: int = 0
    dropped_before_keys: int = 0  # SRTP before DTLS finished
    dropped_not_connected: int = 0  # send_rtp / send_rtcp while not connected
    dropped_send_buffer: int = 0  # native fan-out: the socket's send buffer was full (EAGAIN)
    dropped_malformed: int = 0  # empty, or a first byte no protocol uses (RFC 7983 §7)
    stun_bad_auth: int = 0
    handler_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(slots=True)
class TransportStats:
    """Server-wide counters (the socket's datagram counters are added by ``RtcTransportServer.stats``)."""

    datagrams_in: int = 0
    bytes_in: int = 0
    datagrams_out: int = 0
    bytes_out: int = 0
    rtp_in: int = 0  # RTP that passed SRTP and reached a peer's handler (live peers added by the server)
    dropped_unknown_address: int = 0  # not an ICE check for a live peer
    dropped_malformed: int = 0  # from a bound address: empty or unknown first byte
    stun_bad_auth: int = 0
    srtp_auth_failures: int = 0
    address_conflicts: int = 0  # an authentic check from an address another live peer owns
    handler_errors: int = 0
    socket_errors: int = 0
    tcp_accepted: int = 0
    tcp_rejected: int = 0  # closed: oversize frame, garbage, no authentic check
    peers_created: int = 0
    peers_closed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
