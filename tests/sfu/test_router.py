"""Router end to end with fake sinks: fan-out, PT mapping, NACK/RTX, PLI, SR/RR, RTX unwrap, fuzz."""

from __future__ import annotations

import random
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.proto import rtp_ext
from hubbub.proto.rtcp import (
    Bye,
    Fir,
    GenericNack,
    Pli,
    ReceiverReport,
    ReportBlock,
    Sdes,
    SenderReport,
    TransportCc,
    iter_rtcp,
    ntp_middle32,
)
from hubbub.proto.rtcp import Remb as RembMsg
from hubbub.proto.rtp import RtpPacket, rtx_wrap
from hubbub.sfu import DownTrack, Router, RouterConfig, UpTrack

T = TypeVar("T")
VP8 = (96, "video/VP8", 90_000, 97)
OPUS = (111, "audio/opus", 48_000, None)
KEY = b"\x10\x00\x9d\x01\x2a" + bytes(range(200))  # VP8: S=1, PID=0, P=0 (RFC 7741 §4.3)
DELTA = b"\x10\x01" + bytes(range(200))  # P=1: inter frame
PUB_SSRC = 0x1111
PUB_RTX = 0x2222


class Sink:
    """A transport stand-in that keeps what the router sends."""

    def __init__(self) -> None:
        self.rtp: list[bytes] = []
        self.rtcp: list[bytes] = []

    def send_rtp(self, packet: bytes) -> None:
        assert isinstance(packet, bytes)
        self.rtp.append(packet)

    def send_rtcp(self, packet: bytes) -> None:
        assert isinstance(packet, bytes)
        self.rtcp.append(packet)

    def parsed(self) -> list[RtpPacket]:
        return [RtpPacket.parse(p) for p in self.rtp]

    def rtcp_of(self, kind: type[T]) -> list[T]:
        return [p for data in self.rtcp for p in iter_rtcp(data) if isinstance(p, kind)]


def rtp(
    seq: int, ts: int, payload: bytes = DELTA, *, pt: int = 96, ssrc: int = PUB_SSRC, marker: bool = False
) -> bytes:
    return bytes(RtpPacket(pt=pt, seq=seq & 0xFFFF, ts=ts & 0xFFFFFFFF, ssrc=ssrc, payload=payload, marker=marker))


def video_room(
    n: int, *, rtx: bool = True, config: RouterConfig | None = None
) -> tuple[Router, Sink, UpTrack, list[tuple[Sink, DownTrack]]]:
    router = Router(config, rng=random.Random(7))
    pub = Sink()
    up = router.add_up_track(
        "cam", kind="video", ssrc=PUB_SSRC, rtx_ssrc=PUB_RTX, codecs=[VP8], publisher=pub, publisher_key="alice"
    )
    subs = []
    for i in range(n):
        sink = Sink()
        dt = router.subscribe(
            "cam",
            f"sub{i}",
            sink,
            ssrc=router.allocate_ssrc(),
            rtx_ssrc=router.allocate_ssrc() if rtx else None,
            rtx_pt=97 if rtx else None,
        )
        subs.append((sink, dt))
    return router, pub, up, subs


def audio_room(n: int) -> tuple[Router, Sink, list[tuple[Sink, DownTrack]]]:
    router = Router(rng=random.Random(3))
    pub = Sink()
    router.add_up_track("mic", kind="audio", ssrc=PUB_SSRC, codecs=[OPUS], publisher=pub, publisher_key="alice")
    subs = []
    for i in range(n):
        sink = Sink()
        subs.append((sink, router.subscribe("mic", f"sub{i}", sink, ssrc=router.allocate_ssrc())))
    return router, pub, subs


# --- fan-out -------------------------------------------------------------------------------------


def test_one_publisher_to_three_subscribers() -> None:
    router, _pub, subs = audio_room(3)
    payloads = [bytes([i]) * 160 for i in range(10)]
    for i, payload in enumerate(payloads):
        router.on_rtp("alice", rtp(65_530 + i, 1_000 + 960 * i, payload, pt=111), i * 0.02)
    ssrcs = set()
    bases = set()
    for sink, dt in subs:
        got = sink.parsed()
        assert [p.payload for p in got] == payloads  # payload bytes identical
        assert {p.ssrc for p in got} == {dt.ssrc}
        seqs = [p.seq for p in got]
        assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(10)]  # continuous, own space
        assert [(p.ts - got[0].ts) & 0xFFFFFFFF for p in got] == [960 * i for i in range(10)]
        assert all(p.pt == 111 for p in got)
        assert dt.packets_sent == 10 and dt.octets_sent == 1600 and dt.bytes_sent == 1720
        ssrcs.add(dt.ssrc)
        bases.add((seqs[0], got[0].ts))
    assert len(ssrcs) == 3 and PUB_SSRC not in ssrcs
    assert len(bases) == 3  # random bases per subscriber


