"""The bandwidth allocator: one subscriber's send-side estimate shared among its down-tracks.

Theory of operation
-------------------
The congestion controller (:mod:`hubbub.proto.cc.sendside`) estimates what one subscriber's
connection carries; :meth:`Allocator.allocate` splits that budget among the subscriber's
down-tracks, described as :class:`Demand` records, and returns one :class:`Allocation` each: the
spatial layer and temporal cap to ask for (``DownTrack.set_target_layer``), or a pause. It keeps
a little memory per down-track (last layer, since when paused, since when a higher layer was
affordable) and is deterministic given ``now``.

* Audio comes first and is never paused for bandwidth: its measured rate (else
  :data:`AUDIO_BPS`) is taken off the budget. A down-track with ``cap < 0`` is not wanted: paused
  with reason ``not_wanted``, at no cost (audio too).
* Each video has a *ladder* of steps, cheapest first: per spatial layer up to ``cap``, its
  temporal layers' cumulative rates: all of them for the lowest layer; for the layer allocated
  last, from temporal layer 1 (the frame rate halves before the resolution drops); any other
  layer whole (a resolution is entered at its full frame rate). A layer not yet
  measured is one step at an assumed rate (:func:`assumed_rates`); a single-layer video is one
  step at its ``bitrate``. The top temporal step of a layer is reported as :data:`MAX_TEMPORAL`.
* Videos are served in priority order (SCREEN, SPEAKER, NORMAL; stable within a priority).
  First pass: each gets its lowest step, preferring the lowest *active* layer; an inactive layer
  below it is the fallback (the publisher may have stopped it for lack of subscribers; asking
  for it lets it resume). A video whose lowest step does not fit is paused (``bandwidth``).
  Second pass, in rounds: each video in turn climbs one step while it fits, up to its cap.
* Hysteresis. A playing video is paused when its lowest step x ``pause_margin`` no longer fits;
  a paused one resumes after ``resume_hold_s`` only when its lowest step x ``resume_margin`` fits.
  Climbing above the spatial layer of the last allocation needs the new layer's rate x
  ``up_headroom`` and a budget that has allowed it on every call for ``up_hold_s``; going down is
  at once (each call starts from the lowest steps).
* A budget of ``math.inf`` (no estimate: the subscriber has no transport-cc) gives every video
  its cap at every temporal layer.
* :attr:`Allocator.probe_bps`: the total allocated plus what the most important video below its
  cap needs for its next step (to resume, for a paused one); the rate to probe for. An elastic
  video asks for no probe: its publisher's own rate proves the path as it grows (probes at
  1.5x its need, on a path it already fills, overflowed it and cut the estimate).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from hubbub.sfu.layers import MAX_TEMPORAL, LayerInfo

__all__ = [
    "AUDIO_BPS",
    "ELASTIC_MIN_BPS",
    "NOMINAL_BPS",
    "SINGLE_LAYER_BPS",
    "Allocation",
    "Allocator",
    "Demand",
    "Priority",
    "assumed_rates",
]

AUDIO_BPS = 40_000.0  # an audio track not measured yet
NOMINAL_BPS = (150_000.0, 500_000.0, 1_500_000.0)  # simulcast layers, lowest first, nothing measured
SINGLE_LAYER_BPS = 500_000.0  # a single-layer video not measured yet
ELASTIC_MIN_BPS = 60_000.0  # an elastic video is paused below this (libwebrtc's video floor is 30 kbit/s)
LAYER_RATIO = 3.5  # a spatial layer costs about this much more than the one below


class Priority(IntEnum):
    NORMAL = 0
    SPEAKER = 1
    SCREEN = 2


@dataclass(slots=True)
class Demand:
    """One down-track of the subscriber, as the allocator sees it."""

    key: Hashable  # the down-track's identity
    kind: str  # "audio" or "video"
    priority: Priority
    cap: int  # highest spatial layer wanted; -1: not wanted
    layers: Sequence[LayerInfo]  # lowest first; one entry for a single-layer track
    bitrate: float = 0.0  # bit/s measured of a single-layer track, 0 when unknown
    elastic: bool = False  # single-layer, its publisher follows the rate allocated (module docstring)


@dataclass(frozen=True, slots=True)
class Allocation:
    spatial: int  # layer to forward, -1 when paused; 0 for single-layer tracks
    temporal: int  # temporal cap (MAX_TEMPORAL: all), -1 when paused
    paused: bool
    reason: str  # "", "bandwidth" or "not_wanted"
    bps: float  # what this allocation is expected to cost


@dataclass(frozen=True, slots=True)
class _Step:
    spatial: int
    temporal: int
    bps: float


@dataclass(slots=True)
class _State:
    spatial: int | None = None  # spatial layer of the last allocation, -1 paused, None: never allocated
    paused_since: float | None = None  # paused for bandwidth since
    up_since: float | None = None  # a higher spatial layer has been affordable since


@dataclass(slots=True)
class _Plan:
    demand: Demand
    steps: list[_Step]
    start: int  # the preferred first step
    state: _State
    idx: int = -1  # step allocated, -1 paused
    done: bool = False
    held: bool = False  # a step that fits waits for up_hold_s


NOT_WANTED = Allocation(-1, -1, True, "not_wanted", 0.0)


def assumed_rates(layers: Sequence[LayerInfo]) -> list[float]:
    """Each layer's full rate: measured (its top temporal layer), else derived from the nearest
    measured layer (x :data:`LAYER_RATIO` per layer up, / per layer down), else nominal (the
    lowest ``len(layers)`` of :data:`NOMINAL_BPS`, extended up by the ratio beyond three)."""
    measured = {i: float(info.bitrates[-1]) for i, info in enumerate(layers) if info.bitrates and info.bitrates[-1] > 0}
    rates: list[float] = []
    for i in range(len(layers)):
        if i in measured:
            rates.append(measured[i])
        elif measured:
            j = min(measured, key=lambda m: (abs(m - i), m))
            rates.append(measured[j] * LAYER_RATIO ** (i - j))
        else:
            rates.append(NOMINAL_BPS[i] if i < len(NOMINAL_BPS) else NOMINAL_BPS[-1] * LAYER_RATIO ** (i - 2))
    return rates


def _ladder(d: Demand, current: int | None = None) -> tuple[list[_Step], int]:
    """A video's steps, cheapest first, up to its cap, and the index of the preferred first one.

    Every temporal step of the lowest layer; of the layer allocated last (``current``), those
    from temporal layer 1 up (half the frame rate: it drops before the resolution, not to a
    quarter); of any other layer, the whole layer only (a resolution is entered at its full
    frame rate)."""
    layers = d.layers
    if len(layers) <= 1 and d.elastic:
        return [_Step(0, MAX_TEMPORAL, ELASTIC_MIN_BPS)], 0
    if len(layers) <= 1:
        measured = layers[0].bitrates if layers else ()
        rate = d.bitrate or (float(measured[-1]) if measured else 0.0) or SINGLE_LAYER_BPS
        return [_Step(0, MAX_TEMPORAL, rate)], 0
    top = min(d.cap, len(layers) - 1)
    rates = assumed_rates(layers)
    steps: list[_Step] = []
    start = 0
    first_active = next((s for s in range(top + 1) if layers[s].active), 0)
    for s in range(top + 1):
        if s == first_active:
            start = len(steps)
        br = layers[s].bitrates
        if br and br[-1] > 0:
            first = 0 if s <= first_active else 1 if s == current else len(br) - 1
            steps += [
                _Step(s, MAX_TEMPORAL if t == len(br) - 1 else t, float(r)) for t, r in enumerate(br) if t >= first
            ]
        else:
            steps.append(_Step(s, MAX_TEMPORAL, rates[s]))
    for i in range(1, len(steps)):  # measured rates may dip (a layer ramping up): cost no less than below
        if steps[i].bps < steps[i - 1].bps:
            steps[i] = _Step(steps[i].spatial, steps[i].temporal, steps[i - 1].bps)
    return steps, start


class Allocator:
    """Shares one subscriber's bandwidth estimate among its down-tracks (module docstring)."""

    __slots__ = (
        "_probe",
        "_states",
        "pause_margin",
        "resume_hold_s",
        "resume_margin",
        "up_headroom",
        "up_hold_s",
    )

    def __init__(
        self,
        *,
        pause_margin: float = 1.0,
        resume_margin: float = 1.3,
        resume_hold_s: float = 2.0,
        up_headroom: float = 1.1,
        up_hold_s: float = 1.0,
    ) -> None:
        self.pause_margin = pause_margin
        self.resume_margin = resume_margin
        self.resume_hold_s = resume_hold_s
        self.up_headroom = up_headroom
        self.up_hold_s = up_hold_s
        self._states: dict[Hashable, _State] = {}
        self._probe: float | None = None

    @property
    def probe_bps(self) -> float | None:
        """After :meth:`allocate`: the total rate the next step up would need, None when every
        video is at its cap."""
        return self._probe

    def allocate(self, budget_bps: float, demands: Sequence[Demand], now: float) -> dict[Hashable, Allocation]:
        """One allocation per demand's key for a budget of ``budget_bps`` (module docstring)."""
        old, self._states = self._states, {}
        out: dict[Hashable, Allocation] = {}
        plans: list[_Plan] = []
        remaining = budget_bps
        for d in demands:
            if d.cap < 0:
                out[d.key] = NOT_WANTED
                continue
            if d.kind == "audio":
                bps = d.bitrate or AUDIO_BPS
                out[d.key] = Allocation(0, MAX_TEMPORAL, False, "", bps)
                remaining -= bps
                continue
            state = self._states[d.key] = old.get(d.key) or _State()
            plans.append(_Plan(d, *_ladder(d, state.spatial), state))
        plans.sort(key=lambda p: -p.demand.priority)
        if budget_bps == math.inf:
            for p in plans:
                p.idx = len(p.steps) - 1
        else:
            for p in plans:
                remaining = self._first_step(p, remaining, now)
            remaining = self._climb(plans, remaining, now)
        elastic = [p for p in plans if p.demand.elastic and p.idx >= 0]
        share = max(0.0, remaining) / len(elastic) if elastic and remaining != math.inf else 0.0
        self._probe = None
        for p in plans:
            st = p.state
            if p.idx < 0:
                out[p.demand.key] = Allocation(-1, -1, True, "bandwidth", 0.0)
                st.spatial, st.up_since = -1, None
                st.paused_since = now if st.paused_since is None else st.paused_since
            else:
                step = p.steps[p.idx]
                bps = step.bps
                if p.demand.elastic:  # with no budget to share, at what it sends
                    bps = bps + share if budget_bps != math.inf else max(bps, p.demand.bitrate)
                out[p.demand.key] = Allocation(step.spatial, step.temporal, False, "", bps)
                st.spatial, st.paused_since = step.spatial, None
                st.up_since = st.up_since if p.held else None
        total = sum(a.bps for a in out.values())
        below = next((p for p in plans if p.idx < len(p.steps) - 1), None)
        if below is not None:
            self._probe = total + self._next_need(below)
        return out

    def _first_step(self, p: _Plan, remaining: float, now: float) -> float:
        """The first pass for one video: its lowest step, or a pause; the budget left."""
        st = p.state
        if p.demand.elastic:  # held to its floor, never paused
            p.idx = 0
            return remaining - p.steps[0].bps
        if st.paused_since is None:
            margin = self.pause_margin
        elif now - st.paused_since >= self.resume_hold_s:
            margin = self.resume_margin
        else:
            return remaining  # paused too recently to resume
        for i in dict.fromkeys((p.start, 0)):  # the lowest active layer, else an inactive one below
            if p.steps[i].bps * margin <= remaining:
                p.idx = i
                return remaining - p.steps[i].bps
        return remaining

    def _climb(self, plans: list[_Plan], remaining: float, now: float) -> float:
        """The second pass: a step at a time for each video in turn while it fits; the budget left."""
        progress = True
        while progress:
            progress = False
            for p in plans:
                if p.idx < 0 or p.done:
                    continue
                if p.idx + 1 >= len(p.steps):
                    p.done = True
                    continue
                cur, step = p.steps[p.idx], p.steps[p.idx + 1]
                up = self._spatial_up(p, step)
                if (step.bps * self.up_headroom if up else step.bps) - cur.bps > remaining:
                    p.done = True
                    continue
                st = p.state
                if up and st.spatial is not None:  # above the last allocation: the budget must hold
                    if st.up_since is None:
                        st.up_since = now
                    if now - st.up_since < self.up_hold_s:
                        p.done = p.held = True
                        continue
                p.idx += 1
                remaining -= step.bps - cur.bps
                progress = True
        return remaining

    def _spatial_up(self, p: _Plan, step: _Step) -> bool:
        """``step`` enters a spatial layer above the last allocation (or the first step, if none)."""
        last = p.state.spatial
        return step.spatial > p.steps[p.idx].spatial and (last is None or step.spatial > last)

    def _next_need(self, p: _Plan) -> float:
        """What ``p``'s next step adds to the total: to resume, or to climb one step."""
        if p.idx < 0:
            return p.steps[p.start].bps * self.resume_margin
        cur, step = p.steps[p.idx], p.steps[p.idx + 1]
        return (step.bps * self.up_headroom if self._spatial_up(p, step) else step.bps) - cur.bps
