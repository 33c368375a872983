"""Simulcast through the router: layers bound from rid header extensions (RFC 8852), one
down-track per subscriber switching layers at key frames with a PLI on the way, temporal caps,
NACKs from the layer forwarded, and the stream a decoder sees kept continuous throughout."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.proto import rtp_ext
from hubbub.proto.rtcp import GenericNack, Pli, ReceiverReport, SenderReport, TransportCc, iter_rtcp
from hubbub.proto.rtp import RtpPacket, rtx_wrap
from hubbub.sfu import DownTrack, Router
from hubbub.sfu.forwarder import NativeForwarder
from hubbub.sfu.layers import LAYER_TIMEOUT, LayerInfo, quality_layer
from hubbub.sfu.vp8 import parse

MID, RID, RRID, TWCC = 1, 2, 3, 4
EXTS = {rtp_ext.URI_MID: MID, rtp_ext.URI_RID: RID, rtp_ext.URI_REPAIRED_RID: RRID, rtp_ext.URI_TRANSPORT_CC: TWCC}
VP8 = (96, "video/VP8", 90_000, 97)
RIDS = ("q", "h", "f")
SIZES = ((160, 90), (320, 180), (640, 360))
PATTERN = (0, 2, 1, 2)  # the temporal layers of three-layer VP8, picture by picture


class Sink:
    def __init__(self) -> None:
        self.rtp: list[bytes] = []
        self.rtcp: list[bytes] = []

    def send_rtp(self, packet: bytes) -> None:
        assert isinstance(packet, bytes)
        self.rtp.append(packet)

    def send_rtcp(self, packet: bytes) -> None:
        self.rtcp.append(packet)

    def plis(self) -> list[int]:
        return [p.media_ssrc for data in self.rtcp for p in iter_rtcp(data) if isinstance(p, Pli)]


@dataclass
class Encoder:
    """One simulcast layer as Chromium sends it: its own SSRC, seq, timestamps and VP8 counters."""

    spatial: int
    ssrc: int
    rtx_ssrc: int
    seq: int
    ts: int
    pid: int
    tl0: int = 0
    frame: int = 0
    rtx_seq: int = 0
    sent: dict[int, bytes] = field(default_factory=dict)

    def picture(self, key: bool, tseq: list[int]) -> list[bytes]:
        """Two packets of the next picture (a key frame when ``key``)."""
        if key:
            self.frame = 0
        tid = PATTERN[self.frame % 4]
        if tid == 0:
            self.tl0 = (self.tl0 + 1) & 0xFF
        sync = self.frame % 4 in (1, 2)
        x = bytes((0x80 | self.pid >> 8, self.pid & 0xFF, self.tl0, tid << 6 | (0x20 if sync else 0)))
        w, h = SIZES[self.spatial]
        if key:
            body = b"\x00\x00\x00\x9d\x01\x2a" + w.to_bytes(2, "little") + h.to_bytes(2, "little") + bytes(80)
        else:
            body = b"\x01" + bytes(90)
        packets = []
        for part, start in ((body[:50], True), (body[50:], False)):
            payload = bytes((0x90 if start else 0x80, 0xE0)) + x + part
            exts = {MID: b"0", RID: RIDS[self.spatial].encode(), TWCC: tseq[0].to_bytes(2, "big")}
            tseq[0] = (tseq[0] + 1) & 0xFFFF
            pkt = RtpPacket(pt=96, seq=self.seq, ts=self.ts, ssrc=self.ssrc, payload=payload, marker=not start)
            data = bytes(pkt.with_extensions(exts))
            self.sent[self.seq] = data
            packets.append(data)
            self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + 3000) & 0xFFFFFFFF
        self.pid = (self.pid + 1) & 0x7FFF
        self.frame += 1
        return packets

    def rtx(self, seq: int) -> bytes:
        """A retransmission of ``seq`` on the RTX SSRC, named by repaired-rtp-stream-id."""
        original = RtpPacket.parse(self.sent[seq])
        exts = {MID: b"0", RRID: RIDS[self.spatial].encode()}
        data = rtx_wrap(bytes(original.with_extensions(exts)), self.rtx_ssrc, self.rtx_seq, 97)
        self.rtx_seq += 1
        return data


class Call:
    """A router with one three-layer publisher and subscribers; time moves at 30 pictures/s."""

    def __init__(self, subscribers: int = 1, *, rng: int = 5, forwarder: NativeForwarder | None = None) -> None:
        self.router = Router(rng=random.Random(rng), forwarder=forwarder)
        self.pub = Sink()
        self.up = self.router.add_up_track("cam", **self.track())
        r = random.Random(rng)
        self.layers = [
            Encoder(i, 0x1000 + i, 0x2000 + i, r.getrandbits(16), r.getrandbits(32), r.getrandbits(15))
            for i in range(3)
        ]
        self.now = 1.0
        self.tseq = [0]
        self.subs: list[tuple[Sink, DownTrack]] = []
        for i in range(subscribers):
            sink = Sink()
            dt = self.router.subscribe(
                "cam", f"s{i}", sink, ssrc=self.router.allocate_ssrc(), rtx_ssrc=self.router.allocate_ssrc(), rtx_pt=97
            )
            self.subs.append((sink, dt))

    def track(self) -> dict[str, Any]:
        """The up-track as the publisher's offer names it (its layers' SSRCs are learned)."""
        return {
            "kind": "video",
            "ssrc": 0,
            "codecs": [VP8],
            "ext_ids": EXTS,
            "publisher": self.pub,
            "publisher_key": "alice",
            "rids": RIDS,
            "mid": "0",
        }

    def step(self, keys: tuple[int, ...] = (), layers: tuple[int, ...] = (0, 1, 2)) -> None:
        """One picture of each of ``layers`` (key frames on ``keys``), then the router's tick."""
        for i in layers:
            for packet in self.layers[i].picture(i in keys, self.tseq):
                self.router.on_rtp("alice", packet, self.now)
        self.now += 1 / 30
        self.router.tick(self.now)

    def run(self, n: int, keys: tuple[int, ...] = (), layers: tuple[int, ...] = (0, 1, 2)) -> None:
        self.step(keys, layers)
        for _ in range(n - 1):
            self.step((), layers)

    def answer_plis(self) -> tuple[int, ...]:
        """The layers the publisher was asked for a key frame since the last call."""
        wanted = {ssrc for ssrc in self.pub.plis()}
        self.pub.rtcp.clear()
        return tuple(e.spatial for e in self.layers if e.ssrc in wanted)