def test_payload_type_mapping_and_unmapped_types() -> None:
    router = Router(rng=random.Random(1))
    pub = Sink()
    router.add_up_track(
        "cam",
        kind="video",
        ssrc=PUB_SSRC,
        codecs=[VP8, (98, "video/H264", 90_000, None)],
        publisher=pub,
        publisher_key="alice",
    )
    same, other = Sink(), Sink()
    router.subscribe("cam", "s1", same, ssrc=router.allocate_ssrc())
    router.subscribe("cam", "s2", other, ssrc=router.allocate_ssrc(), pt_map={96: 120})
    router.on_rtp("alice", rtp(1, 0, KEY, marker=True), 0.0)
    router.on_rtp("alice", rtp(2, 3000, DELTA), 0.03)
    router.on_rtp("alice", rtp(3, 6000, b"\x65" + bytes(9), pt=98), 0.06)  # H264: not for s2
    assert [p.pt for p in same.parsed()] == [96, 96, 98]
    assert [p.pt for p in other.parsed()] == [120, 120]
    assert other.parsed()[0].marker  # the marker bit survives the PT rewrite
    assert not other.parsed()[1].marker
    router.on_rtp("alice", rtp(4, 6000, DELTA, pt=55), 0.09)  # not negotiated by the publisher
    assert router.drops["unknown_pt"] == 1


# --- NACK / RTX ----------------------------------------------------------------------------------


def start_video(router: Router, n: int = 20, t0: float = 0.0) -> list[bytes]:
    sent = [rtp(5000, 0, KEY, marker=True)]
    sent += [rtp(5000 + i, 3000 * i, DELTA + bytes([i])) for i in range(1, n)]
    for i, p in enumerate(sent):
        router.on_rtp("alice", p, t0 + i * 0.01)
    return sent


def test_nack_is_answered_with_rtx_carrying_the_subscriber_seq() -> None:
    router, _pub, _up, subs = video_room(2)
    start_video(router)
    sink, dt = subs[0]
    first = sink.parsed()
    assert len(first) == 20
    lost = [first[3], first[7]]
    nack = GenericNack.from_sequences(0xABC, dt.ssrc, [p.seq for p in lost])
    router.on_rtcp_from_subscriber("sub0", bytes(nack), 1.0)
    resent = sink.parsed()[20:]
    assert len(resent) == 2
    for original, rtx_pkt in zip(lost, resent, strict=True):
        assert rtx_pkt.ssrc == dt.rtx_ssrc and rtx_pkt.pt == 97  # RFC 4588 §4
        assert int.from_bytes(rtx_pkt.payload[:2], "big") == original.seq  # OSN
        assert rtx_pkt.payload[2:] == original.payload
        assert rtx_pkt.ts == original.ts
    assert resent[1].seq == (resent[0].seq + 1) & 0xFFFF  # RTX stream has its own seq
    assert dt.nacks_received == 2 and dt.retransmits == 2 and dt.nacks_unrecoverable == 0
    assert subs[1][0].parsed()[20:] == []  # nobody else gets it


def test_nack_without_rtx_resends_the_identical_packet() -> None:
    router, _pub, _up, subs = video_room(1, rtx=False)
    start_video(router)
    sink, dt = subs[0]
    original = sink.rtp[5]
    seq = RtpPacket.parse(original).seq
    router.on_rtcp_from_subscriber("sub0", bytes(GenericNack.from_sequences(1, dt.ssrc, [seq])), 1.0)
    assert sink.rtp[-1] == original


def test_nack_for_an_evicted_packet_is_counted() -> None:
    router, _pub, _up, subs = video_room(1, config=RouterConfig(video_cache_size=16))
    start_video(router, n=40)
    sink, dt = subs[0]
    oldest, newest = sink.parsed()[0].seq, sink.parsed()[-1].seq
    nack = GenericNack.from_sequences(1, dt.ssrc, [oldest, newest, (newest + 1) & 0xFFFF])
    router.on_rtcp_from_subscriber("sub0", bytes(nack), 1.0)
    assert len(sink.rtp) == 41  # only the newest one could be resent
    assert dt.nacks_unrecoverable == 2  # evicted, and never sent
    assert router.nacks_unrecoverable == 2


