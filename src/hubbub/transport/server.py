"""``RtcTransportServer``: one UDP port and one ICE-TCP port for every peer connection.

Theory of operation
-------------------
The server is an ICE-lite agent (RFC 8445 §2.5) that never sends checks: every peer reaches it at
the same host candidates, and the first packet from a new address must be an ICE check. So:

* a UDP datagram from a *bound* address is handed to its peer by one dict lookup (``udp.py``);
* from an unknown address only a STUN Binding request whose USERNAME names a live peer's ufrag
  (``ufrag_of``) is considered; that peer's ICE engine authenticates it (RFC 8489 §9.1.3) and
  only an authentic check binds the address. A spoofed packet from a new address therefore
  cannot take over a call. Anything else is dropped and counted;
* ICE-TCP (RFC 6544) connections are accepted passively and bound the same way by their first
  frame (``tcp.py``).

Peers are created with ``create_peer`` and answered with ``local_candidates`` + ``fingerprint``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import socket
import struct
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Final

from hubbub.proto.certificate import Certificate
from hubbub.proto.dtls import DtlsEndpoint
from hubbub.proto.ice import (
    DEFAULT_CONSENT_TIMEOUT,
    DEFAULT_DISCONNECTED_AFTER,
    IceLiteConnection,
    generate_password,
    generate_ufrag,
    ufrag_of,
)
from hubbub.proto.sdp import Candidate
from hubbub.transport import native as native_ext
from hubbub.transport.peer import PeerHandler, PeerState, PeerTransport
from hubbub.transport.sender import NativeFanout, SendTo
from hubbub.transport.stats import TransportStats
from hubbub.transport.tcp import IceTcpConnection
from hubbub.transport.udp import UdpMux, UdpMux6

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "RtcTransportServer", "candidate_priority", "host_ipv4_addresses"]

logger = logging.getLogger(__name__)

Address = tuple[str, int]

DEFAULT_CONNECT_TIMEOUT: Final = 30.0
_HOST_TYPE_PREFERENCE: Final = 126  # RFC 8445 §5.1.2.2
# RFC 6544 §4.2: TCP candidates get a lower type preference than UDP ones, so UDP is preferred.
_HOST_TCP_TYPE_PREFERENCE: Final = 90
_PASSIVE_DIRECTION_PREFERENCE: Final = 4  # RFC 6544 §4.2: host passive
_SIOCGIFADDR: Final = 0x8915  # Linux <linux/sockios.h>


def candidate_priority(type_preference: int, local_preference: int, component: int = 1) -> int:
    """RFC 8445 §5.1.2.1: 2^24 * type pref + 2^8 * local pref + (256 - component ID)."""
    return (type_preference << 24) + (local_preference << 8) + (256 - component)


def host_ipv4_addresses() -> list[str]:
    """The host's IPv4 addresses, non-loopback first, then 127.0.0.1 (link-local skipped)."""
    found: list[str] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                reply = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, request)
            except OSError:
                continue  # no IPv4 address on this interface
            found.append(socket.inet_ntoa(reply[20:24]))
    if not found:  # not Linux, or no permission: fall back to the resolver
        with contextlib.suppress(OSError):
            found = [str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    usable = []
    for text in dict.fromkeys(found):
        ip = ipaddress.IPv4Address(text)
        if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified):
            usable.append(text)
    return [*usable, "127.0.0.1"]


