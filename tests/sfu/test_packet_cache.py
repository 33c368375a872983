"""NACK cache: bounded, keyed by the publisher's seq, wrap-aware (RFC 4585 §6.2.1)."""

from __future__ import annotations

import pytest

from hubbub.sfu.packet_cache import PacketCache


def pkt(seq: int) -> bytes:
    return seq.to_bytes(2, "big") * 4


def test_capacity_rounds_up_to_a_power_of_two() -> None:
    assert PacketCache(100).capacity == 128
    assert PacketCache(128).capacity == 128
    with pytest.raises(ValueError):
        PacketCache(0)


def test_get_by_seq_and_miss() -> None:
    c = PacketCache(8)
    assert c.get(5) is None
    assert len(c) == 0
    for s in range(5, 10):
        assert c.put(s, pkt(s))
    assert c.get(7) == pkt(7)
    assert c.get(10) is None  # not received yet
    assert 9 in c
    assert len(c) == 5


def test_bounded_oldest_evicted() -> None:
    c = PacketCache(8)
    for s in range(100):
        c.put(s, pkt(s))
    assert len(c) == 8
    assert c.get(91) is None
    assert all(c.get(s) == pkt(s) for s in range(92, 100))
    assert not c.put(50, pkt(50))  # older than the window: not stored
    assert c.get(50) is None


def test_wraps_at_65535() -> None:
    c = PacketCache(16)
    for s in range(65_530, 65_546):
        c.put(s & 0xFFFF, pkt(s & 0xFFFF))
    assert c.get(65_535) == pkt(65_535)
    assert c.get(0) == pkt(0)
    assert c.get(9) == pkt(9)
    assert c.get(65_529) is None


def test_out_of_order_and_duplicates() -> None:
    c = PacketCache(16)
    assert c.put(10, pkt(10))
    assert c.put(13, pkt(13))
    assert c.put(11, pkt(11))  # late: fills the hole
    assert c.get(12) is None
    assert not c.put(11, b"again")  # duplicate
    assert c.get(11) == pkt(11)


def test_first_packet_then_older_across_wrap() -> None:
    c = PacketCache(16)
    assert c.put(1, pkt(1))
    assert c.put(65_535, pkt(65_535))  # older than the first, across the wrap
    assert c.get(65_535) == pkt(65_535)
    assert c.get(0) is None


def test_stale_slot_is_not_returned_after_a_jump() -> None:
    c = PacketCache(8)
    c.put(3, pkt(3))
    for s in (20_003, 40_003, 60_003, 4):  # jumps that wrap the 16-bit space once
        assert c.put(s, pkt(s))
    # Seq 3 is inside the window again (one cycle later) but was never received this cycle:
    # the slot still holds the old seq 3 and must not answer for it.
    assert c.get(3) is None
    assert c.get(4) == pkt(4)
    c.clear()
    assert c.get(4) is None
    assert len(c) == 0
