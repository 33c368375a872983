"""The receive-side estimator behind REMB: abs-send-time packets in, REMB out, on a manual clock;
closed loops with an aiortc-like sender (its VP8 encoder takes REMB as its target, clamped to
250 kbit/s..1.5 Mbit/s, from 500 kbit/s) through a netsim bottleneck."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubbub.netsim.engine import Impairment, Link
from hubbub.proto import rtp_ext
from hubbub.proto.cc.feedback import TransportFeedback
from hubbub.proto.cc.publisher import FB_REMB, FB_TRANSPORT_CC, publisher_feedback, served_feedback
from hubbub.proto.cc.remote import INIT_S, RemoteEstimator
from hubbub.proto.rtcp import iter_rtcp
from hubbub.proto.rtcp_feedback import Remb
from hubbub.sfu.router import Router

EXT = 3
ROUTER_SSRC = 0xAAAA
FPS = 30


def rtp(seq: int, ssrc: int, send_s: float | None, payload: int = 1000, ext: bytes | None = None) -> bytes:
    """A VP8-sized RTP packet with abs-send-time ``send_s`` (None: no extension)."""
    block = b""
    if ext is not None:
        block = ext
    elif send_s is not None:
        block = rtp_ext.build_extension_block(
            {EXT: rtp_ext.build_abs_send_time(rtp_ext.abs_send_time_from_seconds(send_s))}
        )
    first = 0x90 if block else 0x80
    body = b"\x10\x01" + bytes(max(payload - 2, 0))  # VP8: start of a partition, an inter frame
    return struct.pack("!BBHII", first, 96, seq & 0xFFFF, 0, ssrc) + block + body


class Publisher:
    """aiortc's video sender, as far as rate goes: frames at its target, the target from REMB."""

    def __init__(self, link_kbps: float, *, seed: int = 1, clock_origin: float = 1000.0) -> None:
        self.link = Link(Impairment(rate_kbps=link_kbps, delay_ms=20), random.Random(seed))
        self.estimator = RemoteEstimator(EXT, ROUTER_SSRC)
        self.target = 500_000.0
        self.origin = clock_origin  # the sender's NTP clock at now = 0
        self.seq = 0
        self.pending: list[tuple[float, int, bytes]] = []
        self.rembs: list[tuple[float, Remb]] = []
        self.targets: list[tuple[float, float]] = []

    def run(self, until: float, now: float = 0.0) -> float:
        while now < until:
            frame_end = now + 1 / FPS
            left = int(self.target / 8 / FPS)
            while left > 0:
                size = min(1200, left)
                packet = rtp(self.seq, 0x1234, self.origin + now, max(size - 24, 1))
                for at in self.link.submit(len(packet), now).times:
                    heapq.heappush(self.pending, (at, self.seq, packet))
                self.seq += 1
                left -= size
            while self.pending and self.pending[0][0] <= frame_end:
                at, _, packet = heapq.heappop(self.pending)
                self.estimator.on_packet(packet, 0x1234, at)
                if at >= self.estimator.next_send:
                    for message in self.estimator.build(at):
                        remb = Remb.parse(message)
                        self.rembs.append((at, remb))
                        self.target = min(max(remb.bitrate, 250_000), 1_500_000)
                        self.targets.append((at, self.target))
            now = frame_end
        return now


def test_nothing_before_the_first_estimate_then_the_incoming_rate() -> None:
    pub = Publisher(20_000)
    pub.run(INIT_S - 0.1)
    assert pub.rembs == []
    assert pub.estimator.target_bps is None
    pub.run(INIT_S + 0.1, INIT_S - 0.1)
    assert len(pub.rembs) == 1
    _, remb = pub.rembs[0]
    assert remb.sender_ssrc == ROUTER_SSRC and remb.ssrcs == (0x1234,) and remb.media_ssrc == 0
    assert 450_000 < remb.bitrate < 560_000  # the 500 kbit/s it sends, headers included