def test_nack_from_another_subscriber_is_ignored() -> None:
    router, _pub, _up, subs = video_room(2)
    start_video(router)
    sink, dt = subs[0]
    router.on_rtcp_from_subscriber("sub1", bytes(GenericNack.from_sequences(1, dt.ssrc, [sink.parsed()[2].seq])), 1)
    assert len(sink.rtp) == 20
    assert router.drops["unknown_ssrc_rtcp"] == 1


def test_rtx_from_publisher_is_unwrapped_and_fanned_out_as_the_original_seq() -> None:
    router, _pub, up, subs = video_room(2)
    router.on_rtp("alice", rtp(100, 0, KEY), 0.0)
    router.on_rtp("alice", rtp(101, 3000), 0.03)
    lost = rtp(102, 6000, DELTA + b"lost")
    router.on_rtp("alice", rtp(103, 9000), 0.09)
    router.on_rtp("alice", rtx_wrap(lost, PUB_RTX, 7, 97), 0.1)  # RFC 4588 from the publisher
    for sink, _dt in subs:
        got = sink.parsed()
        assert len(got) == 4
        base = got[0].seq
        assert got[3].seq == (base + 2) & 0xFFFF  # the hole the subscriber saw is filled
        assert got[3].payload == DELTA + b"lost"
        assert got[3].ts == (got[0].ts + 6000) & 0xFFFFFFFF
    assert up.rtx_packets == 1
    # The same packet again (a second retransmission) is a duplicate and not forwarded.
    router.on_rtp("alice", rtx_wrap(lost, PUB_RTX, 8, 97), 0.11)
    assert router.drops["duplicate"] == 1
    # Padding-only RTX probes carry no OSN (RFC 4588 §4): dropped and counted.
    probe = bytes(RtpPacket(pt=97, seq=9, ts=0, ssrc=PUB_RTX, padding_size=200))
    router.on_rtp("alice", probe, 0.12)
    assert router.drops["rtx_padding"] == 1
    assert all(len(sink.rtp) == 4 for sink, _ in subs)


# --- keyframes -----------------------------------------------------------------------------------


def test_new_video_subscription_waits_for_a_keyframe_and_requests_one() -> None:
    router, pub, up, subs = video_room(1)
    sink, dt = subs[0]
    assert dt.waiting_keyframe
    router.on_rtp("alice", rtp(10, 0), 0.0)
    router.on_rtp("alice", rtp(11, 3000), 0.03)
    assert sink.rtp == []
    plis = pub.rtcp_of(Pli)
    assert [(p.sender_ssrc, p.media_ssrc) for p in plis] == [(router.rtcp_ssrc, PUB_SSRC)]
    router.on_rtp("alice", rtp(12, 6000, KEY), 0.06)
    router.on_rtp("alice", rtp(13, 9000), 0.09)
    got = sink.parsed()
    assert [p.payload for p in got] == [KEY, DELTA]
    assert [p.seq for p in got] == [dt.munger.last_seq - 1 & 0xFFFF, dt.munger.last_seq]
    assert not dt.waiting_keyframe and dt.packets_dropped == 2
    assert up.keyframes == 1
    router.tick(1.0)
    assert len(pub.rtcp_of(Pli)) == 1  # the keyframe came: no further request


def test_plis_from_five_subscribers_give_one_pli() -> None:
    router, pub, up, subs = video_room(5)
    start_video(router)  # keyframe flows; the subscription requests are satisfied
    pub.rtcp.clear()
    base = 2.0
    for i, (_sink, dt) in enumerate(subs):
        router.on_rtcp_from_subscriber(f"sub{i}", bytes(Pli(0x99, dt.ssrc)), base + i * 0.02)
    assert len(pub.rtcp_of(Pli)) == 1
    assert sum(dt.plis_received for _s, dt in subs) == 5
    # No keyframe arrived: the throttled requests go out once the interval has passed.
    router.tick(base + 0.3)
    assert len(pub.rtcp_of(Pli)) == 1
    router.tick(base + 0.5)
    assert len(pub.rtcp_of(Pli)) == 2
    # FIR (RFC 5104) is handled like PLI.
    router.on_rtcp_from_subscriber("sub0", bytes(Fir(0x99, ((subs[0][1].ssrc, 1),))), base + 1.1)
    assert len(pub.rtcp_of(Pli)) == 3
    assert up.keyframe_requests == 3
    router.request_keyframe("cam", base + 1.2)  # throttled
    assert len(pub.rtcp_of(Pli)) == 3


