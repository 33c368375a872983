"""Transport-wide CC feedback to publishers (hubbub.proto.cc.feedback, and the router that sends it):
every numbered packet reported once, with its arrival time to 250 us, losses as lost, the
sequence wrap, reordering, padding probes and duplicates, message splits, and the cadence."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.proto import rtp_ext
from hubbub.proto.cc.feedback import FEEDBACK_INTERVAL, MAX_STATUSES, TransportFeedback
from hubbub.proto.rtcp import TransportCc, iter_rtcp
from hubbub.proto.rtp import RtpPacket
from hubbub.sfu.router import Router

EXT = 3
SSRC, RTX = 0x1111, 0x2222
VP8 = (96, "video/VP8", 90_000, 97)
DELTA = b"\x10\x01" + bytes(range(200))


def numbered(tseq: int, seq: int = 0, *, ssrc: int = SSRC, pt: int = 96, payload: bytes = DELTA) -> bytes:
    profile, body = rtp_ext.build_extensions({EXT: (tseq & 0xFFFF).to_bytes(2, "big")})
    return bytes(
        RtpPacket(pt=pt, seq=seq & 0xFFFF, ts=0, ssrc=ssrc, payload=payload, extension_profile=profile, extension=body)
    )


def reported(messages: list[bytes]) -> list[tuple[int, int | None]]:
    out: list[tuple[int, int | None]] = []
    for m in messages:
        for p in iter_rtcp(m):
            assert isinstance(p, TransportCc)
            out += p.packet_results()
    return out


def test_arrivals_are_reported_with_their_times_and_the_gaps_as_lost() -> None:
    fb = TransportFeedback(EXT, 0x77)
    for tseq, at in ((10, 1.000), (11, 1.0013), (13, 1.0101)):  # 12 never arrives
        fb.on_packet(numbered(tseq), SSRC, at)
    assert fb.due(1.02)
    messages = fb.build(1.02)
    assert len(messages) == 1
    (feedback,) = iter_rtcp(messages[0])
    assert isinstance(feedback, TransportCc)
    assert (feedback.sender_ssrc, feedback.media_ssrc, feedback.fb_count) == (0x77, SSRC, 0)
    results = dict(feedback.packet_results())
    assert sorted(results) == [10, 11, 12, 13] and results[12] is None
    for tseq, at in ((10, 1.000), (11, 1.0013), (13, 1.0101)):
        value = results[tseq]
        assert value is not None
        assert abs(value - at * 1e6 - (results[10] or 0) + 1.0 * 1e6) <= 250  # deltas to a tick
    assert not fb.due(1.03) and fb.build(1.03) == []  # nothing new


def test_the_next_message_starts_where_the_last_ended_and_counts_on() -> None:
    fb = TransportFeedback(EXT, 0x77)
    fb.on_packet(numbered(1), SSRC, 0.0)
    first = fb.build(0.0)
    fb.on_packet(numbered(4), SSRC, 0.06)  # 2 and 3 lost between the messages
    second = fb.build(0.06)
    (a,), (b,) = list(iter_rtcp(first[0])), list(iter_rtcp(second[0]))
    assert isinstance(a, TransportCc) and isinstance(b, TransportCc)
    assert (a.fb_count, b.fb_count) == (0, 1)
    assert [s for s, _ in b.packet_results()] == [2, 3, 4]
    assert [t is None for _, t in b.packet_results()] == [True, True, False]


def test_a_packet_reordered_across_a_message_is_not_reported_again() -> None:
    fb = TransportFeedback(EXT, 0x77)
    for tseq in (1, 3):
        fb.on_packet(numbered(tseq), SSRC, 0.0)
    fb.build(0.0)
    fb.on_packet(numbered(2), SSRC, 0.01)  # reported lost already
    assert fb.late == 1 and not fb.due(1.0)
    # reordered within one message it is reported received, in order
    for tseq in (5, 4):
        fb.on_packet(numbered(tseq), SSRC, 0.02)
    assert [(s, t is not None) for s, t in reported(fb.build(0.1))] == [(4, True), (5, True)]


def test_the_16_bit_sequence_wraps() -> None:
    fb = TransportFeedback(EXT, 0x77)
    for i, tseq in enumerate((0xFFFE, 0xFFFF, 0, 1)):
        fb.on_packet(numbered(tseq), SSRC, i * 0.001)
    assert [s for s, _ in reported(fb.build(0.01))] == [0xFFFE, 0xFFFF, 0, 1]


def test_a_long_window_is_split_into_messages_that_cover_it() -> None:
    fb = TransportFeedback(EXT, 0x77)
    count = MAX_STATUSES * 2 + 10
    for tseq in range(count):
        fb.on_packet(numbered(tseq), SSRC, tseq * 0.0001)
    messages = fb.build(1.0)
    assert len(messages) == 3
    seqs = [s for s, _ in reported(messages)]
    assert seqs == list(range(count))


def test_a_delta_too_long_for_16_bits_splits_the_message() -> None:
    fb = TransportFeedback(EXT, 0x77)
    fb.on_packet(numbered(1), SSRC, 0.0)
    fb.on_packet(numbered(3), SSRC, 9.0)  # 9 s apart: more than 16 bits of 250 us ticks
    results = reported(fb.build(9.0))
    assert [s for s, _ in results] == [1, 2, 3]
    assert [t is None for _, t in results] == [False, True, False]


def test_a_sequence_jump_restarts_the_window() -> None:
    fb = TransportFeedback(EXT, 0x77)
    fb.on_packet(numbered(1), SSRC, 0.0)
    fb.build(0.0)
    fb.on_packet(numbered(30_000), SSRC, 0.1)  # a jump of 30 000: not 30 000 losses
    assert [s for s, _ in reported(fb.build(0.1))] == [30_000]


def test_packets_without_the_extension_are_ignored() -> None:
    fb = TransportFeedback(EXT, 0x77)
    fb.on_packet(bytes(RtpPacket(pt=96, seq=1, ts=0, ssrc=SSRC, payload=DELTA)), SSRC, 0.0)
    other_id = bytes(
        RtpPacket(pt=96, seq=2, ts=0, ssrc=SSRC, payload=DELTA, extension_profile=0xBEDE, extension=b"\x51\x00\x01\x00")
    )
    fb.on_packet(other_id, SSRC, 0.0)
    assert not fb.due(1.0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=200),
    st.integers(min_value=0, max_value=0xFFFF),
    st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=20),
)
def test_every_number_is_reported_once_in_order_whatever_arrives(
    offsets: list[int], base: int, builds: list[int]
) -> None:
    """Arbitrary arrivals (reordered, duplicated, lossy) and feedback moments: the messages cover a
    contiguous run of numbers with no repeats, and every packet that arrived before its number was
    reported is reported received."""
    fb = TransportFeedback(EXT, 0x77)
    results: list[tuple[int, int | None]] = []
    t = 0.0
    for i, off in enumerate(offsets):
        t += 0.001
        fb.on_packet(numbered(base + off), SSRC, t)
        if builds[i % len(builds)] == 0:
            results += reported(fb.build(t))
    results += reported(fb.build(t + 1))
    unwrapped = [base + ((s - base) & 0xFFFF) for s, _ in results]
    assert unwrapped == list(range(unwrapped[0], unwrapped[0] + len(unwrapped)))  # contiguous, no repeats
    assert max(unwrapped) == base + max(offsets)
    received = {u for u, (_, at) in zip(unwrapped, results, strict=True) if at is not None}
    assert received <= {base + o for o in offsets}
    # each number that arrived is reported received, unless it came after it was reported (late)
    assert len(set(offsets)) <= len(received) + fb.late


# --- the router ------------------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.rtcp: list[bytes] = []

    def send_rtp(self, packet: bytes) -> None:
        pass

    def send_rtcp(self, packet: bytes) -> None:
        self.rtcp.append(packet)

    def feedback(self) -> list[TransportCc]:
        return [p for m in self.rtcp for p in iter_rtcp(m) if isinstance(p, TransportCc)]


def publisher(router: Router, *, twcc: bool = True) -> Sink:
    sink = Sink()
    router.add_up_track(
        "cam",
        kind="video",
        ssrc=SSRC,
        rtx_ssrc=RTX,
        codecs=[VP8],
        ext_ids={rtp_ext.URI_TRANSPORT_CC: EXT} if twcc else {},
        publisher=sink,
        publisher_key="alice",
    )
    return sink


def test_the_router_sends_feedback_at_its_cadence_and_flushes_on_tick() -> None:
    router = Router(rng=random.Random(1))
    sink = publisher(router)
    t = 10.0
    for tseq in range(40):  # 400 packets/s for 100 ms
        router.on_rtp("alice", numbered(tseq, tseq), t)
        t += 0.0025
    sent = sink.feedback()
    assert 2 <= len(sent) <= 3  # at once, then every 50 ms
    assert all(f.sender_ssrc == router.rtcp_ssrc for f in sent)
    router.tick(t + FEEDBACK_INTERVAL)  # the packets since the last message
    seqs = [s for f in sink.feedback() for s, _ in f.packet_results()]
    assert seqs == list(range(40))


def test_padding_probes_retransmissions_and_duplicates_are_reported() -> None:
    router = Router(rng=random.Random(1))
    sink = publisher(router)
    router.on_rtp("alice", numbered(1, 100), 1.0)
    router.on_rtp("alice", numbered(2, 100), 1.001)  # a duplicate media packet, numbered anew
    probe = bytes(
        RtpPacket(
            pt=97,
            seq=5,
            ts=0,
            ssrc=RTX,
            extension_profile=rtp_ext.ONE_BYTE_PROFILE,
            extension=rtp_ext.build_extensions({EXT: b"\x00\x03"})[1],
            padding_size=200,
        )
    )
    router.on_rtp("alice", probe, 1.002)
    router.tick(2.0)
    results = [(s, t is not None) for f in sink.feedback() for s, t in f.packet_results()]
    assert results == [(1, True), (2, True), (3, True)]
    assert router.drops["rtx_padding"] == 1 and router.drops["duplicate"] == 1


def test_no_feedback_without_the_extension_and_none_after_the_publisher_leaves() -> None:
    router = Router(rng=random.Random(1))
    sink = publisher(router, twcc=False)
    router.on_rtp("alice", numbered(1, 1), 1.0)
    router.tick(2.0)
    assert sink.feedback() == []
    router.remove_up_track("cam")
    sink = publisher(router)
    router.on_rtp("alice", numbered(1, 1), 3.0)
    assert len(sink.feedback()) == 1
    router.remove_up_track("cam")
    router.tick(4.0)
    assert len(sink.feedback()) == 1
