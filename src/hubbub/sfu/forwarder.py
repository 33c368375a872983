"""The fan-out of one received packet to every down-track of its up-track: the hot path.

Everything that is per *received* packet (parsing, RTX unwrap, statistics, cache, keyframe and
audio-level detection) happens once in the router before this point; everything here is per
*sent* packet. The loop sits behind :class:`Forwarder` so that a native helper (rewrite + SRTP
protect + sendmmsg in C) can replace :class:`PythonForwarder` without touching the rest.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

from hubbub.sfu.downtrack import DownTrack
from hubbub.sfu.track import UpTrack

__all__ = ["Forwarder", "NativeForwarder", "PythonForwarder", "make_forwarder"]

log = logging.getLogger(__name__)


class Forwarder(Protocol):
    """Sends one validated packet of ``up`` to each of its down-tracks.

    ``pt``, ``seq`` and ``ts`` are the packet's header fields (after RTX unwrapping),
    ``keyframe`` is True on the first packet of a keyframe, ``payload_size`` counts payload
    octets (RFC 3550 §6.4.1 sender's octet count), ``now`` is the arrival time in seconds.
    """

    def forward(
        self, up: UpTrack, packet: bytes, pt: int, seq: int, ts: int, keyframe: bool, payload_size: int, now: float
    ) -> None: ...


class PythonForwarder:
    """The pure-Python fan-out: one :meth:`DownTrack.write_rtp` call per down-track."""

    __slots__ = ()

    def forward(
        self, up: UpTrack, packet: bytes, pt: int, seq: int, ts: int, keyframe: bool, payload_size: int, now: float
    ) -> None:
        # ``down_tracks`` is an immutable tuple, replaced on (un)subscribe: a sink that
        # unsubscribes during the loop cannot disturb it.
        # Shared by every copy: the first header word without the payload type, and
        # everything after the fixed header (RFC 3550 §5.1), sliced once.
        head = (packet[0] << 8) | (packet[1] & 0x80)
        tail = packet[12:]
        for dt in up.down_tracks:
            dt.write_rtp(packet, head, tail, pt, seq, ts, keyframe, payload_size, now)


class _Group:
    """What the native forwarder keeps per up-track."""

    __slots__ = ("c", "downs", "native", "python")

    def __init__(
        self, c: Any, downs: tuple[DownTrack, ...], native: tuple[DownTrack, ...], python: tuple[DownTrack, ...]
    ) -> None:
        self.c = c  # the helper's Group, with one entry per native down-track
        self.downs = downs  # the up-track's ``down_tracks`` this was built from
        self.native = native
        self.python = python


class NativeForwarder:
    """Fan-out in C (rewrite + SRTP protect + sendmmsg): one call per received packet.

    Down-tracks whose sink is a peer transport (it has ``observe_send_path``) are *attached*
    to an entry of the helper; the rest (test sinks, anything else) run
    :meth:`DownTrack.write_rtp` as with :class:`PythonForwarder`. Per subscriber peer the
    helper keeps an outbound SRTP context made from the peer's DTLS-exported key + salt; it
    protects every RTP packet on the media SSRCs of that peer's attached down-tracks (the
    steady state here, the slow path and non-RTX retransmissions through ``Peer.send_rtp``),
    while the transport's own session keeps RTX and RTCP. The two contexts never share an
    SSRC, so no keystream is used twice (RFC 3711 §9.1, RFC 7714 §8.1); SRTCP has its own
    keys and index and only the transport sends it.

    The peer's counters (``rtp_out``, ``packets_out``, ``bytes_out``...) are brought up to
    date once a second while packets flow, on every change of its send path and at close.
    """

    __slots__ = ("_groups", "_lib", "_next_flush", "_peers")

    def __init__(self, lib: ModuleType) -> None:
        self._lib = lib
        self._groups: dict[UpTrack, _Group] = {}
        self._peers: dict[Any, Any] = {}  # peer transport -> helper Peer
        self._next_flush = 0.0

    # --- hot path --------------------------------------------------------------------------------

    def forward(
        self, up: UpTrack, packet: bytes, pt: int, seq: int, ts: int, keyframe: bool, payload_size: int, now: float
    ) -> None:
        group = self._groups.get(up)
        if group is None or group.downs is not up.down_tracks:
            group = self._rebuild(up)
        slow = group.c.forward(packet, pt, seq, ts, keyframe, payload_size, now) if group.native else None
        if slow is not None or group.python:
            head = (packet[0] << 8) | (packet[1] & 0x80)
            tail = packet[12:]
            for dt in group.python:
                dt.write_rtp(packet, head, tail, pt, seq, ts, keyframe, payload_size, now)
            if slow is not None:
                native = group.native
                for i in slow:
                    native[i].write_rtp_native(packet, head, tail, pt, seq, ts, keyframe, payload_size, now)
        if now >= self._next_flush:
            self._next_flush = now + 1.0
            self.flush_stats()

    # --- membership ------------------------------------------------------------------------------

    def _rebuild(self, up: UpTrack) -> _Group:
        downs = up.down_tracks
        native: list[DownTrack] = []
        python: list[DownTrack] = []
        for dt in downs:
            if dt.native or self._attach(dt):
                native.append(dt)
            else:
                python.append(dt)
        old = self._groups.get(up)
        c = old.c if old is not None else self._lib.Group()
        c.set_entries(tuple(dt.native_entry for dt in native))
        group = _Group(c, downs, tuple(native), tuple(python))
        self._groups[up] = group
        return group

    def _attach(self, dt: DownTrack) -> bool:
        sink = dt.sink
        if not hasattr(sink, "observe_send_path"):
            return False
        peer = self._peers.get(sink)
        if peer is None:
            peer = self._lib.Peer()
            self._peers[sink] = peer
            sink.observe_send_path(self._send_path_changed)
            self._configure(sink, peer)
        entry = self._lib.Entry(peer, dt.ssrc, dt.native_pt_map())
        dt.attach_native(entry, peer, self)
        return True

    def invalidate(self, dt: DownTrack) -> None:
        """``dt`` left the native path (its sink changed): rebuild its group on the next packet."""
        self._groups.pop(dt.up, None)

    def release(self, up: UpTrack) -> None:
        """The router forgot ``up``."""
        self._groups.pop(up, None)

    # --- peers -----------------------------------------------------------------------------------

    def _send_path_changed(self, transport: Any) -> None:
        peer = self._peers.get(transport)
        if peer is None:
            return
        self._flush(transport, peer)
        if transport.srtp_outbound_key is None and transport.send_path is None:
            # Closed (keys are never taken back otherwise): media to it is dropped and counted
            # like the transport's own send_rtp would, until the down-tracks move elsewhere.
            peer.set_down()
            del self._peers[transport]
            transport.unobserve_send_path(self._send_path_changed)
            return
        self._configure(transport, peer)

    def _configure(self, transport: Any, peer: Any) -> None:
        key = transport.srtp_outbound_key
        if key is not None and not peer.keyed:
            profile, key_salt = key
            peer.set_key(profile.libsrtp_id, key_salt)
        path = transport.send_path
        if path is None or not peer.keyed:
            peer.set_down()
            return
        addr, sendto, fd = path
        target = _sockaddr(addr) if fd is not None else None
        if target is not None:
            assert fd is not None
            peer.set_udp(fd, *target)
        else:
            peer.set_python(sendto, addr)

    def flush_stats(self) -> None:
        """Add what the helper sent for each peer to the peer transport's counters."""
        for transport, peer in tuple(self._peers.items()):
            self._flush(transport, peer)

    @staticmethod
    def _flush(transport: Any, peer: Any) -> None:
        packets, octets, protect_failures, not_connected, send_dropped, send_errors = peer.take_stats()
        stats = transport.stats
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


def _sockaddr(addr: tuple[str, int]) -> tuple[int, bytes, int] | None:
    """``(family, packed ip, port)`` for the helper, None if the host is not a numeric address."""
    try:
        ip = ipaddress.ip_address(addr[0].split("%", 1)[0])
    except ValueError:
        return None
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    return family, ip.packed, int(addr[1])


def make_forwarder(native: bool = True, *, loader: Callable[[], ModuleType | None] | None = None) -> Forwarder:
    """The native forwarder when ``native`` and the helper can be had here, else :class:`PythonForwarder`."""
    if native:
        if loader is None:
            from hubbub.sfu.native import load

            loader = load
        lib = loader()
        if lib is not None:
            return NativeForwarder(lib)
    return PythonForwarder()
