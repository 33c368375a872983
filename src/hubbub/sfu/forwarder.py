"""The fan-out of one received packet to every down-track of its up-track: the hot path.

Everything that is per *received* packet (parsing, RTX unwrap, statistics, cache, keyframe and
audio-level detection) happens once in the router before this point; everything here is per
*sent* packet. The loop sits behind :class:`Forwarder` so that a native helper (rewrite + SRTP
protect + sendmmsg in C) can replace :class:`PythonForwarder` without touching the rest.
"""

from __future__ import annotations

from typing import Protocol

from hubbub.sfu.track import UpTrack

__all__ = ["Forwarder", "PythonForwarder"]


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
