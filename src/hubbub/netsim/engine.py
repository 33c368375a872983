"""The impairment engine of one direction of a link: sans-I/O, on the caller's clock and random source.

Theory of operation. :meth:`Link.submit` takes a packet's size and ``now`` (seconds, any origin)
and returns its :class:`Fate`: the times at which the relay should release it (none when it is
dropped, two when it is duplicated). The stages, in order, each with its own drop reason:

1. **outage** (``outage_every_s``/``outage_s``): the last ``outage_s`` seconds of every
   ``outage_every_s`` seconds, counted from the link's ``origin``, drop everything.
2. **loss**: each packet is lost with probability ``loss``.
3. **burst** (Gilbert-Elliott, :class:`Burst`): a two-state Markov chain stepped once per packet;
   ``p`` = P(good -> bad), ``r`` = P(bad -> good); the packet is lost with ``loss_bad`` in the bad
   state and ``loss_good`` in the good one. The mean burst (bad-state run) is ``1/r`` packets.
4. **queue** (the bottleneck, ``rate_kbps``): packets are serialized one after another at the rate;
   one that finds more than ``queue_ms`` of waiting time (or ``queue_bytes`` of backlog) ahead of it
   is dropped at the tail. It leaves the bottleneck after its serialization time ``8 * size / rate``.
5. **delay** and **jitter**: ``delay_ms`` plus a normal sample of standard deviation ``jitter_ms``
   (never below zero). Without ``reorder`` a release never comes before the previous one (the
   release times stay monotonic, as behind a FIFO); with it, packets may overtake each other.
6. **duplicate**: with probability ``duplicate`` a second copy is released, with its own jitter.

Nothing here reads a clock or touches a socket; :mod:`hubbub.netsim.relay` does.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

DROP_REASONS = ("outage", "loss", "burst", "queue")


@dataclass(frozen=True, slots=True)
class Burst:
    """Gilbert-Elliott burst loss: transition probabilities per packet and loss in each state."""

    p: float  # good -> bad
    r: float  # bad -> good (mean burst length 1/r packets)
    loss_bad: float = 1.0
    loss_good: float = 0.0

    def __post_init__(self) -> None:
        for name in ("p", "r", "loss_bad", "loss_good"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"burst {name} must be between 0 and 1, not {value}")
        if self.r == 0.0:
            raise ValueError("burst r must be above 0 (the bad state would never end)")


@dataclass(frozen=True, slots=True)
class Impairment:
    """What one direction does to packets. Fractions are 0..1; the zero value is a clean wire."""

    loss: float = 0.0
    burst: Burst | None = None
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    reorder: bool = False
    duplicate: float = 0.0
    rate_kbps: float = 0.0  # 0: no bottleneck
    queue_ms: float = 0.0  # 0 with a rate: the queue bound is queue_bytes, or unbounded if that is 0 too
    queue_bytes: int = 0
    outage_every_s: float = 0.0  # 0: no outages
    outage_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        for name in ("delay_ms", "jitter_ms", "rate_kbps", "queue_ms", "queue_bytes", "outage_every_s", "outage_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.outage_s and self.outage_s >= self.outage_every_s:
            raise ValueError("outage_s must be shorter than outage_every_s")

    def with_changes(self, **changes: Any) -> Impairment:
        """A copy with some fields changed; ``burst`` may be given as a mapping of its fields."""
        burst = changes.get("burst")
        if isinstance(burst, dict):
            changes["burst"] = Burst(**burst)
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown impairment field {sorted(unknown)[0]!r}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Fate:
    """What becomes of one submitted packet: release times (sorted), or the reason it was dropped."""

    times: tuple[float, ...]
    dropped: str | None = None
    queue_delay: float = 0.0


@dataclass(slots=True)
class LinkStats:
    submitted: int = 0
    forwarded: int = 0  # packets released at least once (duplicates not counted)
    duplicated: int = 0
    bytes_forwarded: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    queue_delay_total: float = 0.0
    queue_delay_max: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        queued = self.queue_delay_total / self.forwarded if self.forwarded else 0.0
        return {
            "submitted": self.submitted,
            "forwarded": self.forwarded,
            "duplicated": self.duplicated,
            "bytes_forwarded": self.bytes_forwarded,
            "dropped": dict(self.dropped),
            "dropped_total": sum(self.dropped.values()),
            "queue_delay_ms_mean": round(queued * 1000, 3),
            "queue_delay_ms_max": round(self.queue_delay_max * 1000, 3),
        }


class Link:
    """One direction. ``origin`` is the time the outage cycle counts from; ``ordered`` forbids
    reordering whatever the impairment says (a TCP stream keeps its frames in order)."""

    def __init__(
        self, impairment: Impairment, rng: random.Random, *, origin: float = 0.0, ordered: bool = False
    ) -> None:
        self.impairment = impairment
        self.rng = rng
        self.origin = origin
        self.ordered = ordered
        self.stats = LinkStats()
        self._bad = False  # Gilbert-Elliott state
        self._busy_until = float("-inf")  # when the bottleneck finishes the last accepted packet
        self._last_release = float("-inf")

    def set(self, impairment: Impairment) -> None:
        """Change the impairment; the queue and the burst state carry over."""
        self.impairment = impairment

    @property
    def last_release(self) -> float:
        """The latest release time given so far (-inf before the first)."""
        return self._last_release

    def backlog_bytes(self, now: float) -> float:
        """Bytes still waiting in (or being serialized by) the bottleneck at ``now``."""
        rate = self.impairment.rate_kbps
        return max(0.0, self._busy_until - now) * rate * 125.0 if rate else 0.0

    def submit(self, size: int, now: float) -> Fate:
        imp = self.impairment
        self.stats.submitted += 1
        reason = self._lost(imp, now)
        if reason is not None:
            return self._drop(reason)
        departs = now
        queue_delay = 0.0
        if imp.rate_kbps:
            start = max(now, self._busy_until)
            queue_delay = start - now
            if imp.queue_ms and queue_delay * 1000.0 > imp.queue_ms:
                return self._drop("queue")
            if imp.queue_bytes and self.backlog_bytes(now) + size > imp.queue_bytes:
                return self._drop("queue")
            self._busy_until = departs = start + size * 8.0 / (imp.rate_kbps * 1000.0)
        times = [self._release(imp, departs)]
        if imp.duplicate and self.rng.random() < imp.duplicate:
            times.append(self._release(imp, departs))
            self.stats.duplicated += 1
        stats = self.stats
        stats.forwarded += 1
        stats.bytes_forwarded += size
        stats.queue_delay_total += queue_delay
        stats.queue_delay_max = max(stats.queue_delay_max, queue_delay)
        return Fate(tuple(sorted(times)), None, queue_delay)

    def _lost(self, imp: Impairment, now: float) -> str | None:
        if imp.outage_every_s and (now - self.origin) % imp.outage_every_s >= imp.outage_every_s - imp.outage_s:
            return "outage"
        if imp.loss and self.rng.random() < imp.loss:
            return "loss"
        if imp.burst is not None:
            b = imp.burst
            self._bad = (self.rng.random() >= b.r) if self._bad else (self.rng.random() < b.p)
            lose = b.loss_bad if self._bad else b.loss_good
            if lose and self.rng.random() < lose:
                return "burst"
        return None

    def _drop(self, reason: str) -> Fate:
        self.stats.dropped[reason] += 1
        return Fate((), reason)

    def _release(self, imp: Impairment, departs: float) -> float:
        late = imp.delay_ms / 1000.0
        if imp.jitter_ms:
            late = max(0.0, late + self.rng.gauss(0.0, imp.jitter_ms / 1000.0))
        at = departs + late
        if self.ordered or not imp.reorder:
            at = max(at, self._last_release)
        self._last_release = max(self._last_release, at)
        return at
