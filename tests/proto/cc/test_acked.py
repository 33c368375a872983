"""The acknowledged bitrate: bytes the feedback reports received, over a window of arrival time."""

from __future__ import annotations

import random

import pytest

from hubbub.proto.cc.acked import MIN_SPAN_S, AckedBitrate


def _arrivals(rate_bps: float, start: float, seconds: float, size: int = 1200) -> list[float]:
    gap = size * 8 / rate_bps
    n = int(seconds / gap)
    return [start + i * gap for i in range(n)]


def test_steady_rate_is_measured() -> None:
    acked = AckedBitrate()
    for t in _arrivals(2_000_000, 100.0, 2.0):
        acked.on_packet(t, 1200)
    assert acked.rate_bps == pytest.approx(2_000_000, rel=0.01)


def test_unknown_until_the_arrivals_span_enough() -> None:
    acked = AckedBitrate()
    assert acked.rate_bps is None
    for t in _arrivals(1_000_000, 5.0, MIN_SPAN_S * 0.9):
        acked.on_packet(t, 1200)
    assert acked.rate_bps is None
    for t in _arrivals(1_000_000, 5.0 + MIN_SPAN_S, 0.1):
        acked.on_packet(t, 1200)
    assert acked.rate_bps == pytest.approx(1_000_000, rel=0.05)


def test_follows_a_rate_drop_within_the_window() -> None:
    acked = AckedBitrate(window_s=0.5)
    for t in _arrivals(3_000_000, 0.0, 2.0):
        acked.on_packet(t, 1200)
    for t in _arrivals(500_000, 2.0, 0.6):
        acked.on_packet(t, 1200)
    assert acked.rate_bps == pytest.approx(500_000, rel=0.05)


def test_feedback_bursts_and_reordering_do_not_change_the_rate() -> None:
    """The same arrivals, fed as one message per 50 ms, as one late message for a whole second,
    or shuffled within each message, give the same rate."""
    times = _arrivals(1_500_000, 0.0, 3.0)
    steady = AckedBitrate()
    for t in times:
        steady.on_packet(t, 1200)
    bursty = AckedBitrate()
    rng = random.Random(7)
    chunk: list[float] = []
    for t in times:
        chunk.append(t)
        if len(chunk) == 150:
            rng.shuffle(chunk)
            for c in chunk:
                bursty.on_packet(c, 1200)
            chunk.clear()
    for c in chunk:
        bursty.on_packet(c, 1200)
    assert steady.rate_bps is not None and bursty.rate_bps is not None
    assert bursty.rate_bps == pytest.approx(steady.rate_bps, rel=0.02)


def test_a_packet_a_window_older_than_the_latest_is_not_counted() -> None:
    acked = AckedBitrate(window_s=0.5)
    for t in _arrivals(1_000_000, 10.0, 1.0):
        acked.on_packet(t, 1200)
    before = acked.rate_bps
    acked.on_packet(9.0, 100_000)
    assert acked.rate_bps == before


def test_idle_gap_reads_as_a_low_rate_and_reset_forgets() -> None:
    acked = AckedBitrate()
    for t in _arrivals(1_000_000, 0.0, 1.0):
        acked.on_packet(t, 1200)
    acked.on_packet(3.0, 1200)
    assert acked.rate_bps == pytest.approx(1200 * 8 / 0.5)
    acked.reset()
    assert acked.rate_bps is None
    with pytest.raises(ValueError):
        AckedBitrate(window_s=0)
