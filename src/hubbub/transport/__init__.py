"""Sockets for media: one UDP port and one ICE-TCP port shared by every peer connection.

The only place in Hubbub that opens sockets. ``RtcTransportServer`` demultiplexes packets
(RFC 7983) to ``PeerTransport`` objects, each gluing ICE-lite, DTLS-SRTP and SRTP together and
handing plain RTP/RTCP to a ``PeerHandler``.
"""

from hubbub.transport.peer import PeerHandler, PeerState, PeerTransport
from hubbub.transport.server import RtcTransportServer, candidate_priority, host_ipv4_addresses
from hubbub.transport.stats import PeerStats, TransportStats

__all__ = [
    "PeerHandler",
    "PeerState",
    "PeerStats",
    "PeerTransport",
    "RtcTransportServer",
    "TransportStats",
    "candidate_priority",
    "host_ipv4_addresses",
]
