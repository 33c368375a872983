"""One subscriber's connection as the router shares it out: wishes, the estimate, the allocation.

Theory of operation
-------------------
Every subscriber with at least one subscription has a :class:`Downlink`. It keeps what the
subscriber asked for each video (:meth:`Downlink.wish`: the highest spatial layer, -1 for none,
and a temporal cap, from ``update_subscription``) and, every :data:`ALLOCATE_INTERVAL` and on every wish, asks its
:class:`~hubbub.sfu.allocator.Allocator` to share the connection's send-side estimate
(``send_estimate`` of the subscriber's transport, :mod:`hubbub.transport.congestion`; none, an
unbounded budget, when the subscriber negotiated no transport-wide CC) among its down-tracks:

- the layers the allocation names go to ``DownTrack.set_target_layer`` (the switch itself waits
  for a key frame of the new layer, which the router asks for);
- a video the allocation pauses is paused (``DownTrack.set_paused``; it resumes on a key frame),
  and the change is reported (:attr:`Downlink.changes`: ``(track id, active, reason)``, reasons
  ``bandwidth`` and ``not_wanted``) for the router's ``on_stream_state``;
- an elastic video (one layer, its publisher follows a limit: :mod:`hubbub.sfu.uplink`) gets
  a share of the estimate, kept in :attr:`Downlink.limits` for the publisher's limit; one this
  subscriber was outvoted on (:attr:`Downlink.outvoted`) is an ordinary single-layer video
  until it fits again;
- audio sent as RED to a subscriber that takes plain Opus too (``DownTrack.red_optional``) goes
  without its redundancy while the estimate is under :data:`RED_OFF_BPS` and the subscriber
  reports under :data:`RED_OFF_LOSS` of it lost, and with it again over :data:`RED_ON_BPS` or
  :data:`RED_ON_LOSS`: on a congested path without loss, RED doubles the audio for nothing
  and takes its share from the video;
- retransmissions (:meth:`Downlink.resend`) get at most :data:`RESEND_SHARE` of the
  estimate: after a burst of loss a subscriber asks for every packet lost, and resending them
  all at once on a path that just overflowed keeps it overflowing for seconds;
- when some video is below what was wished, the transport is asked to probe for the rate of its
  next step (``request_probe``), and the padding of those probes is made here
  (:meth:`Downlink.padding`: padding-only packets on a video's RTX stream).

Priorities: a screen share first (``UpTrack.source == "screen"``), then the videos of the active
speakers, then the rest. Sans-I/O: time comes in as ``now``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Hashable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from hubbub.sfu.allocator import AUDIO_BPS, SINGLE_LAYER_BPS, Allocation, Allocator, Demand, Priority, assumed_rates
from hubbub.sfu.layers import MAX_TEMPORAL

if TYPE_CHECKING:
    from hubbub.sfu.track import DownTrack

__all__ = ["ALLOCATE_INTERVAL", "Downlink", "RateControlled"]

ALLOCATE_INTERVAL = 0.25  # seconds between two allocations of one subscriber's estimate
RESEND_SHARE = 0.5  # of the estimate, what retransmissions may take
RESEND_BURST_S = 0.2  # seconds of that rate that may go at once
RED_OFF_BPS = 400_000.0  # under this estimate and...
RED_OFF_LOSS = 0.02  # ...under this loss (the subscriber's receiver reports), no redundancy
RED_ON_BPS = 500_000.0  # redundancy again over this estimate, or...
RED_ON_LOSS = 0.05  # ...over this loss
RESEND_SIZE = 1200  # bytes a retransmission counts as (the router asks before it looks the packet up)


@runtime_checkable
class RateControlled(Protocol):
    """A subscriber transport with a send-side estimate (``PeerTransport``)."""

    @property
    def send_estimate(self) -> float | None: ...

    def request_probe(self, need_bps: float) -> None: ...

    def set_padding_rate(self, bps: float) -> None: ...

    def set_padding(self, padding: object) -> None: ...


class Downlink:
    """The down-tracks of one subscriber and how its estimate is shared (module docstring)."""

    __slots__ = (
        "_allocator",
        "_dirty",
        "_paused",
        "_rate",
        "_resend_at",
        "_resend_bits",
        "_sink",
        "changes",
        "downs",
        "estimate",
        "key",
        "limits",
        "need",
        "next_allocation",
        "outvoted",
        "wishes",
    )

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.downs: dict[str, DownTrack] = {}  # by track id
        # track id -> (highest spatial layer wanted (-1: none), highest temporal layer)
        self.wishes: dict[str, tuple[int, int]] = {}
        self.changes: list[tuple[str, bool, str]] = []  # (track id, active, reason) not yet reported
        self.next_allocation = 0.0
        self.estimate: float | None = None  # the send-side estimate at the last allocation
        self.need = 0.0  # what its wishes cost at full rate (bit/s), at the last allocation
        self.limits: dict[str, float] = {}  # elastic track id -> the rate allocated to it, under an estimate
        self.outvoted: set[str] = set()  # elastic tracks whose limit this subscriber does not set
        self._allocator = Allocator()
        self._paused: dict[str, str] = {}  # track id -> why it is paused
        self._dirty = True  # a wish or a down-track changed since the last allocation
        self._sink: object = None
        self._rate: RateControlled | None = None  # the sink, when it has an estimate
        self._resend_bits = 0.0  # the retransmission budget's bucket
        self._resend_at = 0.0

    def add(self, track_id: str, dt: DownTrack) -> None:
        self.downs[track_id] = dt
        self._dirty = True

    def wish(self, track_id: str, spatial: int, temporal: int = MAX_TEMPORAL) -> None:
        self.wishes[track_id] = (spatial, temporal)
        self._dirty = True

    def remove(self, track_id: str) -> None:
        self.downs.pop(track_id, None)
        self.limits.pop(track_id, None)
        self.outvoted.discard(track_id)
        self._paused.pop(track_id, None)
        self._dirty = True

    def resend(self, dt: DownTrack, seqs: Sequence[int], now: float) -> int:
        """Resend the packets a NACK names (subscriber sequence numbers) while the budget allows;
        how many were left out for it."""
        for i, seq in enumerate(seqs):
            if not self.resend_allowed(now):
                return len(seqs) - i
            dt.retransmit(seq, now)
        return 0

    def resend_allowed(self, now: float, size: int = RESEND_SIZE) -> bool:
        """Whether a retransmission of ``size`` bytes fits the budget now (always, with no estimate)."""
        estimate = self.estimate
        if estimate is None:
            return True
        rate = estimate * RESEND_SHARE
        self._resend_bits = min(rate * RESEND_BURST_S, self._resend_bits + (now - self._resend_at) * rate)
        self._resend_at = now
        if self._resend_bits < size * 8:
            return False
        self._resend_bits -= size * 8
        return True

    def padding(self, size: int) -> bytes | None:
        """A padding-only packet for a probe, on the RTX stream of a video this subscriber gets."""
        for dt in self.downs.values():
            if dt.up.kind == "video":
                packet = dt.padding_packet(size)
                if packet is not None:
                    return packet
        return None

    def allocate(self, now: float, speaking: Callable[[], Collection[Hashable]]) -> list[DownTrack]:
        """Share the estimate among the down-tracks and apply it; the down-tracks whose switch
        needs a key frame (for the router to ask for). ``speaking()``: the publisher keys of the
        active speakers (asked only when there is something to allocate)."""
        self.next_allocation = now + ALLOCATE_INTERVAL
        if not self.downs:
            return []
        sink = next(iter(self.downs.values())).sink
        if sink is not self._sink:  # a new connection (a reconnect): probes pad from here
            self._sink = sink
            self._rate = sink if isinstance(sink, RateControlled) else None
            if self._rate is not None:
                self._rate.set_padding(self.padding)
            self._dirty = True
        rate = self._rate
        self.estimate = rate.send_estimate if rate is not None else None
        self._fit_red(self.estimate if self.estimate is not None else math.inf)
        if self.estimate is None:
            self.limits = {}
        if not self._dirty and (self.estimate is None or not any(dt.up.kind == "video" for dt in self.downs.values())):
            return []  # nothing changed and nothing to share: every video stays at its wish
        budget = self.estimate if self.estimate is not None else math.inf
        self._dirty = False
        active = speaking()
        demands = [self._demand(track_id, dt, now, active) for track_id, dt in self.downs.items()]
        self.need = sum(_full_rate(d) for d in demands)
        plan = self._allocator.allocate(budget, demands, now)
        self.limits = {
            track_id: a.bps
            for track_id, d in zip(self.downs, demands, strict=True)
            if d.elastic and budget != math.inf and not (a := plan[d.key]).paused
        }
        keyframes = [dt for track_id, dt in self.downs.items() if self._apply(track_id, dt, plan[track_id], now)]
        self.outvoted = {t for t in self.outvoted if t in plan and plan[t].paused}  # elastic again once it fits
        probe = self._allocator.probe_bps
        if rate is not None:
            below = probe is not None and probe > budget
            if probe is not None and below:
                rate.request_probe(probe)
            # while held below its wish, fill the estimate with padding
            total = sum(a.bps for a in plan.values())
            rate.set_padding_rate(budget - total if below and budget != math.inf else 0.0)
        return keyframes

    def _fit_red(self, budget: float) -> None:
        """RED sent whole or as its primary blocks, by the estimate and the loss (module docstring)."""
        for dt in self.downs.values():
            if dt.red_optional is None:
                continue
            loss = dt.fraction_lost / 256
            if dt.unwraps_red:
                if budget > RED_ON_BPS or loss > RED_ON_LOSS:
                    dt.send_red(True)
            elif budget < RED_OFF_BPS and loss < RED_OFF_LOSS:
                dt.send_red(False)

    def _demand(self, track_id: str, dt: DownTrack, now: float, speaking: Collection[Hashable]) -> Demand:
        up = dt.up
        top = len(up.layers) - 1
        if up.kind != "video":
            priority = Priority.NORMAL
        elif up.source == "screen":
            priority = Priority.SCREEN
        else:
            priority = Priority.SPEAKER if up.publisher_key in speaking else Priority.NORMAL
        cap = min(self.wishes.get(track_id, (top, MAX_TEMPORAL))[0], top)
        layers = up.layer_infos(now)
        rates = layers[0].bitrates if not up.simulcast else ()
        measured = float(rates[-1]) if rates else 0.0
        if dt.unwraps_red:  # the primary blocks only: about half of what RED (distance 1) carries
            measured *= 0.5
        elastic = up.elastic and up.kind == "video" and not up.simulcast and track_id not in self.outvoted
        return Demand(track_id, up.kind, priority, cap, layers, measured, elastic)

    def _apply(self, track_id: str, dt: DownTrack, a: Allocation, now: float) -> bool:
        was = self._paused.get(track_id)
        if a.paused:
            if was != a.reason:
                self._paused[track_id] = a.reason
                self.changes.append((track_id, False, a.reason))
            if not dt.paused:
                dt.set_paused(True)
            return False
        if was is not None:
            del self._paused[track_id]
            self.changes.append((track_id, True, ""))
        if dt.paused:
            dt.set_paused(False)
        if not dt.up.simulcast:
            return False
        temporal = min(a.temporal if a.temporal >= 0 else MAX_TEMPORAL, self.wishes.get(track_id, (0, MAX_TEMPORAL))[1])
        if dt.target_layer == (a.spatial, temporal):
            return False
        return dt.set_target_layer(a.spatial, temporal, now)


def _full_rate(d: Demand) -> float:
    """What a demand costs at its cap and every temporal layer (measured, else assumed)."""
    if d.cap < 0:
        return 0.0
    if d.kind == "audio":
        return d.bitrate or AUDIO_BPS
    if len(d.layers) <= 1:
        return d.bitrate or SINGLE_LAYER_BPS
    return assumed_rates(d.layers)[min(d.cap, len(d.layers) - 1)]