def decoded(sink: Sink) -> list[tuple[int, int, int, int, int, int, bool]]:
    """(seq, ts, picture id, tl0picidx, tid, width of the key frame or 0, frame start) per packet."""
    out = []
    for data in sink.rtp:
        p = RtpPacket.parse(data)
        d = parse(p.payload)
        assert d is not None
        key = p.payload[d.size + 3 : d.size + 6] == b"\x9d\x01\x2a" and d.frame_start
        width = int.from_bytes(p.payload[d.size + 6 : d.size + 8], "little") if key else 0
        out.append((p.seq, p.ts, d.picture_id, d.tl0picidx, d.tid, width, d.frame_start))
    return out


def assert_continuous(sink: Sink) -> None:
    """What a decoder needs of one stream: seq +1 per packet, timestamps that never go back,
    picture IDs +1 per picture, TL0PICIDX +1 per picture of layer 0, and whole pictures."""
    got = decoded(sink)
    assert got, "nothing was forwarded"
    assert got[0][5], "the stream starts with a key frame"
    for a, b in itertools.pairwise(got):
        assert b[0] == (a[0] + 1) & 0xFFFF
        assert 0 <= (b[1] - a[1]) & 0xFFFFFFFF < 0x80000000
        if b[6]:  # a new picture
            assert b[2] == (a[2] + 1) & 0x7FFF
            assert b[3] == ((a[3] + 1) & 0xFF if b[4] == 0 else a[3])
            assert (b[1] - a[1]) & 0xFFFFFFFF > 0
        else:
            assert (b[1], b[2], b[3]) == (a[1], a[2], a[3])


def widths(sink: Sink) -> list[int]:
    return [w for *_, w, _start in decoded(sink) if w]


# --- binding layers -------------------------------------------------------------------------------


