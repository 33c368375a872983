"""Dynacast: which simulcast layers a publisher should encode, from what its subscribers want.

Theory of operation
-------------------
Per simulcast up-track the caller reports, whenever a subscription or a subscriber's wish changes
and on every tick, whether anyone subscribes and the highest spatial layer any subscriber wants
(from its wishes: quality, rendered size, visibility; never from bandwidth, which only pauses or
lowers what one subscriber receives). Each layer remembers when it was last wanted:

* a layer is on at once when it is wanted;
* the lowest layer counts as wanted while anyone subscribes (even when every subscriber hides
  the video), so a subscriber that shows it again gets a picture without waiting for an encoder;
* a layer turns off only after nobody has wanted it for :data:`HOLD` seconds (a subscriber that
  resizes a window, or a short gap between subscriptions, does not make the publisher's encoder
  stop and restart), and every layer is off only when nobody has subscribed for that long.

:meth:`Dynacast.update` returns the layers' states when they differ from what the publisher was
last told (then the caller sends the publisher a ``video_layers`` event), else None. A new track
starts with every layer on: that is what a publisher encodes before it is told anything.
Time is the caller's (``now``, seconds on any monotonic clock); nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CHECK_INTERVAL", "HOLD", "Dynacast"]

HOLD = 5.0  # seconds a layer nobody wants stays on
CHECK_INTERVAL = 0.5  # seconds between the tick's re-evaluations (``Dynacast.due``)


@dataclass(slots=True)
class _Track:
    rids: tuple[str, ...]
    wanted_at: list[float]  # per layer, when it was last wanted
    told: tuple[bool, ...]  # what the publisher was last told (or encodes unasked: all on)


class Dynacast:
    """The layers each simulcast publisher should encode (module docstring)."""

    def __init__(self, hold: float = HOLD) -> None:
        self.hold = hold
        self._tracks: dict[str, _Track] = {}
        self._next_check = 0.0

    def update(
        self, track_sid: str, rids: Sequence[str], *, subscribed: bool, highest: int, now: float
    ) -> tuple[tuple[str, bool], ...] | None:
        """Report ``track_sid``'s demand: whether anyone subscribes and the highest layer wanted
        (-1: none, every subscriber hides it). The ``(rid, active)`` of every layer, lowest first,
        when the publisher must be told of a change; None when it need not."""
        track = self._tracks.get(track_sid)
        if track is None or track.rids != tuple(rids):
            track = _Track(tuple(rids), [now] * len(rids), (True,) * len(rids))
            self._tracks[track_sid] = track
        if subscribed:
            for i in range(min(max(highest, 0), len(rids) - 1) + 1):
                track.wanted_at[i] = now
        states = tuple(now - at < self.hold for at in track.wanted_at)
        if states == track.told:
            return None
        track.told = states
        return tuple(zip(track.rids, states, strict=True))

    def due(self, now: float) -> bool:
        """Whether the tick should re-evaluate every track now (every :data:`CHECK_INTERVAL`)."""
        if now < self._next_check:
            return False
        self._next_check = now + CHECK_INTERVAL
        return True

    def forget(self, track_sid: str) -> None:
        """The track was unpublished: a new one of that sid starts with every layer on."""
        self._tracks.pop(track_sid, None)
