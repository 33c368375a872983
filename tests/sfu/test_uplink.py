"""A publisher's rate limit from its subscribers (hubbub.sfu.uplink, and the router that sends it):
a single-layer video is kept playing on a poor subscriber and its publisher is told, by REMB, to
send what the poorest subscriber's estimate allows; the limit falls at once, rises at most twice
a second, is lifted when nobody is held back, and never limits a simulcast publisher."""

from __future__ import annotations

import random

import pytest
from test_downlink import RateSink
from test_router import DELTA, KEY, OPUS, PUB_SSRC, VP8, Sink, rtp

from hubbub.proto import rtp_ext
from hubbub.proto.cc.remote import RemoteEstimator
from hubbub.proto.rtcp import Remb
from hubbub.sfu import Router
from hubbub.sfu.uplink import LIFTED_BPS, LIFTED_REPEAT, USED, RembLimit

MIC_SSRC = 0x3333
TWCC = {rtp_ext.URI_TRANSPORT_CC: 3}


class Call:
    """alice publishes a single-layer VP8 video at about 1 Mbit/s and Opus at about 40 kbit/s."""

    def __init__(self, estimates: list[float | None], ext_ids: dict[str, int] | None = None) -> None:
        self.router = Router(rng=random.Random(5))
        self.pub = Sink()
        ext = TWCC if ext_ids is None else ext_ids
        r = self.router
        self.up = r.add_up_track(
            "cam", kind="video", ssrc=PUB_SSRC, codecs=[VP8], ext_ids=ext, publisher=self.pub, publisher_key="alice"
        )
        r.add_up_track(
            "mic", kind="audio", ssrc=MIC_SSRC, codecs=[OPUS], ext_ids=ext, publisher=self.pub, publisher_key="alice"
        )
        self.subs: list[RateSink] = []
        for i, estimate in enumerate(estimates):
            sink = RateSink(estimate)
            for track in ("cam", "mic"):
                r.subscribe(track, f"s{i}", sink, ssrc=r.allocate_ssrc())
            self.subs.append(sink)
        self.now = 10.0
        self.seq = 0

    def run(self, seconds: float) -> None:
        """30 pictures a second of four 1 kB packets, 50 audio packets of 100 B, a tick every 100 ms."""
        for frame in range(int(seconds * 30)):
            for i in range(4):
                payload = (KEY if self.seq == 0 else DELTA) + bytes(1000)
                self.router.on_rtp("alice", rtp(self.seq, 3000 * frame, payload, marker=i == 3), self.now)
                self.seq += 1
            if frame % 3 == 0:
                self.router.on_rtp("alice", rtp(self.seq, 960 * frame, bytes(100), pt=111, ssrc=MIC_SSRC), self.now)
                self.router.tick(self.now)
            self.now += 1 / 30

    def rembs(self) -> list[Remb]:
        return self.pub.rtcp_of(Remb)


def test_a_poor_subscriber_keeps_the_video_and_the_publisher_is_limited_to_its_share() -> None:
    call = Call([300_000, 400_000])
    call.run(3)
    for i in range(2):
        dt = call.router.down_track("cam", f"s{i}")
        assert dt is not None and not dt.paused  # 1 Mbit/s measured does not fit 300 kbit/s: no pause
    rembs = call.rembs()
    assert rembs and all(r.ssrcs == (PUB_SSRC, MIC_SSRC) for r in rembs)
    mic = call.router.up_track("mic")
    assert mic is not None
    audio = mic.info(call.now).bitrates[-1]
    expected = (300_000 - audio) * USED + audio
    assert rembs[-1].bitrate == pytest.approx(expected, rel=0.02)
    # the poorest subscriber's estimate falls: a REMB follows within one allocation
    sent = len(rembs)
    call.subs[0].send_estimate = 250_000.0
    call.run(0.3)
    assert len(call.rembs()) == sent + 1 and call.rembs()[-1].bitrate < 0.85 * expected
    # while it holds, once a second
    sent = len(call.rembs())
    call.run(2.05)
    assert len(call.rembs()) - sent in (2, 3)
    # a subscriber that has no estimate takes anything: the limit is lifted (a few times, in
    # case one is lost) and the measured ones are outvoted, paused while the video does not fit
    call.router.subscribe("cam", "s2", RateSink(None), ssrc=call.router.allocate_ssrc())
    sent = len(call.rembs())
    call.run(6)
    assert [r.bitrate for r in call.rembs()[sent:]] == [LIFTED_BPS] * LIFTED_REPEAT
    assert all(call.router.down_track("cam", s).paused for s in ("s0", "s1"))  # type: ignore[union-attr]
    call.router.unsubscribe("cam", "s2")
    sent = len(call.rembs())
    call.run(1)  # nobody left to outvote them: they limit the publisher again
    assert call.rembs()[sent:] and call.rembs()[-1].bitrate < 400_000
    assert not any(call.router.down_track("cam", s).paused for s in ("s0", "s1"))  # type: ignore[union-attr]
    # when no subscriber has an estimate, the limit is lifted too
    call.subs[0].send_estimate = None
    call.subs[1].send_estimate = None
    sent = len(call.rembs())
    call.run(6)
    lifted = call.rembs()[sent:]
    assert [r.bitrate for r in lifted] == [LIFTED_BPS] * LIFTED_REPEAT