def test_layers_are_learned_from_rtp_stream_ids_and_reported_on() -> None:
    call = Call(0)
    call.run(3, keys=(0, 1, 2))
    assert [layer.ssrc for layer in call.up.layers] == [0x1000, 0x1001, 0x1002]
    assert all(layer.packets == 6 for layer in call.up.layers) and call.up.packets == 18
    assert [(layer.width, layer.height) for layer in call.up.layers] == list(SIZES)
    enc = call.layers[1]
    call.router.on_rtp("alice", enc.rtx(enc.seq - 1), call.now)  # a duplicate, but it binds RTX
    assert call.up.layers[1].rtx_ssrc == 0x2001 and call.router.drops["duplicate"] == 1
    stray = bytes(RtpPacket(pt=96, seq=1, ts=0, ssrc=0x9999, payload=b"\x10\x00"))  # no rid
    call.router.on_rtp("alice", stray, call.now)
    assert call.router.drops["unknown_ssrc"] == 1
    call.router.tick(call.now + 2)
    reports = [p for data in call.pub.rtcp for p in iter_rtcp(data) if isinstance(p, ReceiverReport)]
    blocks = {b.ssrc for report in reports for b in report.reports}
    assert blocks == {0x1000, 0x1001, 0x1002}


def test_every_layer_packet_is_in_the_transport_wide_feedback() -> None:
    call = Call(1)
    call.run(4, keys=(0, 1, 2))
    call.router.tick(call.now + 1)
    feedback = [p for data in call.pub.rtcp for p in iter_rtcp(data) if isinstance(p, TransportCc)]
    reported = [s for f in feedback for s, _ in f.packet_results()]
    assert reported == list(range(call.tseq[0]))


# --- choosing layers ------------------------------------------------------------------------------


def test_a_subscriber_starts_on_the_top_layer_at_its_key_frame() -> None:
    call = Call(1)
    ((sink, dt),) = call.subs
    call.run(3)  # no key frame yet: nothing
    assert sink.rtp == [] and dt.current_layer == (-1, -1)
    assert call.answer_plis() == (2,)
    call.run(10, keys=(2,))
    assert widths(sink) == [640] and dt.current_layer == (2, 3)
    assert_continuous(sink)


def test_switching_up_waits_for_the_key_frame_it_asks_for_and_down_as_well() -> None:
    call = Call(1)
    ((sink, dt),) = call.subs
    assert call.router.set_target_layer("cam", "s0", 0, now=call.now)
    call.run(8, keys=(0, 1, 2))
    assert widths(sink) == [160]
    call.answer_plis()
    call.router.set_target_layer("cam", "s0", 2, now=call.now)
    assert call.answer_plis() == (2,)  # at once
    call.run(6)  # no key frame of layer 2 yet: layer 0 keeps flowing
    assert widths(sink) == [160] and dt.current_layer[0] == 0
    n = len(sink.rtp)
    assert n == 8 * 2 + 6 * 2
    call.run(6, keys=(2,))
    assert widths(sink) == [160, 640] and dt.current_layer[0] == 2
    call.router.set_target_layer("cam", "s0", 1, now=call.now + 0.6)  # past the throttle
    call.now += 0.6
    assert call.answer_plis() == (1,)
    call.run(5, keys=(1,))
    assert widths(sink) == [160, 640, 320]
    assert_continuous(sink)


def test_unanswered_key_frame_requests_are_repeated() -> None:
    call = Call(1)
    call.router.set_target_layer("cam", "s0", 0, now=call.now)
    call.run(4, keys=(0, 1, 2))
    call.answer_plis()
    call.router.set_target_layer("cam", "s0", 1, now=call.now)
    call.run(30)  # a second without a key frame of layer 1
    assert call.answer_plis() == (1,)
    assert call.up.layers[1].keyframe_requests >= 2


