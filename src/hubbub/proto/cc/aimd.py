"""The rate a delay-based estimator allows: GCC's AIMD rate controller (draft-ietf-rmcat-gcc-02 §5.5).

Theory of operation. :class:`AimdRateControl` turns each :class:`~hubbub.proto.cc.delay.Usage`
signal and the rate that actually arrives (``incoming_bps``) into a target rate, through three
states:

- **increase** (the signal is normal): far from the last congestion (no capacity estimate yet, or
  the incoming rate has left it behind) the target grows multiplicatively, 8% per second; near it,
  additively, by about one packet per response time (RTT + 100 ms), so the link is approached
  gently where it was last found;
- **decrease** (overusing): the target drops to ``beta`` (0.85) times the incoming rate, below
  what the path carried, so the queue drains; the incoming rate at that moment feeds
  :class:`LinkCapacity`, the running estimate of where congestion sets in;
- **hold** (underusing): the queue is draining; the target stays until the signal is normal again.

An increase never takes the target above 1.5 times the incoming rate plus 10 kbit/s: a sender that
does not use its allowance does not accumulate more. Targets are clamped to ``min_bps..max_bps``.
Sans-I/O: time comes in as ``now`` (seconds); rates are bit/s.
"""

from __future__ import annotations

import enum
import math

from hubbub.proto.cc.delay import Usage

__all__ = ["AimdRateControl", "LinkCapacity"]

BETA = 0.85  # the decrease factor, of the incoming rate
INCREASE_PER_S = 1.08  # the multiplicative increase, per second
_MIN_MULTIPLICATIVE_BPS = 1000.0
_MIN_ADDITIVE_BPS_PER_S = 4000.0
_FRAME_S = 1 / 30  # the frame interval the additive step assumes
_PACKET_BITS = 1200 * 8
_RESPONSE_EXTRA_S = 0.1  # response time: the RTT plus this
_RTCP_BITS = 80 * 8  # the size of a feedback message, for the feedback interval


class _State(enum.Enum):
    HOLD = "hold"
    INCREASE = "increase"
    DECREASE = "decrease"


class LinkCapacity:
    """The incoming rate at which overuse was detected, averaged, and how much it varies (kbit/s inside)."""

    __slots__ = ("_deviation", "estimate_kbps")

    def __init__(self) -> None:
        self.estimate_kbps: float | None = None
        self._deviation = 0.4  # normalized variance

    def reset(self) -> None:
        self.estimate_kbps = None

    def _spread_kbps(self) -> float:
        return math.sqrt(self._deviation * (self.estimate_kbps or 0.0))

    def upper_bps(self) -> float:
        if self.estimate_kbps is None:
            return math.inf
        return (self.estimate_kbps + 3 * self._spread_kbps()) * 1000.0

    def lower_bps(self) -> float:
        if self.estimate_kbps is None:
            return 0.0
        return max(0.0, self.estimate_kbps - 3 * self._spread_kbps()) * 1000.0

    def on_overuse(self, incoming_bps: float, alpha: float = 0.05) -> None:
        sample = incoming_bps / 1000.0
        estimate = sample if self.estimate_kbps is None else (1 - alpha) * self.estimate_kbps + alpha * sample
        error = estimate - sample
        deviation = (1 - alpha) * self._deviation + alpha * error * error / max(estimate, 1.0)
        self._deviation = min(max(deviation, 0.4), 2.5)
        self.estimate_kbps = estimate