def test_a_subscriber_gets_a_fresh_keyframe_when_it_can_receive() -> None:
    """Until the subscriber is connected and has the track in an accepted offer, nothing it is
    sent reaches a decoder: then its video restarts on a keyframe requested at once, past the
    throttle, and continues its sequence with no hole."""
    router, pub, up, _subs = video_room(0)
    sink = Sink()
    dt = router.subscribe("cam", "late", sink, ssrc=router.allocate_ssrc(), receiving=False)
    router.on_rtp("alice", rtp(100, 0), 0.0)
    assert pub.rtcp_of(Pli) == []  # nobody can use a keyframe yet
    router.on_rtp("alice", rtp(101, 3000, KEY), 0.01)  # sent into the void (not connected yet)
    router.on_rtp("alice", rtp(102, 6000), 0.02)
    assert len(sink.rtp) == 2 and not dt.waiting_keyframe
    last_seq = dt.munger.last_seq
    router.start_receiving("cam", "late", 0.05)
    assert dt.receiving and dt.waiting_keyframe
    assert len(pub.rtcp_of(Pli)) == 1 and up.keyframe_requests == 1
    router.on_rtp("alice", rtp(103, 9000), 0.06)
    assert len(sink.rtp) == 2  # deltas wait for the keyframe
    router.on_rtp("alice", rtp(104, 12000, KEY), 0.1)
    router.on_rtp("alice", rtp(105, 15000), 0.13)
    got = sink.parsed()[2:]
    assert [p.payload for p in got] == [KEY, DELTA]
    assert [p.seq for p in got] == [(last_seq + 1) & 0xFFFF, (last_seq + 2) & 0xFFFF]  # no hole to NACK


def test_start_receiving_shares_a_request_on_its_way_and_retries_an_unanswered_one() -> None:
    router, pub, up, subs = video_room(1)
    start_video(router)  # sub0 receives; its subscription request was answered
    pub.rtcp.clear()
    late = [(Sink(), "a"), (Sink(), "b")]
    downs = [router.subscribe("cam", key, sink, ssrc=router.allocate_ssrc(), receiving=False) for sink, key in late]
    router.start_receiving("cam", "a", 1.0)
    assert len(pub.rtcp_of(Pli)) == 1  # past the throttle: the last request was long ago
    router.start_receiving("cam", "b", 1.05)
    assert len(pub.rtcp_of(Pli)) == 1  # one is on its way, no keyframe since: share it
    router.tick(1.2)
    assert len(pub.rtcp_of(Pli)) == 1
    # The publisher ignored it (libwebrtc does within 300 ms of its last keyframe): ask again.
    router.tick(1.36)
    assert len(pub.rtcp_of(Pli)) == 2
    router.on_rtp("alice", rtp(5100, 900_000, KEY), 1.4)
    assert not any(dt.waiting_keyframe for dt in downs)
    router.tick(2.5)
    assert len(pub.rtcp_of(Pli)) == 2  # answered: nothing more
    assert subs[0][1].receiving and up.keyframe_requests == 2


def test_a_subscriber_that_never_connects_costs_the_publisher_no_keyframes() -> None:
    router, pub, _up, _subs = video_room(0)
    router.subscribe("cam", "ghost", Sink(), ssrc=router.allocate_ssrc(), receiving=False)
    for i in range(50):
        router.on_rtp("alice", rtp(10 + i, 3000 * i), i * 0.1)
        router.tick(i * 0.1)
    assert pub.rtcp_of(Pli) == []


def test_keyframe_arrival_cancels_a_throttled_request() -> None:
    router, pub, _up, subs = video_room(2)
    start_video(router)
    pub.rtcp.clear()
    router.on_rtcp_from_subscriber("sub0", bytes(Pli(1, subs[0][1].ssrc)), 2.0)
    router.on_rtcp_from_subscriber("sub1", bytes(Pli(1, subs[1][1].ssrc)), 2.1)
    router.on_rtp("alice", rtp(5100, 900_000, KEY), 2.2)
    router.tick(3.0)
    assert len(pub.rtcp_of(Pli)) == 1


