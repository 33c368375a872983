"""Simulcast and temporal layers: what a down-track forwards of a layered up-track.

Theory of operation
-------------------
A simulcast publisher (RFC 8853) sends the same video as several independent streams, lowest
resolution first (the *spatial* layers, each an :class:`~hubbub.sfu.track.Layer`); with VP8
each stream also has temporal layers (RFC 7741 §4.2 TID): dropping the frames above a temporal
layer lowers the frame rate and keeps the rest decodable.

Each down-track of such an up-track has a :class:`LayerSelector`: the layer it is asked for
(``requested``, by the subscriber or an allocator, through ``DownTrack.set_target_layer``) and
a temporal cap. The selector decides per packet, deterministically:

* A packet of the layer being forwarded (``current``) is forwarded, unless its temporal layer is
  above what is forwarded now (``temporal``): then it is dropped and the down-track closes up
  the numbering (sequence numbers, VP8 picture IDs) so the subscriber sees no gap.
* ``temporal`` follows the cap only at the start of a picture: down at once, up at a picture of
  temporal layer 0 (nothing after it refers to a dropped picture) or at one with the Y bit
  (it refers only to layer 0) of a layer within the cap. While a switch *down* waits for the
  lower layer's key frame, the layer being left is capped at temporal layer 1 (a narrower path
  should not queue the full frame rate meanwhile).
* A spatial switch happens at the first packet of a key frame of the ``target`` layer, never in
  between: until then the current layer keeps flowing (the subscriber sees no freeze), and the
  down-track asks the publisher for that key frame (PLI on the target layer's SSRC).
* ``target`` is ``requested`` while that layer is active (packets within :data:`LAYER_TIMEOUT`);
  when it is not (the publisher stopped encoding it, for bandwidth or CPU), the highest active
  layer below it, else the lowest active one above it (see :meth:`LayerSelector.retarget`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hubbub.sfu.vp8 import Vp8Descriptor

__all__ = [
    "DROP",
    "FORWARD",
    "LAYER_TIMEOUT",
    "MAX_TEMPORAL",
    "RATE_WINDOW",
    "SKIP",
    "SWITCH",
    "LayerInfo",
    "LayerSelector",
    "quality_layer",
]

LAYER_TIMEOUT = 1.0  # seconds without a packet before a layer counts as stopped
RATE_WINDOW = 0.5  # seconds per bitrate measurement
MAX_TEMPORAL = 3  # RFC 7741 §4.2: TID is 2 bits

# LayerSelector.select outcomes
SKIP = 0  # a packet of a layer this down-track does not forward
FORWARD = 1
DROP = 2  # a packet of the forwarded layer above the temporal layer forwarded now
SWITCH = 3  # the first packet of the target layer's key frame: forward it, from a new source


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """One spatial layer as an allocator sees it."""

    spatial: int  # index, lowest resolution first
    rid: str | None  # RFC 8851 rid, None for a single-layer track
    active: bool  # packets arrived within LAYER_TIMEOUT
    width: int  # from the last VP8 key frame, 0 when unknown
    height: int
    bitrates: tuple[int, ...]  # bit/s of temporal layers 0..t (cumulative), () when not measured


class LayerSelector:
    """One down-track's choice among the layers of a simulcast up-track (module docstring)."""

    __slots__ = ("current", "layer_count", "max_temporal", "requested", "target", "temporal")

    def __init__(self, layer_count: int, spatial: int, temporal: int = MAX_TEMPORAL) -> None:
        self.layer_count = layer_count
        self.requested = min(max(spatial, 0), layer_count - 1)
        self.target = self.requested
        self.max_temporal = min(max(temporal, 0), MAX_TEMPORAL)
        self.current = -1  # spatial layer forwarded, -1 before a key frame
        self.temporal = -1  # temporal layers forwarded now: 0..temporal

    @property
    def switching(self) -> bool:
        """A key frame of ``target`` is awaited (to start, or to switch to it)."""
        return self.current != self.target

    def request(self, spatial: int, temporal: int) -> None:
        """The layer asked for (clamped to what exists) and the temporal cap."""
        self.requested = min(max(spatial, 0), self.layer_count - 1)
        self.max_temporal = min(max(temporal, 0), MAX_TEMPORAL)
        self.target = self.requested

    def retarget(self, active: Sequence[bool]) -> bool:
        """Aim at the requested layer, or the nearest active one when it stopped; True on a change.

        Nothing active (no packet yet, or the publisher paused): the requested layer.
        """
        want = self.requested
        target = want
        if not active[want]:
            below = [i for i in range(want - 1, -1, -1) if active[i]]
            above = [i for i in range(want + 1, len(active)) if active[i]]
            target = below[0] if below else above[0] if above else want
        changed = target != self.target
        self.target = target
        return changed

    def restart(self) -> None:
        """Forward nothing until the next key frame of the target (a decoder that starts over)."""
        self.current = -1
        self.temporal = -1

    def select(self, spatial: int, keyframe: bool, desc: Vp8Descriptor | None) -> int:
        """SKIP, FORWARD, DROP or SWITCH for a packet of layer ``spatial`` (module docstring)."""
        if spatial != self.current:
            if keyframe and (spatial == self.target or spatial == self.requested):
                self.target = self.current = spatial  # a key frame of the requested one: it is back
                self.temporal = self.max_temporal
                return SWITCH
            return SKIP
        if desc is None or desc.tid < 0:
            return FORWARD
        tid = desc.tid
        if desc.frame_start:
            # On the way down, the layer left keeps temporal layers 0 and 1 (half the frame rate)
            # until the switch: less to queue on a narrower path while the lower key frame comes.
            cap = self.max_temporal if self.target >= self.current else min(self.max_temporal, 1)
            if self.temporal > cap or tid == 0:
                self.temporal = cap
            elif desc.sync and self.temporal < tid <= cap:
                self.temporal = tid
        return FORWARD if tid <= self.temporal else DROP


def quality_layer(
    quality: str, layers: Sequence[LayerInfo], width: int = 0, height: int = 0, top: tuple[int, int] = (0, 0)
) -> int:
    """The spatial layer for a subscriber's wish: ``low``, ``medium`` or ``high`` (the lowest,
    middle and top layer), or else the smallest layer at least ``width`` x ``height``, the top
    one if none is. A layer of unknown size (no key frame seen) counts as halving from the top,
    whose size is its own, else ``top`` (the published size), else 1280x720."""
    n = len(layers)
    if n == 0:
        return 0
    if width <= 0 and height <= 0:
        return {"low": 0, "medium": n // 2 if n > 2 else n - 1}.get(quality, n - 1)
    last = layers[-1]
    top_w, top_h = (last.width, last.height) if last.width and last.height else top
    if not top_w or not top_h:
        top_w, top_h = 1280, 720
    for layer in layers:
        w, h = layer.width, layer.height
        if not w or not h:
            shift = n - 1 - layer.spatial
            w, h = top_w >> shift, top_h >> shift
        if w >= width and h >= height:
            return layer.spatial
    return n - 1
