"""The delay-based detector on synthetic packet streams: a video-like sender (frames of 1200-byte
packets, 30 per second) through a netsim bottleneck, on a manual clock."""

from __future__ import annotations

import random

import pytest

from hubbub.netsim.engine import Impairment, Link
from hubbub.proto.cc.delay import DelayDetector, InterArrival, TrendlineEstimator, Usage

FPS = 30
PACKET = 1200


def stream(rate_bps: float, link: Link, seconds: float, *, start: float = 0.0) -> list[tuple[float, float, int]]:
    """(send, arrival, size) of a sender at ``rate_bps`` through ``link``, in arrival order."""
    out: list[tuple[float, float, int]] = []
    frame_bytes = rate_bps / 8 / FPS
    t = start
    while t < start + seconds:
        left = frame_bytes
        send = t
        while left > 0:
            size = int(min(PACKET, max(left, 100)))
            fate = link.submit(size, send)
            out.extend((send, at, size) for at in fate.times[:1])
            left -= size
            send += 0.0001  # the frame's packets leave back to back
        t += 1 / FPS
    out.sort(key=lambda p: p[1])
    return out


def usages(packets: list[tuple[float, float, int]], detector: DelayDetector) -> list[tuple[float, Usage]]:
    """(send time, usage after the packet) for each packet."""
    return [(send, detector.update(send, arrival, size)) for send, arrival, size in packets]


def test_groups_are_frames() -> None:
    ia = InterArrival()
    # two packets per frame, 33 ms apart; each arrives 20 ms after it was sent
    results = []
    for frame in range(4):
        for k in range(2):
            send = frame * 0.033 + k * 0.001
            results.append(ia.update(send, send + 0.02, 1000 + k))
    # the third frame's first packet closes the second group: deltas between frames 0 and 1
    assert results[:4] == [None] * 4
    assert results[4] == pytest.approx((0.033, 0.033, 0))
    assert results[5] is None
    assert results[6] == pytest.approx((0.033, 0.033, 0))


def test_reordered_packet_is_ignored() -> None:
    ia = InterArrival()
    assert ia.update(0.0, 0.02, 100) is None
    assert ia.update(0.033, 0.053, 100) is None
    assert ia.update(0.010, 0.054, 100) is None  # sent before the current group: ignored
    deltas = ia.update(0.066, 0.086, 100)
    assert deltas == pytest.approx((0.033, 0.033, 0))


def test_stall_resets() -> None:
    ia = InterArrival()
    for i in range(3):
        ia.update(i * 0.033, i * 0.033 + 0.02, 100)
    # the next group arrives 5 s later than the send times say: once it is complete, start over
    assert ia.update(0.099, 5.2, 100) == pytest.approx((0.033, 0.033, 0))
    assert ia.update(0.132, 5.233, 100) is None
    assert ia.update(0.165, 5.266, 100) is None
    assert ia.update(0.198, 5.299, 100) == pytest.approx((0.033, 0.033, 0))


def test_burst_after_stall_stays_one_group() -> None:
    ia = InterArrival()
    ia.update(0.0, 0.02, 100)
    ia.update(0.033, 0.053, 100)
    # three frames held by the network and released together: one group
    assert ia.update(0.066, 0.200, 100) == pytest.approx((0.033, 0.033, 0))
    assert ia.update(0.099, 0.201, 100) is None
    assert ia.update(0.132, 0.202, 100) is None
    assert ia.update(0.300, 0.320, 100) == pytest.approx((0.099, 0.149, 200))


def test_queue_growing_is_overuse() -> None:
    """1 Mbit/s into a 500 kbit/s bottleneck: the queue grows by 0.5 s every second."""
    link = Link(Impairment(rate_kbps=500, delay_ms=20), random.Random(1))
    seen = usages(stream(1_000_000, link, 3.0), DelayDetector())
    first = next(t for t, u in seen if u is Usage.OVERUSING)
    assert first < 0.8  # the trendline's 20 groups take 0.67 s to fill


def test_queue_draining_is_underuse() -> None:
    """After an overload, a sender far below the link drains the queue: underuse, then normal."""
    link = Link(Impairment(rate_kbps=500, delay_ms=20), random.Random(1))
    detector = DelayDetector()
    usages(stream(800_000, link, 2.0), detector)
    drained = usages(stream(100_000, link, 4.0, start=2.0), detector)
    assert any(u is Usage.UNDERUSING for _, u in drained)
    assert drained[-1][1] is Usage.NORMAL


@pytest.mark.parametrize("seed", range(5))
def test_no_overuse_under_capacity(seed: int) -> None:
    """A sender under capacity, with or without jitter (kept in order, as behind a FIFO), is never
    taken for overuse."""
    link = Link(Impairment(rate_kbps=2000, delay_ms=30, jitter_ms=5 if seed else 0), random.Random(seed))
    seen = usages(stream(800_000, link, 20.0), DelayDetector())
    assert all(u is not Usage.OVERUSING for _, u in seen)


def test_threshold_adapts_and_stays_clamped() -> None:
    trend = TrendlineEstimator()
    arrival = 0.0
    rng = random.Random(7)
    for _ in range(3000):  # heavy jitter: +-40 ms per group
        arrival += 0.033
        trend.update(0.033, 0.033 + rng.uniform(-0.04, 0.04), arrival)
        assert 6.0 <= trend.threshold_ms <= 600.0
    assert trend.threshold_ms > 12.5  # raised by the jitter
    quiet = TrendlineEstimator()
    for _ in range(300):
        arrival += 0.033
        quiet.update(0.033, 0.033, arrival)
    assert quiet.threshold_ms == 6.0  # lowered to its floor on a steady path
    assert quiet.usage is Usage.NORMAL


def test_single_spike_is_not_overuse() -> None:
    """One group delayed by 30 ms (a scheduling hiccup) does not signal overuse: overuse needs the
    trend above the threshold over more than one group."""
    trend = TrendlineEstimator()
    arrival = 0.0
    seen = []
    for i in range(200):
        arrival += 0.033
        late = 0.03 if i == 100 else (-0.03 if i == 101 else 0.0)
        seen.append(trend.update(0.033, 0.033 + late, arrival))
    assert Usage.OVERUSING not in seen
