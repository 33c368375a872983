"""The send half of one peer connection: SRTP protect, the socket, batching and the counters.

Theory of operation
-------------------
Every packet a :class:`~hubbub.transport.peer.PeerTransport` sends after DTLS, RTP on any SSRC
and RTCP, goes through its one :class:`Sender`. The sender holds the connection's outbound SRTP
context, so each SSRC is protected by exactly one context by construction: a keystream is unique
per SSRC and packet index only within one context (RFC 3711 §9.1, RFC 7714 §8.1).

The transport tells the sender its keys once (:meth:`Sender.set_keys`, after DTLS, RFC 5764
§4.2) and where datagrams go whenever that changes (:meth:`Sender.set_path`: the selected
address, the UDP or ICE-TCP send function and the shared UDP socket's descriptor, or None while
media may not be sent, when packets are dropped and counted as ``dropped_not_connected``).

Two implementations:

* :class:`PythonSender`: pylibsrtp (the transport's :class:`~hubbub.proto.srtp.SrtpSession`)
  and the send function, one packet at a time. The fallback.
* :class:`NativeSender`: the C extension (:mod:`hubbub.transport.native`). Its ``Peer`` keeps
  the outbound SRTP context for RTP (libsrtp; AES-128-GCM through OpenSSL when built with it)
  and sends straight to the UDP socket; the same ``Peer`` is what the SFU's fan-out writes to
  (:meth:`NativeSender.fanout_entry` gives one ``Entry`` per down-track, and
  :class:`NativeFanout` the per-up-track ``Group`` that rewrites, protects and sendmmsg's every
  copy of a packet in one call). SRTCP, which has its own keys and index (RFC 3711 §4.3.2),
  is protected with the transport's session and sent from Python, as by the Python sender.

Transport-wide CC (:meth:`Sender.set_transport_cc`, a subscriber connection that negotiated it):
every RTP packet is stamped with the connection's next transport-wide sequence number just before
it is protected, in C on the native path, and recorded (number, size, send time on the event
loop's monotonic clock, probe cluster: :attr:`Sender.probe_cluster` while a probe is sent) for
:meth:`Sender.take_sent`, which :class:`hubbub.transport.congestion.SendControl` reads when the
feedback comes.

Counters: the Python sender counts into the transport's :class:`~hubbub.transport.stats.PeerStats`
as it sends; the native one counts in C, and :meth:`Sender.flush` adds those counts to the
``PeerStats`` (the transport calls it whenever its ``stats`` are read).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from hubbub.proto.rtp_ext import stamp_transport_seq
from hubbub.proto.srtp import SrtpError, SrtpSession
from hubbub.transport.stats import PeerStats

if TYPE_CHECKING:
    from hubbub.transport.native import _fanout

__all__ = ["NativeFanout", "NativeSender", "PythonSender", "SendPath", "Sender", "SentRecord", "make_sender"]

Address = tuple[str, int]
SendTo = Callable[[bytes, Address], None]
# Where media goes while it may be sent: (address, send function, UDP fd or None over ICE-TCP).
SendPath = tuple[Address, SendTo, int | None]
# One packet stamped with a transport-wide sequence number: (seq, size, probe cluster or -1, sent at)
SentRecord = tuple[int, int, int, float]
_RECORD = struct.Struct("=HHid")  # TwccRecord in fanout.c
_LOG_LIMIT = 8192  # records kept between two take_sent calls, as the native sender's


class Sender(Protocol):
    """What a ``PeerTransport`` sends through; see the module docstring."""

    def set_keys(self, srtp: SrtpSession, local_key_salt: bytes) -> None: ...

    def set_path(self, path: SendPath | None) -> None: ...

    def send_rtp(self, packet: bytes) -> None: ...

    def send_rtcp(self, packet: bytes) -> None: ...

    def flush(self) -> None: ...

    def fanout_entry(self, ssrc: int, pt_map: bytes) -> _fanout.Entry | None: ...

    probe_cluster: int

    def set_transport_cc(self, ext_id: int | None) -> None: ...

    def take_sent(self) -> list[SentRecord]: ...


class PythonSender:
    """pylibsrtp + the send function, one packet at a time (RFC 3711 §3.3, §3.4)."""

    __slots__ = ("_out", "_path", "_sent", "_srtp", "_twcc_id", "_twcc_seq", "probe_cluster", "stats")

    def __init__(self, stats: PeerStats) -> None:
        self.stats = stats
        self.probe_cluster = -1
        self._twcc_id = 0
        self._twcc_seq = 0
        self._sent: list[SentRecord] = []
        self._srtp: SrtpSession | None = None
        self._path: SendPath | None = None
        # (session, address, sendto) while media may be sent; None otherwise. One lookup per send.
        self._out: tuple[SrtpSession, Address, SendTo] | None = None

    def set_keys(self, srtp: SrtpSession, local_key_salt: bytes) -> None:
        self._srtp = srtp
        self.set_path(self._path)

    def set_path(self, path: SendPath | None) -> None:
        self._path = path
        srtp = self._srtp
        self._out = None if path is None or srtp is None else (srtp, path[0], path[1])

    def send_rtp(self, packet: bytes) -> None:
        out = self._out
        stats = self.stats
        if out is None:
            stats.dropped_not_connected += 1
            return
        srtp, addr, sendto = out
        if self._twcc_id:
            packet = self._stamp(packet)
        try:
            data = srtp.protect_rtp(packet)
        except SrtpError:
            stats.protect_failures += 1
            return
        sendto(data, addr)
        stats.rtp_out += 1
        stats.packets_out += 1
        stats.bytes_out += len(data)

    def send_rtcp(self, packet: bytes) -> None:
        out = self._out
        stats = self.stats
        if out is None:
            stats.dropped_not_connected += 1
            return
        srtp, addr, sendto = out
        try:
            data = srtp.protect_rtcp(packet)
        except SrtpError:
            stats.protect_failures += 1
            return
        sendto(data, addr)
        stats.rtcp_out += 1
        stats.packets_out += 1
        stats.bytes_out += len(data)

    def _stamp(self, packet: bytes) -> bytes:
        seq = self._twcc_seq
        try:
            stamped = stamp_transport_seq(packet, self._twcc_id, seq)
        except ValueError:  # a malformed extension block goes unstamped, as in C
            stamped = None
        if stamped is None:
            return packet
        self._twcc_seq = (seq + 1) & 0xFFFF
        sent = self._sent
        if len(sent) >= _LOG_LIMIT:
            del sent[: len(sent) - _LOG_LIMIT + 1]
        sent.append((seq, len(stamped), self.probe_cluster, time.monotonic()))
        return stamped

    def set_transport_cc(self, ext_id: int | None) -> None:
        """Stamp every RTP packet with a transport-wide sequence number under ``ext_id``
        (None: stop); the numbering goes on across calls."""
        if ext_id is not None and not 1 <= ext_id <= 255:
            raise ValueError(f"extension ID {ext_id} is out of range")
        self._twcc_id = ext_id or 0

    def take_sent(self) -> list[SentRecord]:
        """What was stamped since the last call, oldest first (see the module docstring)."""
        sent, self._sent = self._sent, []
        return sent

    def flush(self) -> None:
        """Nothing to do: the counters are kept up to date as packets go."""

    def fanout_entry(self, ssrc: int, pt_map: bytes) -> _fanout.Entry | None:
        """None: the SFU forwards to this sender in Python."""
        return None


class NativeSender(PythonSender):
    """RTP protected and sent in C (one libsrtp / OpenSSL context); SRTCP as :class:`PythonSender`."""

    __slots__ = ("_c", "_lib")

    def __init__(self, lib: ModuleType, stats: PeerStats) -> None:
        self._lib = lib
        self._c: _fanout.Peer = lib.Peer()  # before PythonSender's __init__ sets probe_cluster
        super().__init__(stats)

    def set_keys(self, srtp: SrtpSession, local_key_salt: bytes) -> None:
        if not self._c.keyed:
            self._c.set_key(srtp.profile.libsrtp_id, local_key_salt)
        super().set_keys(srtp, local_key_salt)

    def set_path(self, path: SendPath | None) -> None:
        self.flush()
        super().set_path(path)
        c = self._c
        if path is None or not c.keyed:
            c.set_down()
            return
        addr, sendto, fd = path
        target = _sockaddr(addr) if fd is not None else None
        if target is not None and fd is not None:
            c.set_udp(fd, *target)
        else:
            c.set_python(sendto, addr)

    def send_rtp(self, packet: bytes) -> None:
        self._c.send_rtp(packet)  # counted (and stamped) in C: see flush

    @property  # a slot in PythonSender, the C Peer's member here
    def probe_cluster(self) -> int:
        return self._c.probe_cluster

    @probe_cluster.setter
    def probe_cluster(self, cluster: int) -> None:
        self._c.probe_cluster = cluster

    def set_transport_cc(self, ext_id: int | None) -> None:
        self._c.set_twcc(ext_id or 0)

    def take_sent(self) -> list[SentRecord]:
        return list(_RECORD.iter_unpack(self._c.take_sent()))

    def flush(self) -> None:
        packets, octets, protect_failures, not_connected, send_dropped, send_errors = self._c.take_stats()
        stats = self.stats
        if packets:
            stats.rtp_out += packets
            stats.packets_out += packets
            stats.bytes_out += octets
        if protect_failures:
            stats.protect_failures += protect_failures
        if not_connected:
            stats.dropped_not_connected += not_connected
        if send_dropped or send_errors:
            stats.dropped_send_buffer += send_dropped + send_errors

    def fanout_entry(self, ssrc: int, pt_map: bytes) -> _fanout.Entry:
        """A fan-out entry for a down-track on ``ssrc``, sending through this sender's context.

        ``pt_map`` is 128 bytes, publisher payload type -> subscriber payload type, 0xFF for
        one that is not forwarded.
        """
        entry: _fanout.Entry = self._lib.Entry(self._c, ssrc, pt_map)
        return entry


class NativeFanout:
    """The fan-out groups of the C extension, for the SFU's native forwarder: one per up-track."""

    __slots__ = ("_lib",)

    def __init__(self, lib: ModuleType) -> None:
        self._lib = lib

    def group(self) -> _fanout.Group:
        group: _fanout.Group = self._lib.Group()
        return group


def make_sender(lib: ModuleType | None, stats: PeerStats) -> Sender:
    """A :class:`NativeSender` with the extension ``lib``, else a :class:`PythonSender`."""
    return NativeSender(lib, stats) if lib is not None else PythonSender(stats)


def _sockaddr(addr: Address) -> tuple[int, bytes, int] | None:
    """``(family, packed ip, port)`` for the extension, None if the host is not a numeric address."""
    try:
        ip = ipaddress.ip_address(addr[0].split("%", 1)[0])
    except ValueError:
        return None
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    return family, ip.packed, int(addr[1])