def test_a_subscriber_far_below_the_others_is_outvoted_and_its_video_paused_until_it_fits() -> None:
    call = Call([300_000, 2_000_000])
    states: list[tuple[object, str, bool, str]] = []
    call.router.on_stream_state = lambda *change: states.append(change)
    call.run(3)
    poor = call.router.down_track("cam", "s0")
    assert poor is not None and poor.paused and ("s0", "cam", False, "bandwidth") in states
    alone = call.rembs()[-1].bitrate
    assert alone > 1_500_000  # the other subscriber's share sets the limit
    # its path improves: the video resumes for it (1.3x what is sent fits), and it limits the publisher again
    call.subs[0].send_estimate = 1_800_000.0
    call.run(4)
    assert not poor.paused and states[-1] == ("s0", "cam", True, "")
    assert call.rembs()[-1].bitrate < alone
    # alone, even a very poor subscriber keeps the video, at the floor
    call = Call([30_000])
    call.run(2)
    dt = call.router.down_track("cam", "s0")
    assert dt is not None and not dt.paused
    assert call.rembs()[-1].bitrate < 100_000


def test_a_simulcast_or_unlimitable_publisher_gets_no_limit() -> None:
    call = Call([300_000], ext_ids={})  # no feedback negotiated: its encoder would not follow
    call.run(2)
    assert not call.up.elastic and call.rembs() == []
    call = Call([300_000])
    call.router.add_up_track(
        "screen",
        kind="video",
        ssrc=0,
        codecs=[VP8],
        ext_ids=TWCC,
        publisher=call.pub,
        publisher_key="alice",
        rids=("q", "h"),
    )
    assert call.up.elastic is False  # a REMB would hold the simulcast video back too
    call.run(3)
    assert call.rembs() == []
    dt = call.router.down_track("cam", "s0")
    assert dt is not None and dt.paused  # an ordinary single-layer video: 1 Mbit/s does not fit
    call.router.remove_up_track("screen")
    assert call.up.elastic
    call.run(1)
    assert call.rembs() and not dt.paused


def test_a_remb_publisher_gets_the_limit_in_its_own_estimators_rembs() -> None:
    call = Call([300_000], ext_ids={rtp_ext.URI_ABS_SEND_TIME: 2})
    feedback = call.router._feedback["alice"][0]
    assert isinstance(feedback, RemoteEstimator)
    call.run(1)
    assert call.rembs() == []  # the estimator's own messages carry it (tests/proto/cc/test_remote.py)
    assert feedback.limit_bps is not None and 200_000 < feedback.limit_bps < 300_000


def test_remb_limit_timing() -> None:
    limit = RembLimit(0x77)
    ssrcs = (1, 2)
    assert limit.build(ssrcs, 0.0) == []  # nothing before a limit
    limit.update(500_000, 0.0)
    assert Remb.parse(limit.build(ssrcs, 0.0)[0]).bitrate == 500_000
    limit.update(490_000, 0.1)  # within 3%: at the next interval
    assert limit.build(ssrcs, 0.5) == []
    assert Remb.parse(limit.build(ssrcs, 1.0)[0]).bitrate == 490_000
    limit.update(400_000, 1.1)  # a fall: at once
    assert len(limit.build(ssrcs, 1.1)) == 1
    limit.update(600_000, 1.2)  # a rise: within RISE_INTERVAL
    assert limit.build(ssrcs, 1.3) == [] and len(limit.build(ssrcs, 1.7)) == 1
    limit.update(None, 2.0)
    bitrates = [Remb.parse(m).bitrate for t in range(2, 10) for m in limit.build(ssrcs, float(t))]
    assert bitrates == [LIFTED_BPS] * LIFTED_REPEAT
    assert limit.build((), 20.0) == []