# --- reports -------------------------------------------------------------------------------------


def test_sender_report_to_subscribers_follows_the_publisher_sr() -> None:
    router, _pub, _up, subs = video_room(2)
    start_video(router)  # ts 0 .. 57000 at t = 0 .. 0.19
    sr_ntp_sec, sr_ntp_frac, sr_rtp = 3_900_000_000, 0x4000_0000, 123_456  # NTP x.25 s
    sr = SenderReport(PUB_SSRC, sr_ntp_sec, sr_ntp_frac, sr_rtp, 20, 4000)
    router.on_rtcp_from_publisher("alice", bytes(sr) + bytes(Sdes.with_cname(PUB_SSRC, "x")), 0.25)
    router.tick(1.0)  # 0.75 s after the SR arrived
    for sink, dt in subs:
        reports = sink.rtcp_of(SenderReport)
        assert len(reports) == 1
        out = reports[0]
        offset = (sink.parsed()[0].ts - 0) & 0xFFFFFFFF  # subscriber ts - publisher ts
        assert out.ssrc == dt.ssrc
        assert out.rtp_ts == (sr_rtp + 67_500 + offset) & 0xFFFFFFFF  # 0.75 s x 90 kHz
        assert (out.ntp_sec, out.ntp_frac) == (sr_ntp_sec + 1, 0)  # x.25 + 0.75
        assert (out.packet_count, out.octet_count) == (20, dt.octets_sent)
        sdes = sink.rtcp_of(Sdes)
        assert sdes[0].chunks[0].ssrc == dt.ssrc and sdes[0].chunks[0].cname == "alice"
    router.tick(1.5)
    assert all(len(sink.rtcp_of(SenderReport)) == 1 for sink, _ in subs)  # ~1 s apart
    router.tick(2.0)
    assert all(len(sink.rtcp_of(SenderReport)) == 2 for sink, _ in subs)


def test_sender_report_before_any_publisher_sr_uses_the_local_clock() -> None:
    router = Router(RouterConfig(wall_clock_offset=1_700_000_000.0), rng=random.Random(2))
    pub, sink = Sink(), Sink()
    router.add_up_track("mic", kind="audio", ssrc=PUB_SSRC, codecs=[OPUS], publisher=pub, publisher_key="a")
    dt = router.subscribe("mic", "s", sink, ssrc=router.allocate_ssrc())
    router.tick(0.0)
    assert sink.rtcp == []  # nothing sent yet: no SR
    router.on_rtp("a", rtp(1, 0, b"x", pt=111), 10.0)
    router.tick(10.5)
    (sr,) = sink.rtcp_of(SenderReport)
    assert sr.rtp_ts == (dt.munger.last_ts + 24_000) & 0xFFFFFFFF
    assert sr.ntp_sec == 1_700_000_010 + 2_208_988_800


def test_receiver_report_to_the_publisher_reports_injected_loss() -> None:
    router, pub, _up, _subs = video_room(1)
    sr = SenderReport(PUB_SSRC, 3_900_000_000, 0x8000_0000, 0, 0, 0)
    router.on_rtcp_from_publisher("alice", bytes(sr), 0.5)
    lost = {10, 11, 50, 77, 90}
    for i in range(100):
        if i not in lost:
            router.on_rtp("alice", rtp(65_500 + i, 3000 * i, KEY if i == 0 else DELTA), i * 0.01)
    router.tick(1.5)
    (rr,) = pub.rtcp_of(ReceiverReport)
    assert rr.ssrc == router.rtcp_ssrc
    (block,) = rr.reports
    assert block.ssrc == PUB_SSRC
    assert block.fraction_lost == 5 * 256 // 100
    assert block.packets_lost == 5
    assert block.highest_seq == (1 << 16) + (65_500 + 99 - 65_536)  # one wrap
    assert block.lsr == ntp_middle32(3_900_000_000, 0x8000_0000)
    assert block.dlsr == 65_536  # 1.0 s after the SR
    assert pub.rtcp_of(Sdes)[0].chunks[0].cname == "hubbub-sfu"
    router.tick(2.0)
    assert len(pub.rtcp_of(ReceiverReport)) == 1
    router.tick(2.5)
    second = pub.rtcp_of(ReceiverReport)[1].reports[0]
    assert (second.fraction_lost, second.packets_lost) == (0, 5)


