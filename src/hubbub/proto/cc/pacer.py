"""Pacing of what the SFU sends on one connection: a send queue with priorities, a pacing rate,
bounded bursts, and the probe clusters and padding the estimator asks for.

A subscriber connection's video comes in bursts (a frame is a handful of packets, a keyframe
dozens); forwarded as it comes, a keyframe leaves at the speed of the machine and overflows the
queue of the bottleneck in front of the subscriber, which the estimator then reads as congestion.
:class:`Pacer` spreads what waits at the **pacing rate** (2.5x the target, as libwebrtc's), in
bursts of at most ``burst_s`` at that rate (plus one packet), and decides the order:

1. :attr:`Priority.AUDIO` is never paced: it leaves at the next :meth:`Pacer.pop`, ahead of
   anything queued, and its bytes count against the budget of what follows;
2. :attr:`Priority.RETRANSMISSION` before new video (the receiver is waiting for those);
3. :attr:`Priority.VIDEO`, first in first out across the connection's tracks;
4. :attr:`Priority.PADDING` (pushed padding) only when nothing else waits.

**The queue is never dropped.** When the oldest packet has waited so long that the queue could not
drain within ``queue_time_limit_s`` at the pacing rate, the pacer sends faster (the rate needed to
drain it in the time left, as libwebrtc's pacer does): a hole in a frame costs the subscriber a
NACK round trip or a keyframe, which is worse than a late packet. A queue that stays long is a
sign the allocator's layers do not fit the estimate; :meth:`Pacer.queue_delay` tells it.

**Padding** is made only when asked for: at ``padding_bps`` (see :meth:`Pacer.set_rates`) when
nothing else waits, and for a probe cluster that has no media to send. The pacer calls the
``padding`` factory given to it with the bytes it wants; the factory returns one packet (an
item and its size, typically an RTX copy of a recent packet or a padding-only packet) or None.

**Probing**: :meth:`Pacer.probe` queues a :class:`hubbub.proto.cc.probe.ProbeCluster`. While a
cluster runs, pacing gives way to the cluster's rate: whatever waits (media first, then padding)
leaves on the cluster's schedule until the cluster has sent its packets and bytes. Every item of
one :meth:`Pacer.pop` belongs to the same cluster or none: :attr:`Pacer.pop_cluster` names it, and
the send path passes it to the estimator with each of those packets
(:meth:`hubbub.proto.cc.sendside.SendSideEstimator.on_sent`).

Driving it from a send path::

    if pacer.admit(len(packet), Priority.VIDEO, now):  # the queue is empty and the budget allows
        send(packet, None)
    else:
        pacer.push(packet, len(packet), Priority.VIDEO, now)
    for item in pacer.pop(now):       # cheap when nothing may go
        send(item, pacer.pop_cluster)  # number it (transport-wide seq) here, in send order
    wake = pacer.next_wakeup(now)      # None: nothing to do until the next push

Items are opaque to the pacer (bytes, or whatever the send path queues); sizes are bytes on the
wire as the estimator counts them. Per packet: O(1). Sans-I/O: time comes in as ``now``.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from hubbub.proto.cc.probe import ProbeCluster

__all__ = ["PACING_FACTOR", "Pacer", "Priority"]

PACING_FACTOR = 2.5  # pacing rate over the target (libwebrtc's kDefaultPaceMultiplier)
_MIN_BURST_BYTES = 1500  # a burst always allows one full packet
_MAX_DEBT_S = 0.5  # debt is forgotten beyond this much time at the pacing rate
_PROBE_SLACK_S = 0.001  # a probe packet due this soon goes now
_MAX_PENDING_CLUSTERS = 8
_MIN_DRAIN_S = 0.02  # the least time left for draining a queue past its limit

T = TypeVar("T")


class Priority(enum.IntEnum):
    """Send order, most urgent first."""

    AUDIO = 0
    RETRANSMISSION = 1
    VIDEO = 2
    PADDING = 3


class Pacer(Generic[T]):
    """The send queue of one connection. See the module docstring for the rules.

    Counters: :attr:`sent_packets`/:attr:`sent_bytes` (everything popped, padding included),
    :attr:`padding_packets`/:attr:`padding_bytes` (made by the factory), :attr:`probe_packets`,
    :attr:`probes_done`, :attr:`probes_aborted` (no media and no padding to send),
    :attr:`queued_packets`/:attr:`queued_bytes` (waiting now, audio included).
    """

    __slots__ = (
        "_burst",
        "_debt",
        "_last",
        "_make_padding",
        "_paced",
        "_pad_burst",
        "_pad_debt",
        "_pending",
        "_probe",
        "_probe_bytes",
        "_probe_packets",
        "_probe_start",
        "_queues",
        "burst_s",
        "pacing_bps",
        "padding_bps",
        "padding_bytes",
        "padding_packets",
        "pop_cluster",
        "probe_packets",
        "probes_aborted",
        "probes_done",
        "queue_time_limit_s",
        "queued_bytes",
        "queued_packets",
        "sent_bytes",
        "sent_packets",
    )

    def __init__(
        self,
        pacing_bps: float = PACING_FACTOR * 300_000,
        *,
        padding_bps: float = 0.0,
        burst_s: float = 0.01,
        queue_time_limit_s: float = 2.0,
        padding: Callable[[int], tuple[T, int] | None] | None = None,
    ) -> None:
        if burst_s <= 0 or queue_time_limit_s <= 0:
            raise ValueError("burst_s and queue_time_limit_s must be positive")
        self.burst_s = burst_s
        self.queue_time_limit_s = queue_time_limit_s
        self._make_padding = padding
        # one deque per priority: (item, size, enqueued at)
        self._queues: tuple[deque[tuple[T, int, float]], ...] = tuple(deque() for _ in Priority)
        self._paced = self._queues[1:]  # what the pacing budget releases, in order
        self._debt = 0.0  # bytes sent and not yet paid for at the pacing rate
        self._pad_debt = 0.0  # the same at the padding rate
        self._last = float("-inf")
        self._pending: deque[ProbeCluster] = deque()
        self._probe: ProbeCluster | None = None
        self._probe_start = 0.0
        self._probe_bytes = 0
        self._probe_packets = 0
        self.pop_cluster: int | None = None
        self.sent_packets = self.sent_bytes = 0
        self.padding_packets = self.padding_bytes = 0
        self.probe_packets = self.probes_done = self.probes_aborted = 0
        self.queued_packets = self.queued_bytes = 0
        self.pacing_bps = self.padding_bps = 0.0
        self._burst = self._pad_burst = float(_MIN_BURST_BYTES)
        self.set_rates(pacing_bps, padding_bps)

    # -- configuration -------------------------------------------------------------------------

    def set_rates(self, pacing_bps: float, padding_bps: float | None = None) -> None:
        """The pacing rate (usually :data:`PACING_FACTOR` x the target) and the padding rate
        (0: no padding; otherwise the total rate padding fills up to when nothing waits; None:
        as it was)."""
        if pacing_bps <= 0:
            raise ValueError("pacing_bps must be positive")
        self.pacing_bps = float(pacing_bps)
        if padding_bps is not None:
            self.padding_bps = max(0.0, float(padding_bps))
        self._burst = max(self.pacing_bps * self.burst_s / 8.0, _MIN_BURST_BYTES)
        self._pad_burst = max(self.padding_bps * self.burst_s / 8.0, _MIN_BURST_BYTES)

    def probe(self, cluster: ProbeCluster) -> None:
        """Send ``cluster`` next (after the clusters already queued); it starts at the next
        :meth:`pop`."""
        if len(self._pending) < _MAX_PENDING_CLUSTERS:
            self._pending.append(cluster)

    # -- the queue -----------------------------------------------------------------------------

    def push(self, item: T, size: int, priority: Priority, now: float) -> None:
        """Queue ``item`` (``size`` bytes). Call :meth:`pop` after (at once, or after a batch of
        pushes): a packet that may go now leaves only through it."""
        self._queues[priority].append((item, size, now))
        self.queued_packets += 1
        self.queued_bytes += size

    def admit(self, size: int, priority: Priority, now: float) -> bool:
        """The fast path: whether a packet of ``size`` bytes may go at once without being
        queued (nothing waits, no probe runs, and the budget allows it, or it is audio); if so it
        is counted as sent and the caller sends it, otherwise the caller :meth:`push` es it. The
        same rules as a push and a pop, for a fraction of the cost while the queue is empty."""
        if self.queued_packets or self._probe is not None or self._pending:
            return False
        if now > self._last:  # _advance, for an empty queue
            elapsed = now - self._last
            self._last = now
            if self._debt:
                debt = self._debt - self.pacing_bps * elapsed / 8.0
                self._debt = debt if debt > 0 else 0.0
            if self._pad_debt:
                debt = self._pad_debt - self.padding_bps * elapsed / 8.0
                self._pad_debt = debt if debt > 0 else 0.0
        if self._debt >= self._burst and priority is not Priority.AUDIO:
            return False
        self._debt += size
        self._pad_debt += size
        self.sent_packets += 1
        self.sent_bytes += size
        return True

    def queue_delay(self, now: float) -> float:
        """How long the oldest packet still waiting (audio aside) has waited, seconds."""
        oldest = self._oldest()
        return 0.0 if oldest is None else max(0.0, now - oldest)

    def expected_queue_s(self) -> float:
        """How long what waits takes to leave at the pacing rate, seconds."""
        return self.queued_bytes * 8.0 / self.pacing_bps

    def _oldest(self) -> float | None:
        oldest: float | None = None
        for q in self._queues[1:]:
            if q and (oldest is None or q[0][2] < oldest):
                oldest = q[0][2]
        return oldest

    def _rate(self, now: float) -> float:
        """The pacing rate, raised when the queue would not drain within its time limit."""
        rate = self.pacing_bps
        if self.queued_bytes:
            oldest = self._oldest()
            if oldest is not None:
                left = max(self.queue_time_limit_s - (now - oldest), _MIN_DRAIN_S)
                need = self.queued_bytes * 8.0 / left
                if need > rate:
                    rate = need
        return rate

    def _advance(self, now: float) -> None:
        elapsed = now - self._last
        if elapsed <= 0:
            return
        self._last = now
        if self._debt:
            rate = self.pacing_bps
            if self.queued_bytes * 8.0 > rate * _MIN_DRAIN_S:  # a shorter queue never needs more
                rate = self._rate(now)
            debt = self._debt - rate * elapsed / 8.0
            cap = self.pacing_bps * _MAX_DEBT_S / 8.0
            self._debt = 0.0 if debt < 0 else min(debt, cap)
        if self._pad_debt:
            debt = self._pad_debt - self.padding_bps * elapsed / 8.0
            self._pad_debt = debt if debt > 0 else 0.0

    def pop(self, now: float) -> list[T]:
        """The items that may go now, in send order (often none). :attr:`pop_cluster` says which
        probe cluster all of them belong to (None: no probe)."""
        self._advance(now)
        self.pop_cluster = None
        out: list[T] = []
        audio = self._queues[0]
        if audio:
            sent = 0
            while audio:
                item, size, _ = audio.popleft()
                out.append(item)
                sent += size
            n = len(out)
            self.queued_packets -= n
            self.queued_bytes -= sent
            self.sent_packets += n
            self.sent_bytes += sent
            self._debt += sent
            self._pad_debt += sent
        else:
            sent = 0
        if self._probe is not None or self._pending:
            self._pop_probe(now, out, sent)
        elif self.queued_packets:
            self._pop_paced(out)
        elif self.padding_bps > 0 and self._make_padding is not None:
            self._pop_padding(out)
        return out

    def _take(self, q: deque[tuple[T, int, float]], out: list[T]) -> int:
        item, size, _ = q.popleft()
        out.append(item)
        self.queued_packets -= 1
        self.queued_bytes -= size
        self.sent_packets += 1
        self.sent_bytes += size
        self._debt += size
        self._pad_debt += size
        return size

    def _pop_paced(self, out: list[T]) -> None:
        burst = self._burst
        debt = self._debt
        if debt >= burst:
            return
        sent = n = 0
        append = out.append
        for q in self._paced:
            while q:
                item, size, _ = q.popleft()
                append(item)
                sent += size
                n += 1
                debt += size
                if debt >= burst:
                    break
            if debt >= burst:
                break
        self._debt = debt
        self._pad_debt += sent
        self.queued_packets -= n
        self.queued_bytes -= sent
        self.sent_packets += n
        self.sent_bytes += sent
        if debt < burst and self.padding_bps > 0 and self._make_padding is not None:
            self._pop_padding(out)

    def _pad(self, want: int, out: list[T]) -> int:
        assert self._make_padding is not None
        made = self._make_padding(max(want, 1))
        if made is None:
            return 0
        item, size = made
        if size <= 0:
            return 0
        out.append(item)
        self.sent_packets += 1
        self.sent_bytes += size
        self.padding_packets += 1
        self.padding_bytes += size
        self._debt += size
        self._pad_debt += size
        return size

    def _pop_padding(self, out: list[T]) -> None:
        burst, pad_burst = self._burst, self._pad_burst
        while self._pad_debt < pad_burst and self._debt < burst:
            if not self._pad(int(pad_burst - self._pad_debt), out):
                return

    def _pop_probe(self, now: float, out: list[T], audio_bytes: int) -> None:
        cluster = self._probe
        if cluster is None:
            cluster = self._probe = self._pending.popleft()
            self._probe_start = now
            self._probe_bytes = self._probe_packets = 0
        self.pop_cluster = cluster.id
        self._probe_bytes += audio_bytes
        self._probe_packets += len(out)
        queues = self._queues
        horizon = now + _PROBE_SLACK_S
        starved = False
        while self._probe_start + self._probe_bytes * 8.0 / cluster.bps <= horizon:
            if self._probe_packets >= cluster.min_packets and self._probe_bytes >= cluster.min_bytes:
                break
            q = queues[1] or queues[2] or queues[3]
            if q:
                size = self._take(q, out)
            else:
                due = int((horizon - self._probe_start) * cluster.bps / 8.0) - self._probe_bytes
                size = self._pad(due, out) if self._make_padding is not None else 0
                if not size:
                    starved = True
                    break
            self._probe_bytes += size
            self._probe_packets += 1
        self.probe_packets += len(out)
        if self._probe_packets >= cluster.min_packets and self._probe_bytes >= cluster.min_bytes:
            self._probe = None
            self.probes_done += 1
        elif starved and not out:  # nothing to send for it: give it up rather than stall
            self._probe = None
            self.probes_aborted += 1
            self.pop_cluster = None

    def next_wakeup(self, now: float) -> float | None:
        """When :meth:`pop` may next have something to send (``now`` or later), or None while
        nothing waits and no padding is wanted (the next :meth:`push` changes that)."""
        if self._queues[Priority.AUDIO] or (self._pending and self._probe is None):
            return now
        cluster = self._probe
        if cluster is not None:
            return max(now, self._probe_start + self._probe_bytes * 8.0 / cluster.bps)
        if self.queued_packets:
            # wake when half a burst is paid off, so each wake sends about half a burst
            if self._debt < self._burst:
                return now
            excess = self._debt - self._burst / 2.0
            return max(now, self._last + excess * 8.0 / self._rate(now))
        if self.padding_bps > 0 and self._make_padding is not None:
            excess = max(self._debt - self._burst / 2.0, 0.0) * 8.0 / self.pacing_bps
            pad_excess = max(self._pad_debt - self._pad_burst / 2.0, 0.0) * 8.0 / self.padding_bps
            return max(now, self._last + max(excess, pad_excess))
        return None