def test_a_temporal_cap_drops_pictures_and_leaves_no_gap() -> None:
    call = Call(2)
    (capped, low), (full, _) = call.subs
    call.router.set_target_layer("cam", "s0", 1, 0, now=call.now)
    call.run(16, keys=(0, 1, 2))
    assert widths(capped) == [320]
    assert {tid for *_, tid, _w, _s in decoded(capped)} == {0}
    assert len(capped.rtp) == 4 * 2  # one picture in four
    assert {tid for *_, tid, _w, _s in decoded(full)} == {0, 1, 2}
    assert_continuous(capped)
    assert_continuous(full)
    call.router.set_target_layer("cam", "s0", 1, 1, now=call.now)  # frame rate up: from a sync picture
    call.run(8)
    assert {tid for *_, tid, _w, _s in decoded(capped)[8:]} == {0, 1}
    assert_continuous(capped)
    assert low.current_layer == (1, 1) and low.target_layer == (1, 1)


def test_nacks_are_answered_from_the_layer_forwarded_as_it_was_sent() -> None:
    call = Call(1)
    ((sink, dt),) = call.subs
    call.router.set_target_layer("cam", "s0", 1, now=call.now)
    call.run(6, keys=(0, 1, 2))
    sent = RtpPacket.parse(sink.rtp[-3])
    call.router.on_rtcp_from_subscriber("s0", bytes(GenericNack.from_sequences(1, dt.ssrc, [sent.seq])), call.now)
    resent = RtpPacket.parse(sink.rtp[-1])
    assert resent.ssrc == dt.rtx_ssrc and resent.payload[2:] == sent.payload
    assert int.from_bytes(resent.payload[:2], "big") == sent.seq


def test_a_layer_the_publisher_stops_is_stood_in_for() -> None:
    call = Call(1)
    ((sink, dt),) = call.subs
    call.run(4, keys=(0, 1, 2))
    call.answer_plis()
    call.run(int(LAYER_TIMEOUT * 30) + 3, layers=(0, 1))  # the top layer stops (CPU, bandwidth)
    assert call.answer_plis() == (1,)
    call.run(3, keys=(1,), layers=(0, 1))
    assert dt.current_layer[0] == 1 and dt.target_layer[0] == 2
    call.run(3, keys=(2,))  # it comes back: so does the subscriber, at its next key frame
    assert widths(sink) == [640, 320, 640]
    assert_continuous(sink)
    call.run(20)
    infos = dt.available_layers(call.now)
    assert [(i.rid, i.active, i.width) for i in infos] == [("q", True, 160), ("h", True, 320), ("f", True, 640)]
    assert all(len(i.bitrates) == 3 and i.bitrates[0] < i.bitrates[2] for i in infos)


def test_simulcast_down_tracks_stay_off_the_native_fan_out() -> None:
    class Entry:
        dropping = waiting_keyframe = slow = 0
        munger = (0, 0, 0.0, 0, 0, False)
        counters = (0, 0, 0, 0)

    class NativeSink(Sink):
        def fanout_entry(self, ssrc: int, pt_map: bytes) -> Entry:
            return Entry()

    class Fanout:
        def group(self) -> object:
            raise AssertionError("no group for a simulcast track")

    call = Call(0, forwarder=NativeForwarder(Fanout()))  # type: ignore[arg-type]
    dt = call.router.subscribe("cam", "s", NativeSink(), ssrc=call.router.allocate_ssrc())
    call.router.start_receiving("cam", "s", call.now)
    assert not dt.native
    call.run(3, keys=(2,))
    assert dt.packets_sent == 6


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 3), st.sets(st.integers(0, 2), max_size=3), st.integers(1, 6)),
        min_size=1,
        max_size=12,
    ),
    st.integers(0, 1000),
)
def test_whatever_is_asked_the_subscriber_sees_one_stream(
    script: list[tuple[int, int, set[int], int]], seed: int
) -> None:
    call = Call(1, rng=seed)
    ((sink, _dt),) = call.subs
    call.run(2, keys=(0, 1, 2))
    for spatial, temporal, keys, pictures in script:
        call.router.set_target_layer("cam", "s0", spatial, temporal, now=call.now)
        call.run(pictures, keys=tuple(keys))
    if sink.rtp:
        assert_continuous(sink)