def test_receiver_report_from_a_subscriber_gives_rtt() -> None:
    router, _pub, _up, subs = video_room(1)
    start_video(router)
    router.tick(1.0)
    sink, dt = subs[0]
    (sr,) = sink.rtcp_of(SenderReport)
    block = ReportBlock(dt.ssrc, 12, 3, 999, 40, sr.lsr, 6_554)  # DLSR 0.1 s
    router.on_rtcp_from_subscriber("sub0", bytes(ReceiverReport(0x77, (block,))), 1.25)
    assert dt.rtt is not None and abs(dt.rtt - 0.15) < 1e-3
    assert (dt.fraction_lost, dt.packets_lost, dt.jitter) == (12, 3, 40)


def test_remb_and_twcc_from_a_subscriber_are_left_to_its_transport() -> None:
    """The router reads neither (transport-wide CC feedback is the subscriber transport's, REMB is
    not offered to subscribers) and counts neither as a drop; NACKs beside them still work."""
    router, _pub, _up, subs = video_room(1)
    dt = subs[0][1]
    remb = bytes(RembMsg(0x77, 1_500_000, (dt.ssrc,)))
    twcc = bytes(TransportCc.from_arrivals(0x77, dt.ssrc, {1: 1000, 2: 2000}, 0))
    nack = GenericNack.from_sequences(0x77, dt.ssrc, [1])
    router.on_rtcp_from_subscriber("sub0", remb + twcc + bytes(nack), 1.0)
    assert not router.drops
    assert dt.nacks_received == 1


# --- membership ----------------------------------------------------------------------------------


def test_unsubscribe_stops_forwarding_and_says_bye() -> None:
    router, _pub, up, subs = video_room(2)
    start_video(router, n=3)
    sink, dt = subs[0]
    assert router.unsubscribe("cam", "sub0") is dt
    assert router.unsubscribe("cam", "sub0") is None
    assert sink.rtcp_of(Bye)[0].ssrcs == (dt.ssrc, dt.rtx_ssrc)
    router.on_rtp("alice", rtp(5003, 9000), 1.0)
    assert len(sink.rtp) == 3 and len(subs[1][0].rtp) == 4
    assert up.down_tracks == (subs[1][1],)
    assert router.remove_up_track("cam") is up
    assert router.up_track("cam") is None
    router.on_rtp("alice", rtp(5004, 12000), 1.1)
    assert router.drops["unknown_ssrc"] == 1


def test_publisher_bye_marks_the_track() -> None:
    router, _pub, up, _subs = video_room(1)
    router.on_rtcp_from_publisher("alice", bytes(Bye((PUB_SSRC,))), 1.0)
    assert up.bye_received


def test_allocated_ssrcs_never_collide() -> None:
    class Repeating(random.Random):
        """A poor generator that repeats itself and offers 0 and a publisher's SSRC."""

        def __init__(self) -> None:
            super().__init__(1)
            self.values = [PUB_SSRC, 0, 0x3333, 5, 5, 6, 6, 7]

        def getrandbits(self, k: int) -> int:
            return self.values.pop(0) if k == 32 and self.values else super().getrandbits(k)

    rng = Repeating()
    router = Router(rng=rng)  # takes PUB_SSRC as its own RTCP SSRC
    rng.values = [PUB_SSRC, 0, 0x3333, 5, 5, 6, 6, 7]
    router.add_up_track("m", kind="audio", ssrc=0x3333, codecs=[OPUS], publisher=Sink(), publisher_key="a")
    got = [router.allocate_ssrc() for _ in range(2)]
    assert router.rtcp_ssrc == PUB_SSRC
    assert got == [5, 6]  # skipped: taken, zero, a publisher's, and repeats


def test_many_allocations_are_unique() -> None:
    router = Router(rng=random.Random(0))
    ssrcs = {router.allocate_ssrc() for _ in range(5000)}
    assert len(ssrcs) == 5000 and 0 not in ssrcs and router.rtcp_ssrc not in ssrcs


