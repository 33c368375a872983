"""The one UDP socket every peer shares, demultiplexed by source address (RFC 7983 §7).

A datagram from a bound address goes straight to its peer: one dict lookup, the media hot path.
Anything else is handed to the server's ``unknown_datagram``, which lets only an authenticated
ICE check bind a new address (see ``server.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from typing import TYPE_CHECKING, Final, Protocol, cast

if TYPE_CHECKING:
    from hubbub.transport.peer import PeerTransport

__all__ = ["MAX_DATAGRAM", "SOCKET_BUFFER", "UdpMux", "UdpMux6"]

Address = tuple[str, int]

# CPython's selector transport reads each datagram into a fresh 256 KiB buffer by default (about
# 17 us a packet on CPython 3.11). WebRTC keeps datagrams under the path MTU (~1200-1500 bytes),
# so 2 KiB is enough; a larger datagram is truncated, then fails SRTP or DTLS and is counted.
MAX_DATAGRAM: Final = 2048
SOCKET_BUFFER: Final = 4 * 1024 * 1024  # absorb bursts; the kernel caps it at net.core.[rw]mem_max


# Linux <netinet/in.h>: IP_MTU_DISCOVER, IPV6_MTU_DISCOVER and their PMTUDISC_PROBE value.
_MTU_DISCOVER = ((socket.IPPROTO_IP, 10), (socket.IPPROTO_IPV6, 23)) if sys.platform == "linux" else ()
_PMTUDISC_PROBE = 3


class UdpHost(Protocol):
    """What the socket needs from the server."""

    def unknown_datagram(self, data: bytes, addr: Address) -> None: ...

    def udp_ready(self, transport: asyncio.DatagramTransport) -> None: ...

    def udp_lost(self, exc: Exception | None) -> None: ...


class _Counters:
    __slots__ = ("bytes_in", "datagrams_in", "socket_errors")

    def __init__(self) -> None:
        self.datagrams_in = 0
        self.bytes_in = 0
        self.socket_errors = 0


class UdpMux(asyncio.DatagramProtocol):
    """IPv4 socket: addresses arrive as ``(host, port)`` and are used as keys unchanged."""

    def __init__(self, host: UdpHost, by_address: dict[Address, PeerTransport]) -> None:
        self._host = host
        self._by_address = by_address  # shared with the server, which binds and unbinds
        self.counters = _Counters()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.DatagramTransport, transport)
        if hasattr(transport, "max_size"):  # plain asyncio; uvloop reads into a shared buffer
            transport.max_size = MAX_DATAGRAM
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
            # Set DF but skip the path-MTU lookup on every send: media datagrams stay under
            # ~1200 bytes by construction (what WebRTC stacks assume), so there is nothing to learn.
            for level, option in _MTU_DISCOVER:
                with contextlib.suppress(OSError):
                    sock.setsockopt(level, option, _PMTUDISC_PROBE)
        self._host.udp_ready(transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        counters = self.counters
        counters.datagrams_in += 1
        counters.bytes_in += len(data)
        peer = self._by_address.get(addr)
        if peer is not None:
            peer.receive(data, addr, None)
        else:
            self._host.unknown_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable from a peer that went away) surface here; not fatal.
        self.counters.socket_errors += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._host.udp_lost(exc)


class UdpMux6(UdpMux):
    """IPv6 socket: addresses arrive as ``(host, port, flowinfo, scope_id)``; keep host and port."""

    def datagram_received(self, data: bytes, addr: Address) -> None:
        super().datagram_received(data, (addr[0], addr[1]))
