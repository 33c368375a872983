"""DownTrack: header-extension remapping, mute/pause, keyframe wait, counters."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hubbub.proto import rtp_ext
from hubbub.proto.rtcp import Pli, SenderReport, iter_rtcp
from hubbub.proto.rtp import RtpPacket
from hubbub.sfu import PacketCache, Router, ext_id_table
from hubbub.sfu.downtrack import DownTrackBase
from hubbub.sfu.layers import LayerInfo

OPUS = (111, "audio/opus", 48_000, None)
VP8 = (96, "video/VP8", 90_000, None)
KEY = b"\x10\x00\x9d\x01\x2a" + bytes(50)
DELTA = b"\x10\x01" + bytes(50)
LEVEL, TWCC, MID = rtp_ext.URI_AUDIO_LEVEL, rtp_ext.URI_TRANSPORT_CC, rtp_ext.URI_MID


class Sink:
    def __init__(self) -> None:
        self.rtp: list[bytes] = []
        self.rtcp: list[bytes] = []

    def send_rtp(self, packet: bytes) -> None:
        self.rtp.append(packet)

    def send_rtcp(self, packet: bytes) -> None:
        self.rtcp.append(packet)


def test_ext_id_table_is_none_when_numbering_agrees() -> None:
    assert ext_id_table({LEVEL: 1, TWCC: 3}, {LEVEL: 1, TWCC: 3}) is None
    assert ext_id_table({LEVEL: 1, MID: 4}, {LEVEL: 1}) is None  # unknown to the subscriber, unused ID
    table = ext_id_table({LEVEL: 1, TWCC: 3}, {LEVEL: 5, TWCC: 3})
    assert table is not None and (table[1], table[3]) == (5, 3)
    table = ext_id_table({LEVEL: 1, MID: 4}, {LEVEL: 1, TWCC: 4})  # ID 4 means another thing there
    assert table is not None and (table[1], table[4]) == (1, 0)


def audio_router(sub_ext: dict[str, int]) -> tuple[Router, Sink]:
    router = Router(rng=random.Random(11))
    router.add_up_track(
        "mic", kind="audio", ssrc=1, codecs=[OPUS], ext_ids={LEVEL: 1, MID: 4}, publisher=Sink(), publisher_key="p"
    )
    sink = Sink()
    router.subscribe("mic", "s", sink, ssrc=router.allocate_ssrc(), ext_ids=sub_ext)
    return router, sink


def packet_with_ext(seq: int) -> bytes:
    pkt = RtpPacket(pt=111, seq=seq, ts=seq * 960, ssrc=1, payload=b"opus")
    return bytes(pkt.with_extensions({1: rtp_ext.build_audio_level(True, 30), 4: b"0"}))


def test_extension_ids_are_remapped_when_they_differ() -> None:
    router, sink = audio_router({LEVEL: 7, TWCC: 4})
    router.on_rtp("p", packet_with_ext(10), 0.0)
    got = RtpPacket.parse(sink.rtp[0])
    exts = got.extensions()
    assert exts == {7: bytes([0x80 | 30])}  # level moved to 7; MID (4 is TWCC there) blanked
    assert got.payload == b"opus"
    assert len(sink.rtp[0]) == len(packet_with_ext(10))


def test_extensions_untouched_when_ids_agree() -> None:
    router, sink = audio_router({LEVEL: 1, MID: 4})
    original = packet_with_ext(10)
    router.on_rtp("p", original, 0.0)
    assert sink.rtp[0][12:] == original[12:]  # byte for byte after the fixed header


def test_malformed_extension_with_remap_is_dropped_not_raised() -> None:
    router, sink = audio_router({LEVEL: 7})
    # One-byte element claiming 16 bytes inside a one-word block.
    bad = bytes([0x90, 111, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0, 1, 0x4F, 0, 0, 0]) + b"opus"
    router.on_rtp("p", bad, 0.0)
    assert sink.rtp == []


def test_audio_mute_then_unmute_has_no_seq_gap() -> None:
    router = Router(rng=random.Random(1))
    router.add_up_track("mic", kind="audio", ssrc=1, codecs=[OPUS], publisher=Sink(), publisher_key="p")
    sink = Sink()
    dt = router.subscribe("mic", "s", sink, ssrc=router.allocate_ssrc())
    for seq in range(0, 50):
        if seq == 10:
            dt.set_muted(True)
        if seq == 30:
            dt.set_muted(False)
        router.on_rtp("p", bytes(RtpPacket(pt=111, seq=seq, ts=seq * 960, ssrc=1, payload=b"a")), seq * 0.02)
    got = [RtpPacket.parse(p) for p in sink.rtp]
    assert len(got) == 30
    assert [(p.seq - got[0].seq) & 0xFFFF for p in got] == list(range(30))
    # The clock kept running while muted: the jump in ts equals the real elapsed time.
    assert (got[10].ts - got[9].ts) & 0xFFFFFFFF == 21 * 960


def test_video_unmute_and_unpause_wait_for_a_keyframe() -> None:
    router = Router(rng=random.Random(1))
    pub = Sink()
    router.add_up_track("cam", kind="video", ssrc=1, codecs=[VP8], publisher=pub, publisher_key="p")
    sink = Sink()
    dt = router.subscribe("cam", "s", sink, ssrc=router.allocate_ssrc())

    def send(seq: int, payload: bytes, t: float) -> None:
        router.on_rtp("p", bytes(RtpPacket(pt=96, seq=seq, ts=seq * 3000, ssrc=1, payload=payload)), t)

    send(1, KEY, 0.0)
    send(2, DELTA, 0.03)
    dt.set_paused(True)
    assert dt.paused
    send(3, DELTA, 0.06)
    dt.set_paused(False)
    assert dt.waiting_keyframe
    send(4, DELTA, 1.0)  # dropped: not a keyframe; a PLI goes to the publisher
    plis = [p for data in pub.rtcp for p in iter_rtcp(data) if isinstance(p, Pli)]
    assert len(plis) == 1
    send(5, KEY, 1.1)
    got = [RtpPacket.parse(p) for p in sink.rtp]
    assert [p.payload for p in got] == [KEY, DELTA, KEY]
    assert (got[2].seq - got[1].seq) & 0xFFFF == 1  # no gap for the dropped stretch
    assert dt.packets_sent == 3
    assert dt.packets_dropped == 1  # seq 4 (seq 3 arrived while paused)


def test_replaced_publisher_gives_one_continuous_stream() -> None:
    router = Router(rng=random.Random(4))
    old_pub, new_pub, sink = Sink(), Sink(), Sink()
    router.add_up_track("cam", kind="video", ssrc=1, codecs=[VP8], publisher=old_pub, publisher_key="p")
    dt = router.subscribe("cam", "s", sink, ssrc=router.allocate_ssrc())
    for seq in range(3):
        router.on_rtp("p", bytes(RtpPacket(pt=96, seq=seq, ts=seq * 3000, ssrc=1, payload=KEY)), seq * 0.033)
    # The publisher reconnects: new SSRC, new seq/ts space, 0.5 s after its last packet.
    up = router.replace_up_track(
        "cam", kind="video", ssrc=9, codecs=[VP8], publisher=new_pub, publisher_key="p2", now=0.5
    )
    assert up.down_tracks == (dt,) and dt.up is up
    assert [p for data in new_pub.rtcp for p in iter_rtcp(data) if isinstance(p, Pli)] == [Pli(router.rtcp_ssrc, 9)]
    router.on_rtp("p2", bytes(RtpPacket(pt=96, seq=40_000, ts=777, ssrc=9, payload=DELTA)), 0.566)
    assert len(sink.rtp) == 3  # waits for a keyframe
    router.on_rtp("p2", bytes(RtpPacket(pt=96, seq=40_001, ts=777, ssrc=9, payload=KEY)), 0.566)
    got = [RtpPacket.parse(p) for p in sink.rtp]
    assert {p.ssrc for p in got} == {dt.ssrc}
    assert (got[3].seq - got[2].seq) & 0xFFFF == 1
    assert (got[3].ts - got[2].ts) & 0xFFFFFFFF == round((0.566 - 0.066) * 90_000)
    router.on_rtp("p", bytes(RtpPacket(pt=96, seq=3, ts=9000, ssrc=1, payload=DELTA)), 0.6)
    assert len(sink.rtp) == 4 and router.drops["unknown_ssrc"] == 1  # the old source is gone
    assert not dt.retransmit(got[2].seq)  # packets of the old source cannot be resent
    assert dt.retransmit(got[3].seq)


@dataclass
class FakeSource:
    """Only what a down-track reads of its up-track (``downtrack.Source``): no router, no UpTrack."""

    kind: str = "video"
    clock_rate: int = 90_000
    ext_ids: dict[str, int] = field(default_factory=dict)
    cache: PacketCache = field(default_factory=lambda: PacketCache(64))
    keyframe_pending: bool = False
    sr_ntp: int = 0
    sr_rtp: int = 0
    sr_time: float | None = None
    spatial: int = 0
    simulcast: bool = False
    vp8_pts: frozenset[int] = frozenset()

    @property
    def layers(self) -> tuple[FakeSource]:
        return (self,)

    def layer_infos(self, now: float) -> tuple[LayerInfo, ...]:
        return (LayerInfo(0, None, True, 0, 0, ()),)


def test_a_down_track_runs_on_any_source() -> None:
    source, sink = FakeSource(), Sink()
    dt = DownTrackBase(
        source,
        "s",
        sink,
        ssrc=0xABC,
        rtx_ssrc=None,
        pt_map={96: 100},
        rtx_pt=None,
        ext_ids={},
        seq_base=500,
        ts_base=7000,
        rtx_seq_base=0,
        cname="sub",
    )
    assert dt.up is source and dt.waiting_keyframe  # video: waits for a keyframe
    for seq, payload in ((10, DELTA), (11, KEY), (12, DELTA)):
        packet = bytes(RtpPacket(pt=96, seq=seq, ts=seq * 3000, ssrc=1, payload=payload))
        source.cache.put(seq, packet)
        head = (packet[0] << 8) | (packet[1] & 0x80)
        dt.write_rtp(packet, head, packet[12:], 96, seq, seq * 3000, payload is KEY, len(payload), seq / 30)
    first, second = (RtpPacket.parse(p) for p in sink.rtp)
    assert (first.ssrc, first.pt, first.payload) == (0xABC, 100, KEY)
    assert second.seq == (first.seq + 1) & 0xFFFF and second.ts - first.ts == 3000
    assert (dt.packets_sent, dt.packets_dropped) == (2, 1)
    # The SR extrapolates the source's last SR (RFC 3550 §6.4.1); pausing asks the source for a keyframe.
    source.sr_ntp, source.sr_rtp, source.sr_time = 5 << 32, 36_000, 0.4
    report = dt.sender_report(0.5, 0.0)
    assert report is not None
    sr = next(p for p in iter_rtcp(report) if isinstance(p, SenderReport))
    assert (sr.ntp_sec, sr.packet_count) == (5, 2)
    dt.set_paused(True)
    dt.set_paused(False)
    assert source.keyframe_pending and dt.waiting_keyframe