def test_a_wished_quality_or_size_names_a_layer() -> None:
    known = [LayerInfo(i, r, True, w, h, ()) for i, (r, (w, h)) in enumerate(zip(RIDS, SIZES, strict=True))]
    assert [quality_layer(q, known) for q in ("low", "medium", "high")] == [0, 1, 2]
    assert quality_layer("high", known, 320, 180) == 1 and quality_layer("high", known, 321, 100) == 2
    assert quality_layer("low", known, 2000, 2000) == 2  # larger than any: the top one
    assert quality_layer("medium", known[:2]) == 1
    unknown = [LayerInfo(i, r, False, 0, 0, ()) for i, r in enumerate(RIDS)]
    assert quality_layer("high", unknown, 600, 300, top=(1280, 720)) == 1


def test_a_switch_keeps_the_capture_clock_through_the_sender_reports() -> None:
    """Each layer has its own RTP clock offset; their SRs tie them to one NTP clock, so the key
    frame after a switch is stamped where its capture instant is, whenever it arrives."""
    call = Call(1)
    ((sink, _dt),) = call.subs
    call.router.set_target_layer("cam", "s0", 0, now=call.now)
    call.run(3, keys=(0, 1, 2))
    for e in call.layers:  # every layer's next picture is captured at NTP time 1000 s
        sr = SenderReport(e.ssrc, 1000, 0, e.ts, 0, 0)
        call.router.on_rtcp_from_publisher("alice", bytes(sr), call.now)
    call.router.set_target_layer("cam", "s0", 2, now=call.now)
    for packet in call.layers[0].picture(False, call.tseq):  # picture 3 of layer 0, on time
        call.router.on_rtp("alice", packet, call.now)
    call.now += 0.2  # and layer 2's key frame of the same instant 200 ms late
    for packet in call.layers[2].picture(True, call.tseq):
        call.router.on_rtp("alice", packet, call.now)
    call.step(layers=(2,))  # the next picture, 33 ms on
    got = decoded(sink)
    assert [w for *_, w, _s in got if w] == [160, 640]
    stamps = [ts for _seq, ts, _p, _t, _tid, _w, start in got if start]
    # the key frame is of the instant layer 0's last picture was: one tick on, not 200 ms
    assert [(b - a) & 0xFFFFFFFF for a, b in itertools.pairwise(stamps)] == [3000, 3000, 3000, 1, 3000]
    assert_continuous(sink)


def test_a_replaced_publisher_keeps_the_subscriber_on_one_stream() -> None:
    """A publisher that reconnects brings new SSRCs for the same rids: the layers are learned
    again and the subscriber's stream goes on (a new key frame, no gap in its numbering)."""
    call = Call(1)
    ((sink, dt),) = call.subs
    call.router.set_target_layer("cam", "s0", 1, now=call.now)
    call.run(4, keys=(0, 1, 2))
    new = call.router.replace_up_track("cam", **call.track(), now=call.now)
    assert dt.up is new and dt.target_layer[0] == 1 and all(layer.ssrc < 0 for layer in new.layers)
    for e in call.layers:
        e.ssrc += 0x100
    call.answer_plis()
    call.run(2)  # binds the new SSRCs; the PLI for layer 1 goes out on its new SSRC
    assert call.answer_plis() == (1,)
    call.run(4, keys=(1,))
    assert widths(sink) == [320, 320] and dt.current_layer[0] == 1
    assert_continuous(sink)


def test_mute_and_a_late_start_resume_on_the_target_layers_key_frame() -> None:
    call = Call(1)
    ((sink, dt),) = call.subs
    call.run(4, keys=(0, 1, 2))
    call.answer_plis()
    dt.set_muted(True)
    call.run(5)
    n = len(sink.rtp)
    dt.set_muted(False)
    call.run(3)  # nothing until a key frame of the top layer, asked for on the next packet
    assert len(sink.rtp) == n and call.answer_plis() == (2,)
    call.run(3, keys=(2,))
    assert widths(sink) == [640, 640]
    assert_continuous(sink)
    late = Sink()
    call.router.subscribe("cam", "s9", late, ssrc=call.router.allocate_ssrc(), receiving=False)
    call.router.set_target_layer("cam", "s9", 0, now=call.now)
    call.run(2)
    assert late.rtp == [] and call.answer_plis() == ()  # it cannot decode yet: nothing asked for
    call.router.start_receiving("cam", "s9", call.now + 1)
    assert call.answer_plis() == (0,)
    call.run(3, keys=(0,))
    assert widths(late) == [160]
    assert_continuous(late)
