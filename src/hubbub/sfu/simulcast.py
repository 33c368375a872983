"""The simulcast half of a down-track: the protocols it reads its up-track through and the
layer switching of :class:`SimulcastDownTrack` (see :mod:`hubbub.sfu.layers` for the rules).

:class:`~hubbub.sfu.downtrack.DownTrackBase` inherits it; a single-layer up-track never runs
any of it (``_selector`` is None). A down-track of a simulcast up-track stays on the Python path
(the native fan-out does not take it: each copy's VP8 descriptor is rewritten per subscriber),
and reaches :meth:`SimulcastDownTrack.write_layer_rtp` through ``Forwarder.forward_layer``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Generic, Protocol, TypeVar

from hubbub.proto.rtp import rewrite
from hubbub.sfu import vp8
from hubbub.sfu.layers import DROP, MAX_TEMPORAL, SKIP, SWITCH, LayerInfo, LayerSelector
from hubbub.sfu.munger import Munger
from hubbub.sfu.packet_cache import PacketCache
from hubbub.sfu.types import PacketSink

__all__ = ["LayerSource", "SimulcastDownTrack", "Source"]

_HDR = struct.Struct("!HHII").pack  # RFC 3550 §5.1, as in hubbub.sfu.downtrack


class LayerSource(Protocol):
    """What a down-track reads of the layer it forwards (:class:`hubbub.sfu.track.Layer`)."""

    keyframe_pending: bool  # set when a subscriber resumes or switches and needs a keyframe

    @property
    def spatial(self) -> int: ...

    @property
    def cache(self) -> PacketCache: ...

    @property
    def sr_ntp(self) -> int: ...

    @property
    def sr_rtp(self) -> int: ...

    @property
    def sr_time(self) -> float | None: ...


class Source(LayerSource, Protocol):
    """What a down-track reads of its up-track (:class:`hubbub.sfu.track.UpTrack`): a single-layer
    one is its own one layer; a simulcast one has ``layers``, lowest first."""

    @property
    def kind(self) -> str: ...

    @property
    def clock_rate(self) -> int: ...

    @property
    def ext_ids(self) -> Mapping[str, int]: ...

    @property
    def simulcast(self) -> bool: ...

    @property
    def vp8_pts(self) -> frozenset[int]: ...

    @property
    def layers(self) -> Sequence[LayerSource]: ...

    def layer_infos(self, now: float) -> tuple[LayerInfo, ...]: ...


U = TypeVar("U", bound=Source)


class SimulcastDownTrack(Generic[U]):
    """Layer choice and VP8 rewriting of a down-track (mixed into ``DownTrackBase``, whose slots
    holds the rest of the state named here)."""

    # Written here; the counters and the keyframe wait are the down-track's own too.
    __slots__ = (
        "_bytes_sent",
        "_octets_sent",
        "_packets_dropped",
        "_packets_sent",
        "_selector",
        "_src",
        "_vp8",
        "_waiting_keyframe",
    )

    up: U
    ssrc: int
    receiving: bool
    _src: LayerSource
    _selector: LayerSelector | None
    _vp8: vp8.Vp8Munger | None
    _munger: Munger
    _pt_map: dict[int, int]
    _ext_table: bytes | None
    _sink: PacketSink
    _dropping: bool
    _waiting_keyframe: bool
    _packets_sent: int
    _bytes_sent: int
    _octets_sent: int
    _packets_dropped: int

    def _layered(self, up: U, spatial: int, temporal: int) -> None:
        """A selector and a VP8 rewriter for a simulcast up-track; neither for a single-layer one."""
        if up.simulcast:
            self._selector = LayerSelector(len(up.layers), spatial, temporal)
            if self._vp8 is None:
                self._vp8 = vp8.Vp8Munger()
            else:  # a new source (a publisher that reconnected): the numbering goes on
                self._vp8.switch()
            self._src = up.layers[self._selector.target]
        else:
            self._selector = None
            self._vp8 = None

    @property
    def current_layer(self) -> tuple[int, int]:
        """``(spatial, temporal)`` forwarded now; ``(-1, -1)`` before a key frame, ``(0, -1)``
        for a single-layer track (temporal -1: every temporal layer)."""
        sel = self._selector
        return (sel.current, sel.temporal) if sel is not None else (0, -1)

    @property
    def target_layer(self) -> tuple[int, int]:
        """``(spatial, temporal)`` asked for with :meth:`set_target_layer` (the temporal cap)."""
        sel = self._selector
        return (sel.requested, sel.max_temporal) if sel is not None else (0, MAX_TEMPORAL)

    def available_layers(self, now: float) -> tuple[LayerInfo, ...]:
        """The up-track's layers, lowest first, with their state and bitrates."""
        return self.up.layer_infos(now)

    def set_target_layer(self, spatial: int, temporal: int = MAX_TEMPORAL, now: float | None = None) -> bool:
        """Forward spatial layer ``spatial`` (clamped) and temporal layers up to ``temporal``.

        The spatial switch happens at the next key frame of that layer, which is asked for
        (``keyframe_pending`` on it; the router sends the PLI); the temporal cap applies from
        the next picture. With ``now``, a layer the publisher stopped sending is stood in for
        at once (else from the next :meth:`check_layers`). True when a key frame is needed.
        Nothing changes for a single-layer track (False).
        """
        sel = self._selector
        if sel is None:
            return False
        sel.request(spatial, temporal)
        if now is not None:
            sel.retarget([info.active for info in self.up.layer_infos(now)])
        return self._want_keyframe()

    def check_layers(self, now: float) -> bool:
        """Follow the layers the publisher still sends (see ``LayerSelector.retarget``); True
        when a key frame is now needed."""
        sel = self._selector
        if sel is None or not sel.retarget([info.active for info in self.up.layer_infos(now)]):
            return False
        return self._want_keyframe()

    def _want_keyframe(self) -> bool:
        sel = self._selector
        if sel is None or not sel.switching or self._dropping or not self.receiving:
            return False
        self.up.layers[sel.target].keyframe_pending = True
        return True

    @property
    def keyframe_layer(self) -> int:
        """The layer (index into ``up.layers``) whose key frame this down-track needs next."""
        sel = self._selector
        return sel.target if sel is not None else 0

    def waits_for(self, spatial: int) -> bool:
        """Receiving, not muted, and waiting for a key frame of layer ``spatial``."""
        sel = self._selector
        if sel is None:
            return self._waiting_keyframe and self.receiving and not self._dropping
        return sel.switching and sel.target == spatial and self.receiving and not self._dropping

    def _send(self, out: bytes, octets: int) -> None:
        """Hand a rewritten packet to the sink and count it (``octets``: its payload)."""
        self._sink.send_rtp(out)
        self._packets_sent += 1
        self._bytes_sent += len(out)
        self._octets_sent += octets

    def write_layer_rtp(
        self,
        layer: LayerSource,
        packet: bytes,
        hlen: int,
        pt: int,
        seq: int,
        ts: int,
        keyframe: bool,
        payload_size: int,
        now: float,
        desc: vp8.Vp8Descriptor | None,
    ) -> None:
        """:meth:`write_rtp` for a packet of one layer of a simulcast up-track (Python only).

        The selector decides; a switch moves the munger and the VP8 rewriter to the new source;
        a dropped temporal layer closes up both numberings; VP8 descriptors are rewritten.
        """
        sel = self._selector
        if self._dropping or sel is None:
            return
        action = sel.select(layer.spatial, keyframe, desc)
        if action == SKIP:
            if sel.current < 0 and layer.spatial == sel.target:
                self._packets_dropped += 1  # waiting for its key frame, as a single-layer track does
            return
        munger = self._munger
        rewriter = self._vp8
        if action == SWITCH:
            old, self._src = self._src, layer
            self._waiting_keyframe = False
            munger.switch_source(now, _aligned(old, layer, ts, munger.ts_offset, self.up.clock_rate))
            if rewriter is not None:
                rewriter.switch()
        elif action == DROP:
            munger.drop(seq, ts, now)
            if rewriter is not None and desc is not None:
                rewriter.drop(desc)
            self._packets_dropped += 1
            return
        opt = self._pt_map.get(pt, -1)
        mapped = munger.munge(seq, ts, now) if opt >= 0 else None
        if mapped is None:
            self._packets_dropped += 1
            return
        if desc is not None and rewriter is not None:
            body = vp8.descriptor_bytes(desc, *rewriter.munge(desc)) + packet[hlen + desc.size :]
        else:
            body = packet[hlen:]
        table = self._ext_table
        if table is None:
            out = _HDR(((packet[0] << 8) | (packet[1] & 0x80)) | opt, mapped[0], mapped[1], self.ssrc)
            out += packet[12:hlen] + body
        else:
            try:
                out = bytes(rewrite(packet[:hlen], self.ssrc, mapped[0], mapped[1], opt, table)) + body
            except ValueError:  # malformed extension element (RFC 8285 §4)
                self._packets_dropped += 1
                return
        self._send(out, payload_size)


def _aligned(old: LayerSource, new: LayerSource, ts: int, ts_offset: int, clock_rate: int) -> int | None:
    """The output timestamp of ``new``'s packet ``ts``, through both layers' last Sender Reports
    (RFC 3550 §6.4.1: each ties its stream's RTP time to the publisher's one NTP clock), or None
    without them. ``ts_offset`` is the output's offset from ``old``'s timestamps."""
    if old is new or old.sr_time is None or new.sr_time is None:
        return None
    since_sr = ((ts - new.sr_rtp + 0x80000000) & 0xFFFFFFFF) - 0x80000000
    ntp_gap = ((new.sr_ntp - old.sr_ntp) / 4294967296.0) * clock_rate
    return (old.sr_rtp + since_sr + round(ntp_gap) + ts_offset) & 0xFFFFFFFF
