"""NACKs to publishers (hubbub.sfu.nack and the router that sends them): a gap in a video layer's
sequence numbers is asked for at once and again every RETRY_S until it arrives, gives up after
MAX_TRIES or MAX_AGE_S, survives the wrap, ignores a restart's jump, stays bounded; the
router's NACK reaches the publisher and a repair through RTX reaches the subscribers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_router import DELTA, KEY, PUB_RTX, PUB_SSRC, rtp, video_room

from hubbub.proto.rtcp import GenericNack
from hubbub.proto.rtp import rtx_wrap
from hubbub.sfu.nack import MAX_AGE_S, MAX_GAP, MAX_MISSING, MAX_TRIES, RETRY_S, NackRequester


def test_a_gap_is_asked_for_at_once_then_every_retry_until_it_arrives() -> None:
    n = NackRequester()
    for seq in (10, 11, 14):
        n.on_packet(seq, 1.0)
    assert n.due(1.0) and n.take_due(1.0) == [12, 13]
    assert n.take_due(1.0 + RETRY_S / 2) == []
    assert not n.due(1.0 + RETRY_S / 2)
    assert n.take_due(1.0 + RETRY_S) == [12, 13]
    n.on_packet(12, 1.15)  # repaired
    assert n.take_due(1.0 + 2 * RETRY_S) == [13]
    assert (n.recovered, n.missing, n.asked) == (1, 1, 5)


def test_a_packet_is_given_up_after_its_tries_or_its_age() -> None:
    n = NackRequester()
    n.on_packet(1, 0.0)
    n.on_packet(3, 0.0)
    asked = [n.take_due(i * RETRY_S) for i in range(MAX_TRIES + 2)]
    assert asked[:MAX_TRIES] == [[2]] * MAX_TRIES and asked[MAX_TRIES:] == [[], []]
    assert n.given_up == 1 and n.missing == 0
    n.on_packet(5, 10.0)
    n.take_due(10.0)
    assert n.take_due(10.0 + MAX_AGE_S + 0.01) == [] and n.given_up == 2


def test_the_wrap_a_restart_and_the_bound() -> None:
    n = NackRequester()
    n.on_packet(65534, 0.0)
    n.on_packet(1, 0.0)  # across the wrap: 65535 and 0 are missing
    assert n.take_due(0.0) == [65535, 0]
    n = NackRequester()
    n.on_packet(100, 0.0)
    n.on_packet(100 + MAX_GAP + 2, 0.0)  # a jump: a restarted sender, nothing to ask
    assert n.take_due(0.0) == [] and n.missing == 0
    n.on_packet(100 + MAX_GAP + 2 + MAX_GAP, 0.0)  # a large loss: only the newest are followed
    assert n.missing == MAX_MISSING


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 0xFFFF), st.lists(st.tuples(st.integers(0, 300), st.floats(0, 0.05)), max_size=200))
def test_any_arrival_order_asks_only_for_numbers_it_has_not_seen(base: int, arrivals: list[tuple[int, float]]) -> None:
    n = NackRequester()
    now = 0.0
    seen: set[int] = set()
    for offset, dt in arrivals:  # losses and reordering within 300 packets, across the wrap too
        now += dt
        seq = (base + offset) & 0xFFFF
        n.on_packet(seq, now)
        seen.add(seq)
        asked = n.take_due(now)
        assert len(asked) == len(set(asked)) and not set(asked) & seen
        assert n.missing <= MAX_MISSING


def test_the_router_asks_the_publisher_and_forwards_the_repair() -> None:
    router, pub, _up, subs = video_room(1)
    sink, dt = subs[0]
    router.on_rtp("alice", rtp(100, 0, KEY, marker=True), 0.0)
    router.on_rtp("alice", rtp(101, 3000, DELTA), 0.033)
    router.on_rtp("alice", rtp(104, 6000, DELTA), 0.066)  # 102 and 103 lost on the uplink
    nacks = pub.rtcp_of(GenericNack)
    assert len(nacks) == 1 and nacks[0].media_ssrc == PUB_SSRC and nacks[0].sender_ssrc == router.rtcp_ssrc
    assert nacks[0].lost_sequences() == [102, 103]
    sent = len(sink.rtp)
    router.on_rtp("alice", rtx_wrap(rtp(102, 3000, DELTA + b"r"), PUB_RTX, 7, 97), 0.08)  # the repair
    assert len(sink.rtp) == sent + 1  # forwarded as the original
    router.tick(0.066 + RETRY_S)
    assert pub.rtcp_of(GenericNack)[-1].lost_sequences() == [103]
    assert dt.ssrc != 0
