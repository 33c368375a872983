"""The fan-out of one received packet to every down-track of its up-track: the hot path.

Everything that is per *received* packet (parsing, RTX unwrap, statistics, cache, keyframe and
audio-level detection) happens once in the router before this point; everything here is per
*sent* packet. The loop sits behind :class:`Forwarder` so that :class:`NativeForwarder` (the
rewrite, SRTP protect and sendmmsg of the transport's native sender, see ``hubbub.sfu.fanout``)
can replace :class:`PythonForwarder` without touching the rest.

Membership is the router's business and reaches the forwarder as it happens: :meth:`Forwarder.
update` when an up-track's ``down_tracks`` change, :meth:`Forwarder.attach` when a subscription
starts receiving, :meth:`Forwarder.release` when an up-track goes. :meth:`Forwarder.forward`
does no setup work.

A simulcast up-track's packets come through :meth:`Forwarder.forward_layer` with the layer they
belong to and their VP8 descriptor: each down-track chooses its layer and rewrites the
descriptor for its subscriber, so those down-tracks always run in Python (the native fan-out's
steady state is the same bytes for every copy; it never takes them).
"""

from __future__ import annotations

import logging
from typing import Protocol

from hubbub.sfu.fanout import Fanout, FanoutGroup, FanoutSink
from hubbub.sfu.track import DownTrack, Layer, UpTrack
from hubbub.sfu.vp8 import Vp8Descriptor

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

    def forward_layer(
        self,
        up: UpTrack,
        layer: Layer,
        packet: bytes,
        hlen: int,
        pt: int,
        seq: int,
        ts: int,
        keyframe: bool,
        payload_size: int,
        now: float,
        desc: Vp8Descriptor | None,
    ) -> None:
        """A packet of one ``layer`` of a simulcast ``up`` (``hlen``: its header length)."""
        ...

    def update(self, up: UpTrack) -> None:
        """``up.down_tracks`` changed (a subscription began or ended, a source moved to ``up``)."""
        ...

    def attach(self, dt: DownTrack) -> None:
        """``dt`` starts receiving (its subscriber can decode it)."""
        ...

    def release(self, up: UpTrack) -> None:
        """The router forgot ``up``."""
        ...


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

    def forward_layer(
        self,
        up: UpTrack,
        layer: Layer,
        packet: bytes,
        hlen: int,
        pt: int,
        seq: int,
        ts: int,
        keyframe: bool,
        payload_size: int,
        now: float,
        desc: Vp8Descriptor | None,
    ) -> None:
        for dt in up.down_tracks:
            dt.write_layer_rtp(layer, packet, hlen, pt, seq, ts, keyframe, payload_size, now, desc)

    def update(self, up: UpTrack) -> None:
        pass

    def attach(self, dt: DownTrack) -> None:
        pass

    def release(self, up: UpTrack) -> None:
        pass


class _Group:
    """What the native forwarder keeps per up-track with at least one attached down-track."""

    __slots__ = ("c", "native", "python")

    def __init__(self, c: FanoutGroup, native: tuple[DownTrack, ...], python: tuple[DownTrack, ...]) -> None:
        self.c = c  # the sender's group, with one entry per native down-track
        self.native = native
        self.python = python


class NativeForwarder(PythonForwarder):
    """Fan-out in C (rewrite + SRTP protect + sendmmsg): one call per received packet.

    A down-track whose sink is a :class:`~hubbub.sfu.fanout.FanoutSink` (a peer transport with
    a native sender) is *attached* to an entry of that sender when it starts receiving; the
    rest (test sinks, Python senders, subscribers not receiving yet) run
    :meth:`DownTrack.write_rtp` as with :class:`PythonForwarder`. Attached or not, every packet
    leaves through the sink's one sender and its one SRTP context.
    """

    __slots__ = ("_fanout", "_groups")

    # forward_layer: PythonForwarder's (a simulcast up-track's down-tracks are never attached)

    def __init__(self, fanout: Fanout) -> None:
        self._fanout = fanout
        self._groups: dict[UpTrack, _Group] = {}

    # --- hot path --------------------------------------------------------------------------------

    def forward(
        self, up: UpTrack, packet: bytes, pt: int, seq: int, ts: int, keyframe: bool, payload_size: int, now: float
    ) -> None:
        group = self._groups.get(up)
        if group is None:  # nothing attached: all in Python
            head = (packet[0] << 8) | (packet[1] & 0x80)
            tail = packet[12:]
            for dt in up.down_tracks:
                dt.write_rtp(packet, head, tail, pt, seq, ts, keyframe, payload_size, now)
            return
        slow = group.c.forward(packet, pt, seq, ts, keyframe, payload_size, now)
        if slow is not None or group.python:
            head = (packet[0] << 8) | (packet[1] & 0x80)
            tail = packet[12:]
            for dt in group.python:
                dt.write_rtp(packet, head, tail, pt, seq, ts, keyframe, payload_size, now)
            if slow is not None:
                native = group.native
                for i in slow:
                    native[i].write_rtp_native(packet, head, tail, pt, seq, ts, keyframe, payload_size, now)

    # --- membership ------------------------------------------------------------------------------

    def attach(self, dt: DownTrack) -> None:
        if not dt.native and not dt.up.simulcast:
            sink = dt.sink
            entry = sink.fanout_entry(dt.ssrc, dt.native_pt_map()) if isinstance(sink, FanoutSink) else None
            if entry is not None:
                dt.attach_native(entry, self._sink_changed)
        self.update(dt.up)

    def _sink_changed(self, dt: DownTrack) -> None:
        """``dt`` got a new sink (and was detached from the old one's sender)."""
        self.attach(dt)

    def update(self, up: UpTrack) -> None:
        downs = up.down_tracks
        native = tuple(dt for dt in downs if dt.native and not up.simulcast)
        old = self._groups.get(up)
        if old is not None:
            for dt in old.native:
                if dt.native and dt not in native:
                    dt.detach_native()  # the subscription ended
        if not native:
            self._groups.pop(up, None)
            return
        c = old.c if old is not None else self._fanout.group()
        entries = []
        for dt in native:
            entry = dt.native_entry
            assert entry is not None
            entries.append(entry)
        c.set_entries(tuple(entries))
        self._groups[up] = _Group(c, native, tuple(dt for dt in downs if not dt.native))

    def release(self, up: UpTrack) -> None:
        self._groups.pop(up, None)


def make_forwarder(fanout: Fanout | None) -> Forwarder:
    """:class:`NativeForwarder` on ``fanout`` (the transport's, when its native sender is there), else Python."""
    return NativeForwarder(fanout) if fanout is not None else PythonForwarder()