def test_ramps_to_the_encoder_maximum_on_a_clean_link() -> None:
    """8% a second from the start rate: 500 kbit/s to 1.5 Mbit/s in about 15 s after the first estimate."""
    pub = Publisher(20_000)
    pub.run(30.0)
    reached = next(t for t, target in pub.targets if target >= 1_500_000)
    assert INIT_S + 12 < reached < INIT_S + 18
    assert all(b >= a for (_, a), (_, b) in itertools.pairwise(pub.targets))  # never down
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(pub.rembs)]
    assert all(0.99 <= g <= 1.05 for g in gaps)  # once a second


def test_a_limit_from_the_subscribers_caps_the_remb_at_once_and_lifts() -> None:
    pub = Publisher(20_000)
    now = pub.run(8.0)
    assert pub.target > 600_000
    pub.estimator.set_limit(300_000, now)
    assert pub.estimator.next_send == now  # a lower limit goes at once
    before = len(pub.rembs)
    now = pub.run(now + 3.0, now)
    limited = [r.bitrate for _, r in pub.rembs[before:]]
    assert limited and max(limited) == 300_000
    pub.estimator.set_limit(None, now)
    pub.run(now + 2.0, now)
    assert pub.rembs[-1][1].bitrate > 300_000


def test_backs_off_to_a_bottleneck_with_an_immediate_remb() -> None:
    """700 kbit/s of link under an encoder pushed to 1.5 Mbit/s: REMB falls under the link rate at
    once (not on the one-second cadence), and stays near it."""
    pub = Publisher(20_000)
    now = pub.run(25.0)
    assert pub.target == 1_500_000
    pub.link.set(Impairment(rate_kbps=700, delay_ms=20))
    sent = len(pub.rembs)
    pub.run(45.0, now)
    after = pub.rembs[sent:]
    first_low = next(i for i, (_, r) in enumerate(after) if r.bitrate < 700_000)
    assert after[first_low][0] < now + 2.0
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(after)]
    assert min(gaps) < 0.5  # a drop went out between the seconds
    late = [r.bitrate for t, r in after if t > now + 10]
    assert max(late) < 800_000
    assert min(late) > 300_000


def test_across_the_64_s_wrap() -> None:
    """A sender whose clock passes the 64 s wrap of abs-send-time: no false congestion."""
    pub = Publisher(20_000, clock_origin=64.0 - 5.0)
    pub.run(20.0)
    assert all(b >= a for (_, a), (_, b) in itertools.pairwise(pub.targets))
    assert pub.target > 500_000 * 1.08**10


def test_reordered_and_late_packets_across_the_wrap_unwrap_backwards() -> None:
    est = RemoteEstimator(EXT, ROUTER_SSRC)
    t0 = 63.99
    est.on_packet(rtp(0, 1, t0), 1, 0.0)
    est.on_packet(rtp(1, 1, t0 + 0.02), 1, 0.02)  # past the wrap: a small value
    assert est._unwrap(rtp_ext.abs_send_time_from_seconds(t0 + 0.01)) == pytest.approx(t0 + 0.01, abs=1e-5)
    assert est._unwrap(rtp_ext.abs_send_time_from_seconds(t0 + 0.03)) == pytest.approx(t0 + 0.03, abs=1e-5)


def test_a_long_pause_starts_the_measurement_over() -> None:
    """40 s without packets (more than the 32 s the 24-bit send clock can tell apart): REMB stops,
    then resumes from the estimate it had, and still sees congestion."""
    pub = Publisher(20_000)
    now = pub.run(20.0)
    before = pub.estimator.target_bps
    assert before is not None and pub.target > 1_000_000
    sent = len(pub.rembs)
    pub.link.set(Impairment(rate_kbps=700, delay_ms=20))
    pub.run(now + 46.0, now + 40.0)
    assert pub.rembs[sent][0] - (now + 40.0) < 0.1  # the first packets after the pause get one at once
    assert pub.rembs[sent][1].bitrate >= before
    assert min(r.bitrate for t, r in pub.rembs[sent:] if t < now + 45.0) < 700_000


def test_ssrcs_listed_while_heard() -> None:
    est = RemoteEstimator(EXT, ROUTER_SSRC)
    now = 0.0
    seq = 0
    while now < 3.0:
        for ssrc in (1, 2) if now < 1.0 else (1,):
            est.on_packet(rtp(seq, ssrc, now), ssrc, now)
            seq += 1
        now += 0.01
    (message,) = est.build(now)
    assert Remb.parse(message).ssrcs == (1,)  # 2 was last heard over 2 s ago
    assert not est.due(now + 2.5)  # packets stopped: nothing owed


