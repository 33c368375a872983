"""The loss-based half of a send-side estimate: the rate one connection can carry, judged by the
packets its feedback reports lost (draft-ietf-rmcat-gcc-02 §6).

:class:`LossBasedEstimator` takes the counts of each transport-cc feedback (packets reported
received and lost) and pools them until a pool means something (at least :data:`MIN_PACKETS`
packets). At each full pool it takes the loss fraction over the pools of the last
:data:`WINDOW_S` (about a receiver report's interval: a fraction over 20 packets alone is too
noisy, 5% random loss gives none in a quarter of them) and moves its estimate by GCC's rule:

- under 2% lost: up by 8%, at most once per 200 ms + RTT (the network is not losing what it is
  given; the delay-based half is what keeps the rate below the bottleneck's queue);
- over 10% lost: down to ``rate * (1 - 0.5 * loss)``, at most once per 300 ms + RTT, so one burst
  of losses reported over several feedback messages cuts once;
- in between: hold.

**Loss that is not congestion.** A bottleneck drops what overflows its queue, so congestion loss
comes with a full queue. Loss on a path whose queue is empty (a radio link, a lossy hop) does not
fall when the rate does, and GCC's rule would cut a 10%-lossy path to its floor for nothing
(libwebrtc's newer loss-based estimator models this "inherent" loss too). When the owner says how
much queueing delay each feedback's packets saw (``queue_s``), the loss fraction of pools seen
with an empty queue (under :data:`LOW_QUEUE_S`, and at most half the packets: an outage's
losses are not the path's habit) is learnt as the path's inherent loss, and the rule above
applies to the loss in excess of it. Without ``queue_s`` nothing is learnt: plain GCC. A policer
(a rate limit that drops without queueing) also loses with an empty queue, but more as the rate
grows: once inherent loss is learnt, packets sent 25% faster must see at least 5% more delivered;
otherwise (a policer, or a bottleneck on a lossy path) only the loss seen at the lower rate stays
the path's own, the rest counts as congestion, and nothing is learnt for 3 s (libwebrtc's
LossBasedBweV2 fits loss against the rate sent in the same spirit).

**Cuts under congestion go no higher than the acknowledged rate** when the owner gives it and the
queue is full (or unknown): a path losing that much is full, what it delivered is what it carries.
Without this a rate far above the bottleneck, whose full queue no longer grows and so shows no
delay trend, would take many cuts of at most half the loss to come down.

The estimate lives within ``[min_bps, max_bps]``. The owner caps it with :meth:`cap` at the
combined target after each update (as libwebrtc's send-side estimation does): without that, a
lossless link would let it climb to ``max_bps`` while the delay-based half holds the rate down,
and the first real losses would then take many steps to matter. Sans-I/O: time comes in as
``now`` (seconds); rates are bit/s.
"""

from __future__ import annotations

from collections import deque

__all__ = ["HIGH_LOSS", "LOW_LOSS", "LOW_QUEUE_S", "MIN_PACKETS", "WINDOW_S", "LossBasedEstimator"]

LOW_LOSS = 0.02  # §6: below this, increase
HIGH_LOSS = 0.10  # §6: above this, decrease
MIN_PACKETS = 20  # a pool holds at least this many packets (libwebrtc: 20)
WINDOW_S = 1.0  # the loss fraction is taken over the pools of this long (the latest one at least)
_INCREASE = 1.08  # §6 says 5%; libwebrtc uses 8% per step
_INCREASE_INTERVAL = 0.2  # seconds (+ RTT) between increases
_DECREASE_INTERVAL = 0.3  # seconds (+ RTT) between decreases (libwebrtc's kBweDecreaseInterval)
_MAX_POOL_S = 2.0  # counts older than this are reported even when fewer than MIN_PACKETS
LOW_QUEUE_S = 0.01  # queueing delay under this: the queue is empty, loss may be the path's own
_INHERENT_ALPHA = 0.25  # how fast the inherent loss follows the loss seen with an empty queue
_MAX_INHERENT = 0.5  # a fraction above this (an outage's packets reported at once) teaches nothing
_RATE_CHECK = 1.25  # with inherent loss learnt, packets sent this much faster ...
_DELIVERED_GROWTH = 1.05  # ... must see this much more delivered, or the loss is a rate limit
_LIMITED_HOLD_S = 3.0  # after which nothing is learnt for this long


