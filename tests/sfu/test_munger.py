"""Munger: continuity, wrap, loss gaps, reordering, mute and source switches (RFC 3550 §5.1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.sfu.munger import Munger

RATE = 90_000


def test_first_packet_starts_at_the_bases() -> None:
    m = Munger(RATE, seq_base=1000, ts_base=5000)
    assert not m.started
    assert m.munge(40_000, 123_456, 0.0) == (1000, 5000)
    assert m.started
    assert m.munge(40_001, 123_456 + 3000, 0.033) == (1001, 8000)
    assert (m.last_seq, m.last_ts, m.last_time) == (1001, 8000, 0.033)
    assert m.ts_offset == (5000 - 123_456) & 0xFFFFFFFF


def test_output_wraps_at_65535() -> None:
    m = Munger(RATE, seq_base=65_534, ts_base=0xFFFF_FF00)
    out = [m.munge(10 + i, 1000 + 3000 * i, i / 30) for i in range(4)]
    assert [o[0] for o in out if o] == [65_534, 65_535, 0, 1]
    assert [o[1] for o in out if o] == [0xFFFF_FF00, (0xFFFF_FF00 + 3000) & 0xFFFFFFFF, 0x1670, 0x2228]


def test_input_wrap_is_continuous() -> None:
    m = Munger(RATE, seq_base=100, ts_base=0)
    seqs = [m.munge(s & 0xFFFF, 0, 0.0) for s in range(65_533, 65_540)]
    assert [o[0] for o in seqs if o] == list(range(100, 107))


def test_loss_gap_is_preserved() -> None:
    m = Munger(RATE, seq_base=10, ts_base=0)
    assert m.munge(500, 0, 0.0) == (10, 0)
    assert m.munge(503, 9000, 0.1) == (13, 9000)  # 501, 502 lost: the subscriber sees the hole


def test_reordered_and_repeated_packets_map_to_the_same_output() -> None:
    m = Munger(RATE, seq_base=10, ts_base=0)
    m.munge(500, 0, 0.0)
    m.munge(503, 9000, 0.1)
    assert m.munge(501, 3000, 0.11) == (11, 3000)  # late arrival fills the hole
    assert m.munge(502, 6000, 0.12) == (12, 6000)
    assert m.munge(503, 9000, 0.13) == (13, 9000)  # retransmitted duplicate
    assert m.munge(499, 0, 0.14) is None  # older than the first packet forwarded


def test_mute_then_resume_leaves_no_gap_and_keeps_the_clock() -> None:
    m = Munger(RATE, seq_base=10, ts_base=0)
    m.munge(100, 1000, 0.0)
    m.munge(101, 4000, 0.033)
    m.mute()
    # 102..149 are dropped upstream while muted; 150 arrives after unmute.
    assert m.munge(150, 1000 + 50 * 3000, 1.0) == (12, 50 * 3000)
    assert m.munge(151, 1000 + 51 * 3000, 1.033) == (13, 51 * 3000)
    assert m.munge(120, 0, 1.05) is None  # a late packet of the muted stretch has no place
    assert m.munge(101, 4000, 1.06) == (11, 3000)  # a late packet before the mute keeps its seq


def test_mute_without_packets_is_harmless() -> None:
    m = Munger(RATE, seq_base=10, ts_base=0)
    m.mute()  # before any packet: nothing to resume
    assert m.munge(7, 0, 0.0) == (10, 0)


def test_switch_source_continues_seq_and_advances_ts_by_elapsed_time() -> None:
    m = Munger(RATE, seq_base=200, ts_base=1_000_000)
    m.munge(5000, 77, 0.0)
    m.munge(5001, 3077, 0.5)  # output (201, 1_003_000)
    m.switch_source(0.6)
    # New source with its own seq/ts space, first packet at t=0.75: 0.25 s elapsed.
    assert m.munge(9, 42, 0.75) == (202, 1_003_000 + 22_500)
    assert m.munge(10, 42 + 3000, 0.78) == (203, 1_003_000 + 22_500 + 3000)
    # Older than the new source's first packet: dropped. (Which source a packet comes from is
    # known by its SSRC, upstream of the munger.)
    assert m.munge(5, 77, 0.8) is None
    # Outputs of the old source no longer map back to anything.
    assert m.reverse(201) is None
    assert m.reverse(202) == (9, (1_003_000 + 22_500 - 42) & 0xFFFFFFFF)


def test_switch_never_goes_backwards_in_time() -> None:
    m = Munger(RATE, seq_base=0, ts_base=0)
    m.munge(1, 0, 5.0)
    m.switch_source(5.0)
    seq, ts = m.munge(70, 999_999, 5.0) or (0, 0)
    assert (seq, ts) == (1, 1)  # at least one tick forward


def test_reverse_maps_output_back_to_input_across_epochs() -> None:
    m = Munger(RATE, seq_base=65_530, ts_base=0)
    for s in range(1000, 1010):
        m.munge(s, s * 10, 0.0)  # outputs 65530..65535, 0..3
    m.mute()
    m.munge(1100, 11_000, 1.0)  # output 4
    assert m.reverse(65_530) == (1000, (0 - 10_000) & 0xFFFFFFFF)
    assert m.reverse(3) == (1009, (0 - 10_000) & 0xFFFFFFFF)
    assert m.reverse(4) == (1100, (0 - 10_000) & 0xFFFFFFFF)
    assert m.reverse(5) is None  # not sent yet
    assert m.reverse(65_529) is None  # before the first packet


def test_reverse_before_start() -> None:
    assert Munger(RATE, seq_base=0, ts_base=0).reverse(0) is None


@settings(deadline=None, max_examples=200)
@given(
    start=st.integers(0, 0xFFFF),
    base=st.integers(0, 0xFFFF),
    order=st.permutations(list(range(1, 40))),
)
def test_any_permutation_without_loss_gives_continuous_output(start: int, base: int, order: list[int]) -> None:
    """Whatever the arrival order after the first packet, outputs are in + constant, no holes."""
    m = Munger(RATE, seq_base=base, ts_base=0)
    outputs: dict[int, int] = {}
    for i in [0, *order]:
        mapped = m.munge((start + i) & 0xFFFF, i * 100, i * 0.01)
        assert mapped is not None
        outputs[i] = mapped[0]
    assert all(outputs[i] == (base + i) & 0xFFFF for i in outputs)
    assert all(m.reverse(outputs[i]) == ((start + i) & 0xFFFF, 0) for i in outputs)
    assert sorted(outputs) == list(range(40))


# --- snapshot / restore: how a mirror of the steady state (the native fan-out) takes part -------


def test_snapshot_names_the_open_epoch() -> None:
    m = Munger(RATE, seq_base=1000, ts_base=5000)
    assert m.snapshot()[5] is False  # no epoch yet: the next packet must go through munge
    m.munge(40_000, 123_456, 1.0)
    in_ext, in_ts, last_now, seq_off, ts_off, is_open = m.snapshot()
    assert (in_ext & 0xFFFF, in_ts, last_now, is_open) == (40_000, 123_456, 1.0, True)
    assert ((in_ext + seq_off) & 0xFFFF, (in_ts + ts_off) & 0xFFFFFFFF) == (1000, 5000)
    m.mute()
    assert m.snapshot()[5] is False


def test_restore_takes_a_position_moved_on_by_the_steady_state() -> None:
    """What a mirror does for the next packets equals what the munger would have done."""
    mirrored, reference = Munger(RATE, 7, 9), Munger(RATE, 7, 9)
    for m in (mirrored, reference):
        m.munge(65_534, 0, 0.0)
    in_ext, _ts, _now, seq_off, ts_off, is_open = mirrored.snapshot()
    assert is_open
    outputs = []
    for i, seq in enumerate((65_535, 0, 3)):  # across the wrap, with a loss gap
        d = (seq - in_ext) & 0xFFFF
        in_ext += d
        outputs.append(((in_ext + seq_off) & 0xFFFF, (3000 * (i + 1) + ts_off) & 0xFFFFFFFF))
        assert reference.munge(seq, 3000 * (i + 1), 0.1 * (i + 1)) == outputs[-1]
    mirrored.restore((in_ext, 9000, 0.1 * 3, seq_off, ts_off, True))
    assert mirrored.snapshot() == reference.snapshot()
    assert mirrored.reverse(outputs[-1][0]) == reference.reverse(outputs[-1][0]) == (3, ts_off)
    assert mirrored.munge(4, 12_000, 0.4) == reference.munge(4, 12_000, 0.4)


def test_restore_refuses_a_stale_epoch() -> None:
    m = Munger(RATE, 7, 9)
    m.munge(100, 0, 0.0)
    stale = m.snapshot()
    m.switch_source(1.0)
    m.munge(5000, 777, 1.0)  # a new epoch with other offsets
    with pytest.raises(ValueError):
        m.restore(stale)  # a snapshot of a closed epoch
    ahead = m.snapshot()
    m.restore(ahead)  # the same position again is fine
    older = (ahead[0] - 1, *ahead[1:])
    with pytest.raises(ValueError):
        m.restore(older)  # a position behind the munger's


# --- packets left out on purpose (temporal layers above a subscriber's cap) ------------------------


def test_dropped_packets_leave_no_gap() -> None:
    m = Munger(RATE, seq_base=10, ts_base=0)
    assert m.munge(100, 0, 0.0) == (10, 0)
    m.drop(101, 3000, 0.03)
    m.drop(102, 3000, 0.031)
    assert m.munge(103, 6000, 0.06) == (11, 6000)
    m.drop(104, 9000, 0.09)
    assert m.munge(105, 12000, 0.12) == (12, 12000)
    assert m.last_seq == 12


def test_a_loss_before_a_drop_keeps_its_gap_and_its_late_packet_maps() -> None:
    m = Munger(RATE, seq_base=10, ts_base=0)
    m.munge(100, 0, 0.0)
    m.drop(102, 3000, 0.03)  # 101 lost on the way in: the subscriber must still see the hole
    assert m.munge(103, 6000, 0.06) == (12, 6000)
    assert m.reverse(11) == (101, 0)  # a NACK for the hole names the lost packet
    assert m.munge(101, 0, 0.07) == (11, 0)  # which maps there when it comes
    assert m.munge(102, 3000, 0.08) is None  # the dropped one stays out
    m.drop(102, 3000, 0.09)  # and dropping it again moves nothing
    assert m.munge(104, 9000, 0.1) == (13, 9000)


def test_drops_then_a_switch_and_a_mute_continue_at_last_plus_one() -> None:
    m = Munger(RATE, seq_base=10, ts_base=0)
    m.munge(100, 0, 0.0)
    m.drop(101, 3000, 0.03)
    m.switch_source(0.05)
    out = m.munge(7000, 555, 0.05)
    assert out is not None and out[0] == 11
    m.drop(7001, 600, 0.06)
    m.mute()
    m.drop(7002, 600, 0.07)  # outside an open epoch: nothing to close up
    assert m.munge(7005, 900, 0.1) == (12, (out[1] + 345) & 0xFFFFFFFF)


@settings(max_examples=300)
@given(st.lists(st.sampled_from(["send", "drop", "lose"]), min_size=1, max_size=200), st.integers(0, 0xFFFF))
def test_what_is_sent_is_numbered_as_if_the_drops_never_existed(script: list[str], start: int) -> None:
    """Outputs step by one per packet sent or lost, never per packet dropped; NACKs of the
    sent ones find their input."""
    m = Munger(RATE, seq_base=start, ts_base=0)
    expected = start
    started = False
    sent: dict[int, int] = {}
    for i, what in enumerate(script):
        seq = (60_000 + i) & 0xFFFF
        if what == "drop":
            m.drop(seq, i, i / 100)
        elif what == "lose":
            if started:
                expected += 1
        else:
            out = m.munge(seq, i, i / 100)
            assert out is not None and out[0] == expected & 0xFFFF
            sent[out[0]] = seq
            expected += 1
            started = True
    for out_seq, seq in list(sent.items())[-15:]:  # the epochs kept (16) hold the last 15 at least
        got = m.reverse(out_seq)
        assert got is not None and got[0] == seq


def test_a_switch_takes_the_new_sources_own_capture_time_when_it_is_given() -> None:
    for hint, expected in ((12_000, 12_000), (9_000, 9_001), (None, 9_000 + 9_000), (9_000 + RATE * 6, 18_000)):
        m = Munger(RATE, seq_base=1, ts_base=9_000)
        m.munge(10, 0, 0.0)
        m.switch_source(0.1, hint)
        out = m.munge(500, 77, 0.1)
        assert out == (2, expected)