def test_packets_without_a_usable_extension_are_ignored() -> None:
    est = RemoteEstimator(EXT, ROUTER_SSRC)
    est.on_packet(rtp(0, 1, None), 1, 0.0)
    short = rtp_ext.build_extension_block({EXT: b"\x01\x02"})  # 2 bytes: not an abs-send-time
    est.on_packet(rtp(1, 1, None, ext=short), 1, 0.0)
    other = rtp_ext.build_extension_block({EXT + 1: b"\x01\x02\x03"})
    est.on_packet(rtp(2, 1, None, ext=other), 1, 0.0)
    assert est.incoming_bps(5.0) is None and est._ssrcs == {}


def test_truncated_extension_block_raises_value_error() -> None:
    est = RemoteEstimator(EXT, ROUTER_SSRC)
    block = struct.pack("!HH", 0xBEDE, 5) + b"\x32\x01\x02\x03"  # says 20 bytes, has 4
    with pytest.raises(ValueError):
        est.on_packet(rtp(0, 1, None, ext=block, payload=0), 1, 0.0)


@given(st.binary(max_size=64), st.integers(0, 15))
def test_any_extension_bytes_parse_or_raise_value_error(body: bytes, csrcs: int) -> None:
    est = RemoteEstimator(EXT, ROUTER_SSRC)
    packet = struct.pack("!BBHII", 0x90 | csrcs, 96, 1, 0, 1) + bytes(4 * csrcs) + body
    with contextlib.suppress(ValueError):
        est.on_packet(packet, 1, 0.0)
    assert est.build(1.0) == []


def test_publisher_feedback_choice() -> None:
    both = {rtp_ext.URI_TRANSPORT_CC: 5, rtp_ext.URI_ABS_SEND_TIME: 3}
    assert isinstance(publisher_feedback(both, ROUTER_SSRC), TransportFeedback)
    assert served_feedback(both) == FB_TRANSPORT_CC
    remb_only = {rtp_ext.URI_ABS_SEND_TIME: 3, rtp_ext.URI_MID: 1}
    feedback = publisher_feedback(remb_only, ROUTER_SSRC)
    assert isinstance(feedback, RemoteEstimator) and feedback.ext_id == 3
    assert served_feedback(remb_only) == FB_REMB
    assert publisher_feedback({rtp_ext.URI_MID: 1}, ROUTER_SSRC) is None
    assert served_feedback({rtp_ext.URI_MID: 1}) is None


class Sink:
    def __init__(self) -> None:
        self.rtcp: list[bytes] = []

    def send_rtp(self, packet: bytes) -> None:
        pass

    def send_rtcp(self, packet: bytes) -> None:
        self.rtcp.append(packet)


def test_the_router_sends_remb_to_a_publisher_with_abs_send_time_only() -> None:
    router = Router(rng=random.Random(1))
    sink = Sink()
    router.add_up_track(
        "cam",
        kind="video",
        ssrc=0x1234,
        rtx_ssrc=None,
        codecs=[(96, "video/VP8", 90_000, None)],
        ext_ids={rtp_ext.URI_ABS_SEND_TIME: EXT, rtp_ext.URI_MID: 1},
        publisher=sink,
        publisher_key="alice",
    )
    now, seq = 100.0, 0
    while now < 104.0:  # 30 frames a second of 3 packets of 1000 bytes: ~750 kbit/s
        for _ in range(3):
            router.on_rtp("alice", rtp(seq, 0x1234, now - 100.0 + 7.0), now)
            seq += 1
        now += 1 / FPS
    rembs = [p for m in sink.rtcp for p in iter_rtcp(m) if isinstance(p, Remb)]
    assert len(rembs) == 2  # the first estimate at 2 s, then a second later
    assert all(r.sender_ssrc == router.rtcp_ssrc and r.ssrcs == (0x1234,) for r in rembs)
    assert 700_000 < rembs[0].bitrate < 800_000
    router.tick(now + 3.0)  # packets stopped: nothing more
    assert len([p for m in sink.rtcp for p in iter_rtcp(m) if isinstance(p, Remb)]) == 2
