"""Receive statistics against hand-computed RFC 3550 A.1/A.3/A.8 values."""

from __future__ import annotations

import pytest

from hubbub.sfu.stats import ReceiveStats


def test_loss_and_fraction_hand_computed() -> None:
    s = ReceiveStats(48_000)
    # 100..119 sent, 103, 104 and 110 lost.
    for seq in range(100, 120):
        if seq not in (103, 104, 110):
            s.update(seq, seq * 960, seq * 0.02)
    assert s.expected == 20
    assert s.received == 17
    assert s.cumulative_lost == 3
    fraction, lost, highest, _jitter = s.report()
    assert fraction == 3 * 256 // 20  # 38
    assert (lost, highest) == (3, 119)
    # Next interval: 120..129, one lost.
    for seq in range(120, 130):
        if seq != 125:
            s.update(seq, seq * 960, seq * 0.02)
    fraction, lost, highest, _ = s.report()
    assert (fraction, lost, highest) == (256 // 10, 4, 129)
    # Empty interval.
    assert s.report()[0] == 0


def test_duplicates_give_zero_fraction_and_negative_loss() -> None:
    s = ReceiveStats(90_000)
    for seq in (1, 2, 3, 3, 3):
        s.update(seq, 0, 0.0)
    fraction, lost, _highest, _ = s.report()
    assert (fraction, lost) == (0, -2)  # RFC 3550 §6.4.1: may be negative with duplicates


def test_extended_highest_counts_wraps() -> None:
    s = ReceiveStats(90_000)
    for seq in range(65_530, 65_540):
        s.update(seq & 0xFFFF, 0, 0.0)
    assert s.extended_highest_seq == (1 << 16) + 3
    assert s.expected == 10
    s.update(65_534, 0, 0.0)  # a late packet from before the wrap does not unwrap backwards
    assert s.extended_highest_seq == (1 << 16) + 3


def test_large_jump_needs_two_sequential_packets() -> None:
    s = ReceiveStats(90_000)
    for seq in range(10):
        s.update(seq, 0, 0.0)
    assert not s.update(30_000, 0, 0.0)  # probably garbage: ignored
    assert s.extended_highest_seq == 9
    assert s.update(30_001, 0, 0.0)  # second in a row: the source restarted (A.1)
    assert s.extended_highest_seq == 30_001
    assert s.expected == 1
    assert s.received == 1


def test_jitter_hand_computed() -> None:
    s = ReceiveStats(8_000)
    # 20 ms packets (160 ticks); arrivals 0, 20, 50 (10 ms late), 60 ms.
    s.update(0, 0, 0.000)
    s.update(1, 160, 0.020)  # D = 0
    assert s.jitter == 0.0
    s.update(2, 320, 0.050)  # D = 240 - 160 = 80 -> J = 80/16 = 5
    assert s.jitter == pytest.approx(5.0)
    s.update(3, 480, 0.060)  # D = 80 - 160 = -80 -> J = 5 + (80 - 5)/16 = 9.6875
    assert s.jitter == pytest.approx(9.6875)
    assert s.report()[3] == 9
    assert s.jitter_seconds == pytest.approx(9.6875 / 8000)
    s.update(4, 640, 5.0, jitter=False)  # a retransmission says nothing about jitter
    assert s.jitter == pytest.approx(9.6875)


def test_jitter_is_wrap_safe() -> None:
    s = ReceiveStats(90_000)
    s.update(0, 0xFFFF_FFFF - 1499, 0.0)
    s.update(1, 1500, 1 / 30)  # timestamp wrapped; exactly on time
    assert s.jitter == pytest.approx(0.0, abs=1e-6)


def test_invalid_clock_rate() -> None:
    with pytest.raises(ValueError):
        ReceiveStats(0)


def test_cumulative_loss_is_clamped_to_24_bits() -> None:
    s = ReceiveStats(90_000)
    s.update(0, 0, 0.0)
    for k in range(1, 3000):  # jumps of 2999 (below MAX_DROPOUT): ~9 M packets "lost"
        s.update((k * 2999) & 0xFFFF, 0, 0.0)
    assert s.expected - s.received > 0x7FFFFF
    assert s.cumulative_lost == 0x7FFFFF