class RtcTransportServer:
    """The shared UDP socket, the ICE-TCP listener and every ``PeerTransport`` on them."""

    def __init__(
        self,
        *,
        certificate: Certificate,
        host: str = "0.0.0.0",
        udp_port: int = 0,
        tcp_port: int | None = None,
        announced_ip: str = "",
        now: Callable[[], float] | None = None,
        consent_timeout: float = DEFAULT_CONSENT_TIMEOUT,
        disconnected_after: float = DEFAULT_DISCONNECTED_AFTER,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        native: bool = True,
    ) -> None:
        self._certificate = certificate
        # The C sender (hubbub.transport.native) unless switched off or not built here; every
        # peer then sends through it, and ``fanout`` gives the SFU its fan-out groups.
        self._native = native_ext.load() if native else None
        self.fanout: NativeFanout | None = NativeFanout(self._native) if self._native is not None else None
        self.host = host
        self._udp_port = udp_port
        self._tcp_port = tcp_port
        self.announced_ip = announced_ip
        self._now_fn = now
        self.consent_timeout = consent_timeout
        self.disconnected_after = disconnected_after
        self.connect_timeout = connect_timeout
        self.fingerprint: tuple[str, str] = ("sha-256", certificate.fingerprint("sha-256"))
        self.counters = TransportStats()
        self._by_address: dict[Address, PeerTransport] = {}
        self._by_ufrag: dict[str, PeerTransport] = {}
        self._ufrags: dict[PeerTransport, tuple[str, ...]] = {}
        self._peers: dict[int, PeerTransport] = {}
        self._next_id = 0
        self._tcp_connections: set[IceTcpConnection] = set()
        self._udp: asyncio.DatagramTransport | None = None
        self._mux: UdpMux | None = None
        self._tcp_server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.udp_address: Address | None = None
        self.tcp_address: Address | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the UDP socket and, if ``tcp_port`` is not None, the ICE-TCP listener."""
        loop = self._loop = asyncio.get_running_loop()
        if self._now_fn is None:
            # Not loop.time: uvloop's is libuv's loop clock, whole milliseconds (CLOCK_MONOTONIC,
            # the same base). Media handlers read this clock per datagram, synchronously from
            # datagram_received, as the arrival time that transport-wide CC feedback reports (in
            # 250 us ticks); whole milliseconds make the receive intervals of a publisher's probe
            # clusters and its delay trend noise, and libwebrtc's estimate climbs slowly.
            self._now_fn = time.monotonic
        mux_type = UdpMux6 if ":" in self.host else UdpMux
        transport, mux = await loop.create_datagram_endpoint(
            lambda: mux_type(self, self._by_address), local_addr=(self.host, self._udp_port)
        )
        self._mux = mux
        sockname = transport.get_extra_info("sockname")
        self.udp_address = (str(sockname[0]), int(sockname[1]))
        if self._tcp_port is not None:
            try:
                self._tcp_server = await loop.create_server(
                    lambda: IceTcpConnection(self, loop), self.host, self._tcp_port, reuse_address=True
                )
            except OSError:
                transport.close()
                raise
            tcp_name = self._tcp_server.sockets[0].getsockname()
            self.tcp_address = (str(tcp_name[0]), int(tcp_name[1]))
        logger.info("transport listening: udp %s, tcp %s", self.udp_address, self.tcp_address)

    async def close(self) -> None:
        """Close every peer (sending DTLS close_notify), then the sockets."""
        for peer in list(self._peers.values()):
            peer.close()
        for conn in list(self._tcp_connections):
            conn.abort("server closing")
        if self._tcp_server is not None:
            self._tcp_server.close()
            await self._tcp_server.wait_closed()
            self._tcp_server = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        await asyncio.sleep(0)  # let the transports run connection_lost

    async def __aenter__(self) -> RtcTransportServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- public face ----------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("RtcTransportServer.start() has not been awaited")
        return self._loop

    def now(self) -> float:
        assert self._now_fn is not None
        return self._now_fn()

    @property
    def peers(self) -> list[PeerTransport]:
        return list(self._peers.values())

    @property
    def stats(self) -> dict[str, int]:
        """All counters, the socket's included, as one flat dict."""
        out = self.counters.as_dict()
        if self._mux is not None:
            c = self._mux.counters
            out["datagrams_in"] += c.datagrams_in
            out["bytes_in"] += c.bytes_in
            out["socket_errors"] += c.socket_errors
        for peer in self._peers.values():
            stats = peer.stats
            out["datagrams_out"] += stats.packets_out
            out["bytes_out"] += stats.bytes_out
            out["rtp_in"] += stats.rtp_in
        return out

    def advertised_addresses(self) -> list[str]:
        if self.announced_ip:
            return [self.announced_ip]
        if self.host in ("0.0.0.0", ""):
            return host_ipv4_addresses()
        return [self.host]

    def local_candidates(self, ufrag: str | None = None) -> list[Candidate]:
        """Host candidates (RFC 8445 §5.1.1.1): UDP per address, then ICE-TCP passive (RFC 6544 §4.5)."""
        if self.udp_address is None:
            raise RuntimeError("RtcTransportServer.start() has not been awaited")
        candidates: list[Candidate] = []
        addresses = self.advertised_addresses()
        for index, ip in enumerate(addresses):
            # RFC 8445 §5.1.2.1: local preference unique per address, first address highest.
            priority = candidate_priority(_HOST_TYPE_PREFERENCE, 65535 - index)
            candidates.append(
                Candidate(_foundation("udp", ip), 1, "udp", priority, ip, self.udp_address[1], "host", ufrag=ufrag)
            )
        if self.tcp_address is not None:
            for index, ip in enumerate(addresses):
                # RFC 6544 §4.2: local preference = 2^13 * direction-pref + other-pref.
                local = (_PASSIVE_DIRECTION_PREFERENCE << 13) + (8191 - index)
                priority = candidate_priority(_HOST_TCP_TYPE_PREFERENCE, local)
                candidates.append(
                    Candidate(
                        _foundation("tcp", ip),
                        1,
                        "tcp",
                        priority,
                        ip,
                        self.tcp_address[1],
                        "host",
                        tcptype="passive",
                        ufrag=ufrag,
                    )
                )
        return candidates

    def create_peer(
        self,
        handler: PeerHandler,
        *,
        remote_ufrag: str | None = None,
        remote_pwd: str | None = None,
        remote_fingerprints: Sequence[tuple[str, str]] = (),
    ) -> PeerTransport:
        """A new peer with fresh ICE credentials (RFC 8445 §5.3); DTLS as server (RFC 8842 §5).

        Fingerprints may be empty when the peer's SDP is not known yet (the subscriber side):
        DTLS then completes only after ``set_remote_fingerprints``.
        """
        if self._udp is None:
            raise RuntimeError("the transport server is closed")
        ufrag = self.new_ufrag()
        ice = IceLiteConnection(
            ufrag,
            generate_password(),
            remote_ufrag,
            remote_pwd,
            consent_timeout=self.consent_timeout,
            disconnected_after=self.disconnected_after,
        )
        dtls = DtlsEndpoint(self._certificate, "server", list(remote_fingerprints) or None)
        self._next_id += 1
        peer = PeerTransport(
            self, self._next_id, handler, ice, dtls, self.fingerprint, self.connect_timeout, native=self._native
        )
        self._peers[peer.id] = peer
        self.set_ufrags(peer, (ufrag,))
        self.counters.peers_created += 1
        return peer

    # -- PeerHost: what peers call ----------------------------------------------------------

    def udp_sendto(self) -> SendTo:
        udp = self._udp
        if udp is None:
            raise RuntimeError("the transport server is closed")
        return udp.sendto

    def udp_fileno(self) -> int | None:
        """The shared UDP socket's descriptor (for the native sender's sendmmsg), None if closed."""
        udp = self._udp
        if udp is None or udp.is_closing():
            return None
        sock = udp.get_extra_info("socket")
        if sock is None:
            return None
        try:
            fd = int(sock.fileno())
        except (OSError, ValueError):
            return None
        return fd if fd >= 0 else None

    def new_ufrag(self) -> str:
        while True:
            ufrag = generate_ufrag()
            if ufrag not in self._by_ufrag:
                return ufrag

    def peer_for_ufrag(self, ufrag: str) -> PeerTransport | None:
        """The live peer that owns a local ufrag (two per peer during an ICE restart)."""
        return self._by_ufrag.get(ufrag)

    def peer_for_address(self, addr: Address) -> PeerTransport | None:
        """The peer a UDP source address is bound to, if any."""
        return self._by_address.get(addr)

    def set_ufrags(self, peer: PeerTransport, ufrags: Sequence[str]) -> None:
        current = tuple(ufrags)
        previous = self._ufrags.get(peer, ())
        if previous == current:
            return
        for ufrag in previous:
            if ufrag not in current and self._by_ufrag.get(ufrag) is peer:
                del self._by_ufrag[ufrag]
        for ufrag in current:
            self._by_ufrag[ufrag] = peer
        self._ufrags[peer] = current

    def bind_address(self, peer: PeerTransport, addr: Address) -> bool:
        owner = self._by_address.get(addr)
        if owner is not None and owner is not peer and owner.state not in (PeerState.FAILED, PeerState.CLOSED):
            # The address is in use by another live peer: a check for other credentials from it
            # (NAT port reuse, or a participant spoofing someone's address) must not steal it.
            self.counters.address_conflicts += 1
            return False
        if owner is not None and owner is not peer:
            owner.addresses.discard(addr)
        self._by_address[addr] = peer
        return True

    def unbind_address(self, peer: PeerTransport, addr: Address) -> None:
        if self._by_address.get(addr) is peer:
            del self._by_address[addr]

    def forget(self, peer: PeerTransport) -> None:
        for ufrag in self._ufrags.pop(peer, ()):
            if self._by_ufrag.get(ufrag) is peer:
                del self._by_ufrag[ufrag]
        for addr in list(peer.addresses):
            self.unbind_address(peer, addr)
        peer.addresses.clear()
        if self._peers.pop(peer.id, None) is not None:
            self.counters.peers_closed += 1
            # Keep the server totals when the peer's own counters go away.
            stats = peer.stats
            self.counters.datagrams_out += stats.packets_out
            self.counters.bytes_out += stats.bytes_out
            self.counters.rtp_in += stats.rtp_in

    # -- UdpHost ----------------------------------------------------------------------------

    def udp_ready(self, transport: asyncio.DatagramTransport) -> None:
        self._udp = transport

    def udp_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            logger.warning("UDP socket lost: %s", type(exc).__name__)
        self._udp = None
        for peer in list(self._peers.values()):
            peer.send_path_changed()  # a native sender must stop using the descriptor now

    def unknown_datagram(self, data: bytes, addr: Address) -> None:
        """RFC 8445 §7.3: from a new address only an authentic check for a live peer counts."""
        ufrag = ufrag_of(data)
        peer = self._by_ufrag.get(ufrag) if ufrag is not None else None
        if peer is None:
            self.counters.dropped_unknown_address += 1
            return
        peer.check(data, addr, None)

    # -- TcpHost ----------------------------------------------------------------------------

    def tcp_opened(self, conn: IceTcpConnection) -> None:
        self._tcp_connections.add(conn)
        self.counters.tcp_accepted += 1

    def tcp_frame(self, conn: IceTcpConnection, data: bytes) -> None:
        first = data[0]
        if not (first < 4 or 19 < first < 64 or 127 < first < 192):  # RFC 7983 §7
            conn.reject("not STUN, DTLS or RTP")
            return
        peer = conn.peer
        if peer is not None:
            peer.receive(data, conn.addr, conn)
            return
        # RFC 6544 §7.2: the first frame on a passive connection must be an authentic check.
        ufrag = ufrag_of(data)
        owner = self._by_ufrag.get(ufrag) if ufrag is not None else None
        if owner is None or not owner.check(data, conn.addr, conn) or conn.peer is None:
            conn.reject("first frame is not an authentic ICE check")

    def tcp_closed(self, conn: IceTcpConnection, reason: str) -> None:
        self._tcp_connections.discard(conn)
        if conn.rejected:
            self.counters.tcp_rejected += 1
        if conn.peer is not None:
            conn.peer.detach(conn)


def _foundation(transport: str, ip: str) -> str:
    """RFC 8445 §5.1.1.3: equal for the same type, base address and transport."""
    return str(zlib.crc32(f"host|{transport}|{ip}".encode()))
