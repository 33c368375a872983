"""ICE-TCP passive connections (RFC 6544) with RFC 4571 framing.

Each connection carries a stream of packets, each prefixed by its length as a 16-bit big-endian
integer (RFC 4571 §2; RFC 6544 §3). A connection starts unbound: its first frame must be an ICE
check that the server can authenticate for a live peer (RFC 6544 §7.2), otherwise it is closed.
After that, every frame goes through the same demultiplexing as a UDP datagram, and the peer
sends over this connection when ICE selects its address.

Hostile input: a frame longer than ``MAX_FRAME``, a first frame that is not an authentic check,
silence before authentication for ``AUTH_TIMEOUT`` seconds, or a frame that is neither STUN,
DTLS nor RTP/RTCP (RFC 7983 §7) closes the connection; other connections are unaffected.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Final, Protocol, cast

__all__ = ["AUTH_TIMEOUT", "MAX_FRAME", "MAX_WRITE_BUFFER", "IceTcpConnection", "TcpPeer", "frame"]

Address = tuple[str, int]

MAX_FRAME: Final = 2048  # WebRTC packets stay under the path MTU; anything larger is hostile
MAX_WRITE_BUFFER: Final = 256 * 1024  # a slow reader loses media rather than growing our memory
AUTH_TIMEOUT: Final = 10.0
_LENGTH: Final = struct.Struct("!H")


def frame(data: bytes) -> bytes:
    """RFC 4571 §2: the 2-byte length prefix followed by the packet."""
    return _LENGTH.pack(len(data)) + data


class TcpHost(Protocol):
    """What a connection needs from the server."""

    def tcp_opened(self, conn: IceTcpConnection) -> None: ...

    def tcp_frame(self, conn: IceTcpConnection, data: bytes) -> None: ...

    def tcp_closed(self, conn: IceTcpConnection, reason: str) -> None: ...


class TcpPeer(Protocol):
    """The peer connection an authenticated connection carries (a ``PeerTransport``)."""

    def receive(self, data: bytes, addr: Address, link: IceTcpConnection | None) -> None: ...

    def detach(self, link: IceTcpConnection) -> None: ...


class IceTcpConnection(asyncio.Protocol):
    """One accepted ICE-TCP connection."""

    def __init__(self, host: TcpHost, loop: asyncio.AbstractEventLoop) -> None:
        self._host = host
        self._loop = loop
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._auth_timer: asyncio.TimerHandle | None = None
        self._close_reason = "closed by peer"
        self.addr: Address = ("", 0)
        self.peer: TcpPeer | None = None  # set once an ICE check authenticated
        self.frames_in = 0
        self.frames_out = 0
        self.dropped_out = 0
        self.rejected = False

    @property
    def closing(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)
        peername = transport.get_extra_info("peername")
        self.addr = (str(peername[0]), int(peername[1])) if peername else ("", 0)
        self._auth_timer = self._loop.call_later(AUTH_TIMEOUT, self._auth_timeout)
        self._host.tcp_opened(self)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= 2 and not self.closing:
            length = (buffer[0] << 8) | buffer[1]
            if length > MAX_FRAME:
                self.reject("oversize frame")
                return
            if len(buffer) < 2 + length:
                return
            packet = bytes(buffer[2 : 2 + length])
            del buffer[: 2 + length]
            if length == 0:
                continue  # RFC 4571 allows it; carries nothing
            self.frames_in += 1
            self._host.tcp_frame(self, packet)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_auth_timer()
        self._transport = None
        self._buffer.clear()
        self._host.tcp_closed(self, self._close_reason)

    # -- used by the server and the peer --------------------------------------------------------

    def authenticated(self, peer: TcpPeer) -> None:
        self.peer = peer
        self._cancel_auth_timer()

    def send_frame(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing() or transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.dropped_out += 1
            return
        transport.write(_LENGTH.pack(len(data)) + data)
        self.frames_out += 1

    def sendto(self, data: bytes, addr: Address | None = None) -> None:
        """Same shape as a datagram transport's ``sendto``; the address is the connection's."""
        self.send_frame(data)

    def reject(self, reason: str) -> None:
        """Close because of what the client sent (counted by the server)."""
        self.rejected = True
        self.abort(reason)

    def abort(self, reason: str) -> None:
        """Close at once, discarding what is buffered."""
        if self._transport is not None and not self._transport.is_closing():
            self._close_reason = reason
            self._transport.abort()

    def _auth_timeout(self) -> None:
        self._auth_timer = None
        if self.peer is None:
            self.reject("no authenticated ICE check in time")

    def _cancel_auth_timer(self) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