class AimdRateControl:
    """The delay-based target rate of one path (see the module's theory of operation)."""

    __slots__ = (
        "_incoming",
        "_last_change",
        "_state",
        "_target",
        "last_decrease",
        "link",
        "max_bps",
        "min_bps",
        "rtt_s",
    )

    def __init__(self, *, start_bps: float = 300_000, min_bps: float = 30_000, max_bps: float = 20_000_000) -> None:
        if not 0 < min_bps <= max_bps:
            raise ValueError("need 0 < min_bps <= max_bps")
        self.min_bps = min_bps
        self.max_bps = max_bps
        self.rtt_s = 0.2
        self.link = LinkCapacity()
        self.last_decrease: float | None = None  # when the target last fell
        self._target = min(max(start_bps, min_bps), max_bps)
        self._incoming: float | None = None  # the latest incoming rate given
        self._state = _State.HOLD
        self._last_change: float | None = None

    @property
    def target_bps(self) -> float:
        return self._target

    @property
    def near_capacity(self) -> bool:
        """Whether the increase is additive (a capacity estimate exists)."""
        return self.link.estimate_kbps is not None

    def set_rtt(self, rtt_s: float) -> None:
        self.rtt_s = rtt_s

    def set_estimate(self, bps: float, now: float) -> None:
        """Force the target (a start value measured elsewhere, a probe's result, a loss-based cap):
        clamped to ``min_bps..max_bps`` only, not to what arrives."""
        previous = self._target
        self._target = self._clamp(bps, None)
        self._last_change = now
        if self._target < previous:
            self.last_decrease = now

    def feedback_interval_s(self) -> float:
        """How often a receiver should report this target: a feedback message is at most 5% of it,
        between 0.2 and 1 s."""
        return min(max(_RTCP_BITS / (0.05 * self._target), 0.2), 1.0)

    def time_to_reduce_further(self, now: float, incoming_bps: float) -> bool:
        """Whether a still-overusing path should get another decrease now: a response time has
        passed since the last change, or what arrives is under half the target."""
        interval = min(max(self.rtt_s, 0.01), 0.2)
        if self._last_change is None or now - self._last_change >= interval:
            return True
        return incoming_bps < 0.5 * self._target

    def update(self, usage: Usage, incoming_bps: float | None, now: float) -> float:
        """One signal and the incoming rate over the last window (None: unknown now, the last one
        given is used); returns the new target, bit/s."""
        if incoming_bps is not None:
            self._incoming = incoming_bps
        incoming = self._incoming if self._incoming is not None else self._target
        if usage is Usage.OVERUSING:
            self._state = _State.DECREASE
        elif usage is Usage.UNDERUSING:
            self._state = _State.HOLD
        elif self._state is not _State.INCREASE:
            self._state = _State.INCREASE
            self._last_change = now  # an increase counts from the end of the hold
        target = self._target
        if self._state is _State.INCREASE:
            if incoming > self.link.upper_bps():
                self.link.reset()  # the path now carries more than where it was congested
            if target < 1.5 * incoming + 10_000:
                since = 0.0 if self._last_change is None else max(0.0, now - self._last_change)
                target += self._additive(since) if self.near_capacity else self._multiplicative(since)
            self._last_change = now
        elif self._state is _State.DECREASE:
            decreased = BETA * incoming
            if decreased > target and self.link.estimate_kbps is not None:
                decreased = BETA * self.link.estimate_kbps * 1000.0
            if decreased < target:
                target = decreased
                self.last_decrease = now
            if incoming < self.link.lower_bps():
                self.link.reset()
            self.link.on_overuse(incoming)
            self._state = _State.HOLD
            self._last_change = now
        self._target = self._clamp(target, incoming)
        return self._target

    def _multiplicative(self, since_s: float) -> float:
        alpha = math.pow(INCREASE_PER_S, min(since_s, 1.0))
        return max(self._target * (alpha - 1.0), _MIN_MULTIPLICATIVE_BPS)

    def _additive(self, since_s: float) -> float:
        frame_bits = self._target * _FRAME_S
        packets = math.ceil(frame_bits / _PACKET_BITS)
        packet_bits = frame_bits / packets if packets else 0.0
        per_s = max(packet_bits / (self.rtt_s + _RESPONSE_EXTRA_S), _MIN_ADDITIVE_BPS_PER_S)
        return per_s * since_s

    def _clamp(self, bps: float, incoming: float | None) -> float:
        if incoming is not None and bps > self._target:
            limit = 1.5 * incoming + 10_000
            if bps > limit:
                bps = max(self._target, limit)
        return min(max(bps, self.min_bps), self.max_bps)