class LossBasedEstimator:
    """GCC's loss-based controller for one connection.

    Call :meth:`on_packets` with each feedback message's counts; read :attr:`estimate_bps`.
    :attr:`loss` is the latest loss fraction taken (None before the first), :attr:`inherent_loss`
    the part of it learnt as the path's own, :attr:`updates` how many fractions were taken.
    """

    __slots__ = (
        "_last_decrease",
        "_last_increase",
        "_limited_until",
        "_lost",
        "_pool_queue",
        "_pool_start",
        "_pools",
        "_ref",
        "_total",
        "_window_lost",
        "_window_total",
        "estimate_bps",
        "inherent_loss",
        "loss",
        "max_bps",
        "min_bps",
        "rtt_s",
        "updates",
    )

    def __init__(self, *, start_bps: float = 300_000, min_bps: float = 30_000, max_bps: float = 20_000_000) -> None:
        if not 0 < min_bps <= max_bps:
            raise ValueError("need 0 < min_bps <= max_bps")
        self.min_bps = float(min_bps)
        self.max_bps = float(max_bps)
        self.estimate_bps = min(max(float(start_bps), self.min_bps), self.max_bps)
        self.rtt_s = 0.1  # until the owner says
        self.loss: float | None = None
        self.inherent_loss = 0.0
        self._pool_queue: float | None = None  # the longest queueing delay the pool saw
        self.updates = 0
        self._lost = 0
        self._total = 0
        self._pool_start = 0.0
        self._pools: deque[tuple[float, int, int]] = deque()  # (when, lost, total) over WINDOW_S
        self._window_lost = 0
        self._window_total = 0
        self._last_increase = float("-inf")
        self._last_decrease = float("-inf")
        self._ref: tuple[float, float, float] | None = None  # (packets/s sent, delivered, loss) before
        self._limited_until = float("-inf")

    def set_rtt(self, rtt_s: float) -> None:
        """The connection's round-trip time (spaces the steps)."""
        self.rtt_s = max(0.0, rtt_s)

    def set_estimate(self, bps: float, now: float) -> None:
        """Start again from ``bps`` (a probe result, an initial rate), within the bounds."""
        self.estimate_bps = min(max(bps, self.min_bps), self.max_bps)
        self._last_increase = now

    def cap(self, bps: float) -> None:
        """Keep the estimate at or below ``bps`` (the combined target), never below ``min_bps``."""
        if self.estimate_bps > bps:
            self.estimate_bps = max(bps, self.min_bps)

    def on_packets(
        self, lost: int, total: int, now: float, acked_bps: float | None = None, queue_s: float | None = None
    ) -> float:
        """One feedback message's counts: ``total`` packets reported, ``lost`` of them lost;
        ``acked_bps``: the rate the path delivered lately; ``queue_s``: the queueing delay the
        message's packets saw (their one-way delay over the path's lowest), if known.

        Counts pool until they cover :data:`MIN_PACKETS` packets (or :data:`_MAX_POOL_S` has
        passed since the pool's first count); then the loss fraction over the last
        :data:`WINDOW_S` of pools moves the estimate. Returns the estimate."""
        if total <= 0:
            return self.estimate_bps
        if self._total == 0:
            self._pool_start = now
            self._pool_queue = queue_s
        elif queue_s is None or self._pool_queue is None:
            self._pool_queue = None
        elif queue_s > self._pool_queue:
            self._pool_queue = queue_s
        self._lost += max(0, min(lost, total))
        self._total += total
        if self._total >= MIN_PACKETS or now - self._pool_start >= _MAX_POOL_S:
            pools = self._pools
            pools.append((now, self._lost, self._total))
            self._window_lost += self._lost
            self._window_total += self._total
            self._lost = self._total = 0
            while len(pools) > 1 and pools[0][0] < now - WINDOW_S:
                _, old_lost, old_total = pools.popleft()
                self._window_lost -= old_lost
                self._window_total -= old_total
            fraction = self._window_lost / self._window_total
            congested = self._pool_queue is None or self._pool_queue >= LOW_QUEUE_S
            if not congested and fraction <= _MAX_INHERENT and now >= self._limited_until:
                self.inherent_loss += _INHERENT_ALPHA * (fraction - self.inherent_loss)
            if self.inherent_loss >= LOW_LOSS:
                span = now - pools[0][0]  # the packets after the oldest pool came within this
                if span >= 0.5 * WINDOW_S:
                    sent = self._window_total - pools[0][2]
                    delivered = sent - (self._window_lost - pools[0][1])
                    if self._rate_limited(sent / span, delivered / span, fraction, now):
                        congested = True
            self.on_loss(fraction, now, acked_bps if congested else None)
        return self.estimate_bps

    def _rate_limited(self, sent_pps: float, delivered_pps: float, fraction: float, now: float) -> bool:
        """Whether loss taken as the path's own has grown into a rate limit: the packets sent per
        second rose by :data:`_RATE_CHECK` and those delivered did not follow (loss of the path's
        own scales with the rate; a bottleneck or a policer delivers its rate whatever is sent).
        If so only the loss seen at the lower rate stays the path's own, nothing is learnt for
        :data:`_LIMITED_HOLD_S`, and the rest counts as congestion."""
        ref = self._ref
        if ref is None or sent_pps < ref[0]:
            self._ref = (sent_pps, delivered_pps, fraction)  # measure any rise from the lowest
            return False
        if sent_pps < _RATE_CHECK * ref[0]:
            return False
        if delivered_pps >= _DELIVERED_GROWTH * ref[1]:
            self._ref = (sent_pps, delivered_pps, fraction)  # it delivered more: the loss is the path's
            return False
        self._ref = None
        self.inherent_loss = min(self.inherent_loss, ref[2])
        self._limited_until = now + _LIMITED_HOLD_S
        return True

    def on_loss(self, fraction: float, now: float, acked_bps: float | None = None) -> float:
        """Apply one loss fraction (0..1) taken over enough packets: the part of it above
        :attr:`inherent_loss` moves the estimate; a cut goes no higher than the rate that
        delivers ``acked_bps`` through the inherent loss, when given. Returns the estimate."""
        self.loss = fraction
        self.updates += 1
        inherent = self.inherent_loss
        excess = max(0.0, (fraction - inherent) / (1.0 - inherent)) if inherent < 0.99 else 0.0
        if excess < LOW_LOSS:
            if now - self._last_increase >= _INCREASE_INTERVAL + self.rtt_s:
                self._last_increase = now
                # + 1 kbit/s so a rate near the floor still moves (as libwebrtc does)
                self.estimate_bps = min(self.estimate_bps * _INCREASE + 1000.0, self.max_bps)
        elif excess > HIGH_LOSS and now - self._last_decrease >= _DECREASE_INTERVAL + self.rtt_s:
            self._last_decrease = now
            self._last_increase = now  # no increase straight after a cut
            decreased = self.estimate_bps * (1.0 - 0.5 * excess)
            if acked_bps is not None:
                carried = acked_bps / (1.0 - inherent) if inherent < 0.99 else acked_bps  # as sent
                if carried < decreased:
                    decreased = carried
            self.estimate_bps = max(decreased, self.min_bps)
        return self.estimate_bps
