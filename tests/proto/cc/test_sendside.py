"""The send-side estimate against a simulated bottleneck: a sender whose encoder follows the
estimate, a pacer, a link with a rate, a drop-tail queue, a propagation delay and random loss, and
a receiver that reports arrivals every 50 ms on its own clock, as transport-cc feedback on the wire.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.proto.cc.delay import Usage
from hubbub.proto.cc.pacer import Pacer, Priority
from hubbub.proto.cc.sendside import SendSideEstimator
from hubbub.proto.rtcp_feedback import TransportCc

MTU = 1200
TICK = 0.001
FPS = 30
FEEDBACK_S = 0.05
RECEIVER_CLOCK = 1234.5  # the receiver's clock runs this far ahead of the sender's


@dataclass
class Link:
    """One direction of a bottleneck: ``rate(now)`` bit/s, a queue of at most ``queue_s`` at that
    rate (drop tail), ``delay_s`` of propagation plus a normal ``jitter_s`` (never reordering),
    ``loss`` random loss before the queue, and everything dropped in the last ``outage_s`` of
    every ``outage_every_s`` (as the network lab's engine does)."""

    rate: Callable[[float], float]
    delay_s: float = 0.02
    queue_s: float = 0.25
    loss: float = 0.0
    jitter_s: float = 0.0
    outage_every_s: float = 0.0
    outage_s: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    free_at: float = 0.0
    last_arrival: float = 0.0
    dropped: int = 0

    def send(self, size: int, now: float) -> float | None:
        """When a packet sent now arrives, or None (lost)."""
        if self.outage_every_s and now % self.outage_every_s >= self.outage_every_s - self.outage_s:
            return None
        if self.loss and self.rng.random() < self.loss:
            return None
        start = max(now, self.free_at)
        if start - now > self.queue_s:
            self.dropped += 1
            return None
        self.free_at = start + size * 8 / self.rate(now)
        late = self.delay_s
        if self.jitter_s:
            late = max(0.0, late + self.rng.gauss(0.0, self.jitter_s))
        self.last_arrival = max(self.free_at + late, self.last_arrival)
        return self.last_arrival


@dataclass
class Run:
    est: SendSideEstimator
    samples: list[tuple[float, float]]  # (now, target) every 50 ms
    delivered: list[tuple[float, int, float]]  # (arrival, size, one-way delay)

    def target_at(self, t: float) -> float:
        return next(v for u, v in self.samples if u >= t)

    def first_time(self, pred: Callable[[float], bool], after: float = 0.0) -> float | None:
        return next((u for u, v in self.samples if u >= after and pred(v)), None)

    def mean(self, t0: float, t1: float) -> float:
        vals = [v for u, v in self.samples if t0 <= u < t1]
        return sum(vals) / len(vals)

    def received_bps(self, t0: float, t1: float) -> float:
        return sum(s for t, s, _ in self.delivered if t0 <= t < t1) * 8 / (t1 - t0)

    def delay(self, t0: float, t1: float) -> float:
        """The mean one-way delay of what arrived between t0 and t1 (propagation included)."""
        delays = [d for t, _, d in self.delivered if t0 <= t < t1]
        return sum(delays) / len(delays)


def simulate(
    link: Link,
    seconds: float,
    *,
    start_bps: float = 300_000,
    source_max_bps: float = 10_000_000,
    allocator: Callable[[float, SendSideEstimator], None] | None = None,
    initial_probing: bool = True,
    feedback_hold_s: float = 0.0,
) -> Run:
    """Run the loop for ``seconds``: the encoder makes frames at the target (up to
    ``source_max_bps``), the pacer sends them, the link carries them, the receiver reports them;
    with ``feedback_hold_s`` the way back holds the reports and releases them together at each
    multiple of it."""
    est = SendSideEstimator(start_bps=start_bps)

    def padding(size: int) -> tuple[int, int]:
        return (MTU, MTU)

    pacer: Pacer[int] = Pacer(est.pacing_bps, padding=padding)
    if initial_probing:
        est.start(0.0)
    for c in est.take_probes():
        pacer.probe(c)
    seq = 0
    inflight: deque[tuple[int, float | None]] = deque()  # (seq, arrival) in send order
    returning: deque[tuple[float, TransportCc]] = deque()  # feedback on its way back
    fb_count = 0
    samples: list[tuple[float, float]] = []
    delivered: list[tuple[float, int, float]] = []
    next_frame = next_fb = next_sample = 0.0
    for tick in range(int(seconds / TICK)):
        now = tick * TICK
        if now >= next_frame:
            next_frame += 1 / FPS
            frame = int(min(est.target_bps, source_max_bps) / FPS / 8)
            while frame > 0:
                size = min(frame, MTU)
                pacer.push(size, size, Priority.VIDEO, now)
                frame -= size
        for size in pacer.pop(now):
            est.on_sent(seq & 0xFFFF, size, now, pacer.pop_cluster)
            arrival = link.send(size, now)
            inflight.append((seq, arrival))
            if arrival is not None:
                delivered.append((arrival, size, arrival - now))
            seq += 1
        if now >= next_fb:
            next_fb += FEEDBACK_S
            report: dict[int, int | None] = {}
            last_received = -1
            while inflight and (inflight[0][1] is None or inflight[0][1] <= now):
                s, arrival = inflight.popleft()
                report[s] = None if arrival is None else int((arrival + RECEIVER_CLOCK) * 1e6)
                if arrival is not None:
                    last_received = s
            for s in [s for s in report if s > last_received]:  # losses at the end: not known yet
                inflight.appendleft((s, None))
                del report[s]
            if report:
                fb = TransportCc.from_arrivals(1, 2, report, fb_count)
                fb_count += 1
                back = now + link.delay_s
                if feedback_hold_s:
                    back = (back // feedback_hold_s + 1) * feedback_hold_s
                returning.append((back, TransportCc.parse(bytes(fb))))
        while returning and returning[0][0] <= now:
            est.on_feedback(returning.popleft()[1], now)
            if allocator is not None:
                allocator(now, est)
            pacer.set_rates(est.pacing_bps)
            for c in est.take_probes():
                pacer.probe(c)
        if now >= next_sample:
            next_sample += 0.05
            samples.append((now, est.target_bps))
    return Run(est, samples, delivered)


def _steady(rate: float) -> Callable[[float], float]:
    return lambda now: rate


def test_converges_near_the_link_rate_from_below() -> None:
    run = simulate(Link(_steady(3_000_000)), 20.0, start_bps=300_000)
    reached = run.first_time(lambda v: v >= 0.8 * 3_000_000)
    assert reached is not None and reached < 5.0
    assert 0.75 * 3_000_000 <= run.mean(10.0, 20.0) <= 1.05 * 3_000_000
    assert run.received_bps(10.0, 20.0) >= 0.7 * 3_000_000
    assert run.delay(10.0, 20.0) < 0.1  # 20 ms of it propagation: no standing queue to speak of
    assert run.est.acked > 0 and run.est.unknown == 0


def test_converges_near_the_link_rate_from_above() -> None:
    run = simulate(Link(_steady(2_000_000)), 20.0, start_bps=8_000_000, initial_probing=False)
    down = run.first_time(lambda v: v <= 1.1 * 2_000_000)
    assert down is not None and down < 2.0
    assert 0.7 * 2_000_000 <= run.mean(10.0, 20.0) <= 1.05 * 2_000_000


def test_feedback_that_comes_in_bursts_gives_the_same_estimate() -> None:
    """The reports of 50 ms each come back five at a time every 250 ms."""
    run = simulate(Link(_steady(3_000_000)), 20.0, start_bps=300_000, feedback_hold_s=0.25)
    assert 0.75 * 3_000_000 <= run.mean(10.0, 20.0) <= 1.05 * 3_000_000
    assert run.delay(10.0, 20.0) < 0.15


def _stepped(t_down: float, t_up: float) -> Callable[[float], float]:
    return lambda now: 500_000 if t_down <= now < t_up else 3_000_000


def _layer_allocator(layers: tuple[float, ...]) -> Callable[[float, SendSideEstimator], None]:
    """Asks for the next layer's rate whenever the estimate sits below it."""

    def allocate(now: float, est: SendSideEstimator) -> None:
        above = [need for need in layers if need > est.target_bps]
        if above:
            est.request_probe(above[0], now)

    return allocate


def test_backs_off_within_a_second_of_a_drop_and_recovers_with_probes() -> None:
    link = Link(_stepped(15.0, 30.0))
    run = simulate(link, 40.0, start_bps=1_000_000, allocator=_layer_allocator((500_000, 1_500_000, 2_500_000)))
    assert run.target_at(14.9) > 2_000_000
    backed = run.first_time(lambda v: v < 600_000, after=15.0)
    assert backed is not None and backed - 15.0 < 1.0
    assert run.received_bps(17.0, 30.0) <= 500_000 * 1.01
    assert 0.6 * 500_000 <= run.mean(20.0, 30.0) <= 1.1 * 500_000
    assert run.delay(20.0, 30.0) < 0.15
    back = run.first_time(lambda v: v >= 2_000_000, after=30.0)
    assert back is not None and back - 30.0 < 5.0


def test_a_slow_jittery_link_is_used_without_a_standing_queue_of_its_whole_buffer() -> None:
    """The network lab's 3g: 700 kbit/s, 150 ms one way, 20 ms of jitter, 1% loss, a 300 ms queue,
    with an allocator asking for probes towards higher layers all along."""
    link = Link(_steady(700_000), delay_s=0.15, jitter_s=0.02, queue_s=0.3, loss=0.01)
    run = simulate(link, 30.0, start_bps=1_000_000, allocator=_layer_allocator((150_000, 500_000, 2_500_000)))
    assert 0.6 * 700_000 <= run.mean(10.0, 30.0) <= 1.1 * 700_000
    assert run.received_bps(10.0, 30.0) >= 0.75 * 700_000
    assert run.delay(10.0, 30.0) < 0.15 + 0.1
    # probes whose packets jitter bunched tell nothing: no jump far above the link
    assert max(v for t, v in run.samples if t >= 10.0) < 1.3 * 700_000


def test_random_loss_with_an_empty_queue_is_not_read_as_congestion() -> None:
    """10% and 30% random loss on a path whose queue stays empty: the loss is the path's own (it
    does not fall when the rate does), so the estimate still finds the bottleneck; 1% likewise."""
    for loss in (0.01, 0.10, 0.30):
        run = simulate(Link(_steady(3_000_000), loss=loss), 20.0, start_bps=1_000_000)
        assert 0.75 * 3_000_000 <= run.mean(10.0, 20.0) <= 1.1 * 3_000_000, loss
        assert run.delay(10.0, 20.0) < 0.1, loss
        # learnt while the queue is empty (near the bottleneck it seldom is)
        assert run.est.loss.inherent_loss <= loss + 0.04
        assert loss < 0.1 or run.est.loss.inherent_loss >= 0.4 * loss


def test_a_shallow_buffer_drops_as_congestion() -> None:
    """A 1 Mbit/s bottleneck with only 20 ms of buffer: its drops come with a queue that hardly
    shows, and must still count as congestion, not as the path's own loss."""
    run = simulate(Link(_steady(1_000_000), queue_s=0.02), 30.0, start_bps=500_000, source_max_bps=2_500_000)
    assert run.est.lost / (run.est.lost + run.est.acked) < 0.12
    assert run.est.loss.inherent_loss < 0.02
    assert run.received_bps(10.0, 30.0) >= 0.7 * 1_000_000


def test_random_loss_at_a_full_bottleneck_still_backs_off() -> None:
    """10% random loss in front of a 1 Mbit/s drop-tail bottleneck, starting at 4x its rate: the
    overflow comes on top of the path's own loss, with a full queue, and is cut. (Near the
    bottleneck the queue is seldom empty enough to learn the path's own loss, so the estimate
    swings as plain GCC's does on such a path, without collapsing.)"""
    run = simulate(Link(_steady(1_000_000), loss=0.10), 40.0, start_bps=4_000_000, initial_probing=False)
    down = run.first_time(lambda v: v <= 1.2 * 1_000_000)
    assert down is not None and down < 2.0
    assert 0.4 * 1_000_000 <= run.mean(10.0, 40.0) <= 1.1 * 1_000_000
    assert run.delay(10.0, 40.0) < 0.1


def test_a_probe_finds_more_capacity_for_an_app_limited_sender() -> None:
    """The encoder sends 1 Mbit/s whatever the estimate (the allocator holds a low layer), so the
    estimate cannot climb past 1.5x of that by itself; a probe for 2.5 Mbit/s raises it at once."""
    asked: list[float] = []

    def allocator(now: float, est: SendSideEstimator) -> None:
        if now >= 10.0 and not asked:
            asked.append(now)
            est.request_probe(2_500_000, now)

    run = simulate(
        Link(_steady(5_000_000)),
        12.0,
        start_bps=1_000_000,
        source_max_bps=1_000_000,
        allocator=allocator,
        initial_probing=False,
    )
    assert run.target_at(9.9) < 2_000_000
    found = run.first_time(lambda v: v >= 2_300_000, after=10.0)
    assert found is not None and found - 10.0 < 0.5
    assert run.est.probe_results >= 1


def test_feedback_for_unknown_or_repeated_packets_changes_nothing() -> None:
    est = SendSideEstimator(start_bps=1_000_000)
    for s in range(100):
        est.on_sent(s, 1000, s * 0.002)
    arrivals = {s: 1_000_000 + s * 2100 for s in range(100)}
    fb = TransportCc.from_arrivals(1, 2, arrivals, 0)
    est.on_feedback(fb, 0.3)
    assert est.acked == 100
    target = est.target_bps
    est.on_feedback(fb, 0.31)  # the same message again
    assert est.acked == 100 and est.unknown == 100
    assert est.target_bps == target
    stray = TransportCc.from_arrivals(1, 2, {5000 + s: 2_000_000 + s for s in range(10)}, 1)
    est.on_feedback(stray, 0.4)
    assert est.unknown == 110 and est.usage is Usage.NORMAL


def test_the_receivers_reference_time_may_wrap() -> None:
    est = SendSideEstimator(start_bps=1_000_000)
    span = (1 << 24) * 64_000
    top = span // 2 - 64_000  # the last reference before the signed 24-bit value wraps
    for s in range(40):
        est.on_sent(s, 1000, s * 0.005)
    first = TransportCc.from_arrivals(1, 2, {s: top + s * 5000 for s in range(20)}, 0)
    wrapped = TransportCc.from_arrivals(1, 2, {s: top + s * 5000 for s in range(20, 40)}, 1)
    assert wrapped.reference_time < 0 < first.reference_time
    est.on_feedback(first, 0.2)
    est.on_feedback(wrapped, 0.3)
    assert est.acked == 40
    assert est.acked_bps == pytest.approx(1000 * 8 / 0.005, rel=0.05)


def test_history_must_be_a_power_of_two() -> None:
    with pytest.raises(ValueError):
        SendSideEstimator(history=1000)


_arrivals = st.dictionaries(
    st.integers(0, 300), st.one_of(st.none(), st.integers(0, 8_000_000)), min_size=1, max_size=60
).filter(lambda d: any(v is not None for v in d.values()))


@settings(deadline=None, max_examples=150)
@given(
    sends=st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 1500), st.sampled_from([None, 1, 2])), max_size=80),
    feedbacks=st.lists(st.tuples(st.integers(0, 0xFFFF), _arrivals), min_size=1, max_size=6),
)
def test_any_feedback_keeps_the_estimate_within_its_bounds(
    sends: list[tuple[int, int, int | None]], feedbacks: list[tuple[int, dict[int, int | None]]]
) -> None:
    """Feedback is the receiver's word: numbers never sent, repeated, reordered or wildly timed
    change counters, never raise, and never take the target out of its bounds."""
    est = SendSideEstimator(start_bps=500_000, min_bps=50_000, max_bps=5_000_000)
    est.start(0.0)
    now = 0.0
    for seq, size, cluster in sends:
        now += 0.001
        est.on_sent(seq, size, now, cluster)
    reported = 0
    for i, (base, arrivals) in enumerate(feedbacks):
        now += 0.05
        shifted = {base + s: t for s, t in arrivals.items()}
        fb = TransportCc.parse(bytes(TransportCc.from_arrivals(1, 2, shifted, i)))
        reported += len(fb.statuses)
        est.on_feedback(fb, now)
        assert 50_000 <= est.target_bps <= 5_000_000
    assert est.acked + est.lost + est.unknown <= reported


def test_bytes_in_flight_are_those_not_reported_yet() -> None:
    est = SendSideEstimator(history=64)
    for s in range(40):
        est.on_sent(s, 1000, s * 0.001)
    assert est.in_flight_bytes == 40_000 and est.last_feedback_at is None
    est.on_feedback(TransportCc.from_arrivals(1, 2, {s: 5000 + s * 1000 for s in range(20) if s != 7}, 0), 0.1)
    assert est.in_flight_bytes == 20_000 and est.last_feedback_at == 0.1  # 7 was reported lost
    late = TransportCc.from_arrivals(1, 2, {7: 12_000, 8: 13_000}, 1)  # 7 arrives after all
    est.on_feedback(late, 0.15)
    assert est.in_flight_bytes == 20_000 and est.acked == 20
    for s in range(40, 120):  # the ring of 64 wraps over the 20 never reported
        est.on_sent(s, 500, 0.2)
    assert est.in_flight_bytes == 64 * 500