def test_audio_level_feeds_active_speakers() -> None:
    router = Router(rng=random.Random(5))
    ext = {rtp_ext.URI_AUDIO_LEVEL: 1}
    for name, ssrc in (("a", 1), ("b", 2)):
        router.add_up_track(
            name, kind="audio", ssrc=ssrc, codecs=[OPUS], ext_ids=ext, publisher=Sink(), publisher_key=name
        )
    router.speakers.update(0.0)
    results = []
    for w in range(3):
        for i in range(15):
            for name, ssrc, level in (("a", 1, 40), ("b", 2, 15)):
                pkt = RtpPacket(pt=111, seq=w * 15 + i, ts=0, ssrc=ssrc, payload=b"o")
                pkt = pkt.with_extensions({1: rtp_ext.build_audio_level(True, level)})
                router.on_rtp(name, bytes(pkt), w * 0.3 + i * 0.02)
        results.append(router.speakers.update((w + 1) * 0.3))
    assert results[0] is None and results[2] is None  # starts after two windows, then unchanged
    assert results[1] is not None and [t for t, _ in results[1]] == ["b", "a"]


# --- robustness ----------------------------------------------------------------------------------


def fuzz_room() -> tuple[Router, list[tuple[Sink, DownTrack]]]:
    router, _pub, _up, subs = video_room(2)
    router.add_up_track(
        "mic",
        kind="audio",
        ssrc=0x5555,
        codecs=[OPUS],
        ext_ids={rtp_ext.URI_AUDIO_LEVEL: 1},
        publisher=Sink(),
        publisher_key="alice",
    )
    sink = Sink()
    router.subscribe("mic", "sub0", sink, ssrc=router.allocate_ssrc(), ext_ids={rtp_ext.URI_AUDIO_LEVEL: 3})
    start_video(router, n=5)
    return router, subs


@st.composite
def rtp_like(draw: st.DrawFn) -> bytes:
    """Bytes that often get past the first checks: version 2, a known SSRC, random rest."""
    b0 = 0x80 | draw(st.integers(0, 0x3F))
    b1 = draw(st.sampled_from([96, 97, 111, 0x80 | 96, 5]))
    ssrc = draw(st.sampled_from([PUB_SSRC, PUB_RTX, 0x5555, 42]))
    head = bytes([b0, b1]) + draw(st.binary(min_size=6, max_size=6)) + ssrc.to_bytes(4, "big")
    return head + draw(st.binary(max_size=80))


@settings(deadline=None, max_examples=400)
@given(data=st.one_of(st.binary(max_size=120), rtp_like()))
def test_router_never_raises_on_arbitrary_rtp(data: bytes) -> None:
    router, subs = fuzz_room()
    before = sum(router.drops.values()), sum(len(s.rtp) for s, _ in subs)
    router.on_rtp("alice", data, 5.0)
    router.on_rtp("nobody", data, 5.0)
    after = sum(router.drops.values()), sum(len(s.rtp) for s, _ in subs)
    assert after[0] >= before[0] + 1  # "nobody" is always a counted drop
    router.tick(6.0)


@st.composite
def rtcp_like(draw: st.DrawFn) -> bytes:
    pt = draw(st.sampled_from([200, 201, 202, 203, 205, 206, 207]))
    fmt = draw(st.integers(0, 31))
    body = draw(st.binary(max_size=64))
    body += bytes(-len(body) % 4)
    words = draw(st.one_of(st.just(len(body) // 4), st.integers(0, 0xFFFF)))
    return bytes([0x80 | fmt, pt]) + words.to_bytes(2, "big") + body


@settings(deadline=None, max_examples=400)
@given(data=st.one_of(st.binary(max_size=120), rtcp_like(), st.lists(rtcp_like(), max_size=3).map(b"".join)))
def test_router_never_raises_on_arbitrary_rtcp(data: bytes) -> None:
    router, _subs = fuzz_room()
    router.on_rtcp_from_publisher("alice", data, 5.0)
    router.on_rtcp_from_publisher("nobody", data, 5.0)
    router.on_rtcp_from_subscriber("sub0", data, 5.0)
    router.on_rtcp_from_subscriber("sub1", data, 5.0)
    router.tick(6.0)
    assert router.drops["unknown_publisher"] == 1


@settings(deadline=None, max_examples=100)
@given(seqs=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=40))
def test_arbitrary_nacks_never_raise(seqs: list[int]) -> None:
    router, subs = fuzz_room()
    for i, (_sink, dt) in enumerate(subs):
        router.on_rtcp_from_subscriber(f"sub{i}", bytes(GenericNack.from_sequences(1, dt.ssrc, seqs)), 6.0)
        assert dt.nacks_received == len(GenericNack.from_sequences(1, dt.ssrc, seqs).lost_sequences())
        assert dt.retransmits + dt.nacks_unrecoverable + dt.resends_held == dt.nacks_received
