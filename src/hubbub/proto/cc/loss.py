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
  of losses reported over several feedback messages cuts once; and no higher than the
  acknowledged rate when the owner gives it (a path losing that much is full: what it delivered
  is what it carries, as libwebrtc's loss-based estimation bounds it; without this a rate far
  above the bottleneck, whose full queue no longer grows and so shows no delay trend, would take
  many cuts of at most half the loss to come down);
- in between: hold.

The estimate lives within ``[min_bps, max_bps]``. The owner caps it with :meth:`cap` at the
combined target after each update (as libwebrtc's send-side estimation does): without that, a
lossless link would let it climb to ``max_bps`` while the delay-based half holds the rate down,
and the first real losses would then take many steps to matter. Sans-I/O: time comes in as
``now`` (seconds); rates are bit/s.
"""

from __future__ import annotations

from collections import deque

__all__ = ["HIGH_LOSS", "LOW_LOSS", "MIN_PACKETS", "WINDOW_S", "LossBasedEstimator"]

LOW_LOSS = 0.02  # §6: below this, increase
HIGH_LOSS = 0.10  # §6: above this, decrease
MIN_PACKETS = 20  # a pool holds at least this many packets (libwebrtc: 20)
WINDOW_S = 1.0  # the loss fraction is taken over the pools of this long (the latest one at least)
_INCREASE = 1.08  # §6 says 5%; libwebrtc uses 8% per step
_INCREASE_INTERVAL = 0.2  # seconds (+ RTT) between increases
_DECREASE_INTERVAL = 0.3  # seconds (+ RTT) between decreases (libwebrtc's kBweDecreaseInterval)
_MAX_POOL_S = 2.0  # counts older than this are reported even when fewer than MIN_PACKETS


class LossBasedEstimator:
    """GCC's loss-based controller for one connection.

    Call :meth:`on_packets` with each feedback message's counts; read :attr:`estimate_bps`.
    :attr:`loss` is the latest loss fraction taken (None before the first), :attr:`updates`
    how many fractions were taken.
    """

    __slots__ = (
        "_last_decrease",
        "_last_increase",
        "_lost",
        "_pool_start",
        "_pools",
        "_total",
        "_window_lost",
        "_window_total",
        "estimate_bps",
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
        self.updates = 0
        self._lost = 0
        self._total = 0
        self._pool_start = 0.0
        self._pools: deque[tuple[float, int, int]] = deque()  # (when, lost, total) over WINDOW_S
        self._window_lost = 0
        self._window_total = 0
        self._last_increase = float("-inf")
        self._last_decrease = float("-inf")

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

    def on_packets(self, lost: int, total: int, now: float, acked_bps: float | None = None) -> float:
        """One feedback message's counts: ``total`` packets reported, ``lost`` of them lost;
        ``acked_bps``: the rate the path delivered lately, if known.

        Counts pool until they cover :data:`MIN_PACKETS` packets (or :data:`_MAX_POOL_S` has
        passed since the pool's first count); then the loss fraction over the last
        :data:`WINDOW_S` of pools moves the estimate. Returns the estimate."""
        if total <= 0:
            return self.estimate_bps
        if self._total == 0:
            self._pool_start = now
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
            self.on_loss(self._window_lost / self._window_total, now, acked_bps)
        return self.estimate_bps

    def on_loss(self, fraction: float, now: float, acked_bps: float | None = None) -> float:
        """Apply one loss fraction (0..1) taken over enough packets (``acked_bps`` as for
        :meth:`on_packets`); returns the estimate."""
        self.loss = fraction
        self.updates += 1
        if fraction < LOW_LOSS:
            if now - self._last_increase >= _INCREASE_INTERVAL + self.rtt_s:
                self._last_increase = now
                # + 1 kbit/s so a rate near the floor still moves (as libwebrtc does)
                self.estimate_bps = min(self.estimate_bps * _INCREASE + 1000.0, self.max_bps)
        elif fraction > HIGH_LOSS and now - self._last_decrease >= _DECREASE_INTERVAL + self.rtt_s:
            self._last_decrease = now
            self._last_increase = now  # no increase straight after a cut
            decreased = self.estimate_bps * (1.0 - 0.5 * fraction)
            if acked_bps is not None and acked_bps < decreased:
                decreased = acked_bps
            self.estimate_bps = max(decreased, self.min_bps)
        return self.estimate_bps
