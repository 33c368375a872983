"""Network quality: the score of a link from its measurements, and the monitor that measures each
participant's uplink and downlink from real up-tracks and down-tracks, on a manual clock."""

from __future__ import annotations

import random
import struct

import pytest

from hubbub.proto.rtcp import ReportBlock
from hubbub.rooms.network import Budget, LinkSample, Member, NetworkMonitor, score_link
from hubbub.schema.signaling import LinkQuality, Quality
from hubbub.sfu.track import DownTrack, TrackKind, UpTrack

Q = Quality
OPUS = (111, "audio/opus", 48000, None)
VP8 = (96, "video/VP8", 90000, None)


@pytest.mark.parametrize(
    ("sample", "score"),
    [
        (LinkSample(), Q.unknown),
        (LinkSample(loss=0.0, rtt=0.020, jitter=0.005), Q.excellent),
        (LinkSample(loss=0.009, rtt=0.099, jitter=0.029), Q.excellent),
        (LinkSample(loss=0.01), Q.good),
        (LinkSample(loss=0.0, rtt=0.150), Q.good),
        (LinkSample(loss=0.0, jitter=0.040), Q.good),
        (LinkSample(loss=0.05, rtt=0.020), Q.poor),
        (LinkSample(rtt=0.300), Q.poor),
        (LinkSample(loss=0.0, jitter=0.080), Q.poor),
        (LinkSample(loss=0.10), Q.bad),
        (LinkSample(rtt=0.500), Q.bad),
        (LinkSample(jitter=0.150), Q.bad),
        (LinkSample(loss=0.15), Q.very_bad),
        (LinkSample(loss=0.40, rtt=2.0, jitter=0.5), Q.very_bad),
        (LinkSample(rtt=0.900), Q.very_bad),
        (LinkSample(jitter=0.250), Q.very_bad),
        (LinkSample(down=True, loss=0.0, rtt=0.01), Q.down),
        # The worst measurement counts.
        (LinkSample(loss=0.0, rtt=0.020, jitter=0.120), Q.bad),
        (LinkSample(loss=0.06, rtt=0.250, jitter=0.010), Q.poor),
        # The estimate against the need: short of it lowers the score, above it changes nothing.
        (LinkSample(loss=0.0, budget=Budget(2_000_000, 1_500_000)), Q.excellent),
        (LinkSample(loss=0.0, budget=Budget(1_300_000, 1_500_000)), Q.excellent),
        (LinkSample(loss=0.0, budget=Budget(1_000_000, 1_500_000)), Q.good),
        (LinkSample(loss=0.0, budget=Budget(700_000, 1_500_000)), Q.poor),
        (LinkSample(loss=0.0, budget=Budget(30_000, 1_500_000)), Q.bad),
        (LinkSample(loss=0.10, budget=Budget(1_000_000, 1_500_000)), Q.bad),
        (LinkSample(budget=Budget(500_000, 0)), Q.excellent),
        (LinkSample(budget=Budget(300_000, 1_000_000)), Q.poor),
    ],
)
def test_a_link_scores_as_its_worst_measurement(sample: LinkSample, score: Quality) -> None:
    assert score_link(sample) == score


class Sink:
    def send_rtp(self, packet: bytes) -> None:
        pass

    def send_rtcp(self, packet: bytes) -> None:
        pass


def up_track(track_id: str, codec: tuple[int, str, int, None] = OPUS) -> UpTrack:
    kind: TrackKind = "audio" if codec[1].startswith("audio") else "video"
    return UpTrack(
        track_id,
        kind=kind,
        ssrc=random.getrandbits(32),
        rtx_ssrc=None,
        codecs=[codec],
        ext_ids={},
        publisher=Sink(),
        publisher_key=track_id,
        cache_size=64,
        cname=track_id,
    )


def down_track(up: UpTrack, subscriber: str) -> DownTrack:
    pt = next(iter(up.codecs))
    return DownTrack(
        up,
        subscriber,
        Sink(),
        ssrc=random.getrandbits(32),
        rtx_ssrc=None,
        pt_map={pt: pt},
        rtx_pt=None,
        ext_ids={},
        seq_base=0,
        ts_base=0,
        rtx_seq_base=0,
        cname=subscriber,
    )


class Publisher:
    """Sends an up-track 50 packets a second (Opus, 20 ms); ``lose`` drops every n-th on the way."""

    def __init__(self, up: UpTrack) -> None:
        self.up, self.seq, self.ts = up, 1000, 0

    def send(self, start: float, seconds: float, lose: int = 0, delay: float = 0.0) -> None:
        pt = next(iter(self.up.codecs))
        for i in range(round(seconds * 50)):
            self.seq, self.ts = (self.seq + 1) & 0xFFFF, self.ts + 960
            if lose and self.seq % lose == 0:
                continue
            packet = struct.pack("!BBHII", 0x80, pt, self.seq, self.ts, self.up.ssrc) + bytes(40)
            arrival = start + i * 0.02 + (delay if i % 2 else 0.0)
            self.up.receive(packet, pt, self.seq, self.ts, 12, 0, arrival, False)


def report(
    dt: DownTrack, now: float, *, loss: float = 0.0, lost: int = 0, jitter_ms: float = 2.0, rtt: float = 0.030
) -> None:
    """The subscriber's receiver report about ``dt``: ``loss`` since the last one, ``lost`` more
    packets lost in all (its round trip set as LSR/DLSR would give it)."""
    jitter = round(jitter_ms / 1000 * dt.up.clock_rate)
    dt.on_receiver_report(ReportBlock(dt.ssrc, round(loss * 256), dt.packets_lost + lost, 0, jitter, 0, 0), now)
    dt.rtt = rtt


def by_sid(qualities: list[LinkQuality]) -> dict[str, LinkQuality]:
    return {q.participant_sid: q for q in qualities}


def test_nothing_measured_is_unknown_both_ways() -> None:
    monitor = NetworkMonitor()
    up = up_track("TR_a")
    (a,) = monitor.measure(10.0, [Member("PA_a", [up], [])])
    assert (a.uplink, a.downlink) == (Q.unknown, Q.unknown)
    assert a.rtt_ms is None and a.uplink_loss_pct is None and a.downlink_loss_pct is None


def test_a_clean_call_is_excellent_and_a_lossy_uplink_is_the_publishers_alone() -> None:
    """Alice's uplink loses 10%: her uplink is bad; bob, who receives her media with those losses
    in his reports, keeps an excellent downlink (the up-track's own loss is taken off)."""
    monitor = NetworkMonitor()
    alice_up, bob_up = up_track("TR_a"), up_track("TR_b")
    alice, bob = Publisher(alice_up), Publisher(bob_up)
    to_bob, to_alice = down_track(alice_up, "PA_b"), down_track(bob_up, "PA_a")
    members = [Member("PA_a", [alice_up], [to_alice]), Member("PA_b", [bob_up], [to_bob])]
    now = 100.0
    result = {}
    for _ in range(4):
        alice.send(now, 2.0, lose=10)
        bob.send(now, 2.0)
        now += 2.0
        to_bob.packets_sent += 90
        to_alice.packets_sent += 100
        report(to_bob, now, loss=0.10, lost=10)  # the 10 alice lost are gaps in what bob gets
        report(to_alice, now)
        result = by_sid(monitor.measure(now, members))
    a, b = result["PA_a"], result["PA_b"]
    assert a.uplink == Q.bad and a.uplink_loss_pct == pytest.approx(10.0, abs=1.0)
    assert a.downlink == Q.excellent and a.downlink_loss_pct == 0.0
    assert (b.uplink, b.downlink) == (Q.excellent, Q.excellent)
    assert b.downlink_loss_pct == pytest.approx(0.0, abs=0.5)
    # The publisher's round trip is its downlink's (the server measures none on its uplink).
    assert a.rtt_ms == b.rtt_ms == 30.0
    assert a.uplink_jitter_ms is not None and a.uplink_jitter_ms < 5


def test_downlink_loss_and_round_trip_come_from_the_subscribers_reports() -> None:
    monitor = NetworkMonitor()
    up = up_track("TR_a")
    pub = Publisher(up)
    dt = down_track(up, "PA_b")
    members = [Member("PA_a", [up], []), Member("PA_b", [], [dt])]
    now, result = 100.0, {}
    for _ in range(3):
        pub.send(now, 2.0)
        now += 2.0
        dt.packets_sent += 100
        report(dt, now, loss=0.05, lost=5, rtt=0.250)
        result = by_sid(monitor.measure(now, members))
    b = result["PA_b"]
    assert b.downlink == Q.poor and b.downlink_loss_pct == pytest.approx(5.0, abs=0.5) and b.rtt_ms == 250.0
    assert b.uplink == Q.unknown  # bob publishes nothing
    assert result["PA_a"].rtt_ms is None  # alice subscribes to nothing: no round trip for her


def test_jitter_on_the_way_in_scores_the_uplink() -> None:
    monitor = NetworkMonitor()
    up = up_track("TR_a")
    pub = Publisher(up)
    now, a = 100.0, None
    for _ in range(4):
        pub.send(now, 2.0, delay=0.120)  # every other packet 120 ms late
        now += 2.0
        (a,) = monitor.measure(now, [Member("PA_a", [up], [])])
    assert a is not None and a.uplink in (Q.bad, Q.very_bad) and (a.uplink_jitter_ms or 0) > 50


def test_an_uplink_without_packets_for_five_seconds_is_down_and_comes_back() -> None:
    monitor = NetworkMonitor()
    up = up_track("TR_a")
    pub = Publisher(up)
    pub.send(100.0, 2.0)
    (a,) = monitor.measure(102.0, [Member("PA_a", [up], [])])
    assert a.uplink == Q.excellent
    (a,) = monitor.measure(104.0, [Member("PA_a", [up], [])])
    assert a.uplink == Q.excellent  # 2 s of silence: not yet
    (a,) = monitor.measure(107.0, [Member("PA_a", [up], [])])
    assert a.uplink == Q.down
    pub.send(107.0, 1.0)
    (a,) = monitor.measure(108.0, [Member("PA_a", [up], [])])
    assert a.uplink != Q.down


def test_a_sender_report_keeps_a_quiet_uplink_alive() -> None:
    monitor = NetworkMonitor()
    up = up_track("TR_a")
    Publisher(up).send(100.0, 1.0)
    monitor.measure(101.0, [Member("PA_a", [up], [])])
    up.on_sender_report(1, 0, 0, 105.0)
    (a,) = monitor.measure(107.0, [Member("PA_a", [up], [])])
    assert a.uplink != Q.down


def test_a_new_track_has_a_grace_period_before_it_is_down() -> None:
    monitor = NetworkMonitor()
    up = up_track("TR_a")
    (a,) = monitor.measure(100.0, [Member("PA_a", [up], [])])
    assert a.uplink == Q.unknown
    (a,) = monitor.measure(104.0, [Member("PA_a", [up], [])])
    assert a.uplink == Q.unknown
    (a,) = monitor.measure(106.0, [Member("PA_a", [up], [])])
    assert a.uplink == Q.down  # published, unmuted, and nothing ever came


def test_a_downlink_whose_reports_stop_while_media_flows_is_down() -> None:
    monitor = NetworkMonitor()
    up = up_track("TR_a", VP8)
    dt = down_track(up, "PA_b")
    members = [Member("PA_b", [], [dt])]
    dt.packets_sent += 100
    report(dt, 100.0)
    (b,) = monitor.measure(100.0, members)
    assert b.downlink == Q.excellent
    for now in (102.0, 104.0, 106.0, 108.0):
        dt.packets_sent += 100
        (b,) = monitor.measure(now, members)
        assert b.downlink == Q.excellent  # video reports come every second; audio's every 5 s
    dt.packets_sent += 100
    (b,) = monitor.measure(110.0, members)
    assert b.downlink == Q.down
    report(dt, 111.0)
    dt.packets_sent += 100
    (b,) = monitor.measure(112.0, members)
    assert b.downlink == Q.excellent


def test_nothing_sent_and_no_reports_is_not_down() -> None:
    """A paused or muted subscription sends nothing, and its reports may stop: that is not a dead link."""
    monitor = NetworkMonitor()
    dt = down_track(up_track("TR_a", VP8), "PA_b")
    dt.packets_sent += 50
    report(dt, 100.0)
    monitor.measure(100.0, [Member("PA_b", [], [dt])])
    (b,) = monitor.measure(112.0, [Member("PA_b", [], [dt])])
    assert b.downlink == Q.unknown  # its last report is too old to say anything


def test_an_estimate_short_of_the_need_lowers_the_downlink() -> None:
    monitor = NetworkMonitor()
    dt = down_track(up_track("TR_a", VP8), "PA_b")
    dt.packets_sent += 100
    report(dt, 100.0)
    (b,) = monitor.measure(100.0, [Member("PA_b", [], [dt], downlink_budget=Budget(400_000, 1_200_000))])
    assert b.downlink == Q.poor
    (b,) = monitor.measure(102.0, [Member("PA_b", [], [dt], downlink_budget=Budget(1_500_000, 1_200_000))])
    assert b.downlink == Q.excellent


def test_a_replaced_up_track_starts_its_counts_again() -> None:
    monitor = NetworkMonitor()
    old = up_track("TR_a")
    lossy = Publisher(old)
    lossy.send(98.0, 2.0, lose=5)
    monitor.measure(100.0, [Member("PA_a", [old], [])])
    lossy.send(100.0, 2.0, lose=5)
    (a,) = monitor.measure(102.0, [Member("PA_a", [old], [])])
    assert a.uplink == Q.very_bad
    new = up_track("TR_a")  # the same track id from a new publisher connection
    pub = Publisher(new)
    pub.send(102.0, 2.0)
    monitor.measure(104.0, [Member("PA_a", [new], [])])
    pub.send(104.0, 2.0)
    (a,) = monitor.measure(106.0, [Member("PA_a", [new], [])])
    assert a.uplink == Q.excellent


def test_a_simulcast_track_counts_the_loss_of_all_its_layers() -> None:
    monitor = NetworkMonitor()
    up = UpTrack(
        "TR_s",
        kind="video",
        ssrc=0,
        rtx_ssrc=None,
        codecs=[VP8],
        ext_ids={},
        publisher=Sink(),
        publisher_key="PA_a",
        cache_size=64,
        cname="a",
        rids=("q", "h", "f"),
    )
    seqs = {rid: 100 * i for i, rid in enumerate(("q", "h", "f"))}

    def send(start: float) -> None:
        for i in range(100):
            for rid, layer in up.by_rid.items():
                seqs[rid] += 1
                if rid == "f" and seqs[rid] % 5 == 0:
                    continue  # the top layer loses a fifth; the others nothing
                seq, ts = seqs[rid], i * 1800
                packet = struct.pack("!BBHII", 0x80, 96, seq, ts, 7) + bytes(40)
                layer.receive(packet, 96, seq, ts, 12, 0, start + i * 0.02, False)

    send(100.0)
    monitor.measure(102.0, [Member("PA_a", [up], [])])
    send(102.0)
    (a,) = monitor.measure(104.0, [Member("PA_a", [up], [])])
    assert a.uplink_loss_pct == pytest.approx(100 * 20 / 300, abs=1.0)  # 20 of 300 packets
    assert a.uplink == Q.poor


def test_downlink_loss_is_counted_over_the_window_not_from_the_last_report_alone() -> None:
    """A report's fraction lost covers its own interval (a second or five, a few dozen packets):
    the cumulative count over the window says more, once there are two reports."""
    monitor = NetworkMonitor()
    dt = down_track(up_track("TR_a", VP8), "PA_b")
    members = [Member("PA_b", [], [dt])]
    dt.packets_sent += 100
    report(dt, 100.0, loss=0.20, lost=1)
    (b,) = monitor.measure(100.0, members)
    assert b.downlink == Q.very_bad  # one report: its fraction is all there is
    for now in (102.0, 104.0):
        dt.packets_sent += 100
        report(dt, now, loss=0.20 if now == 104.0 else 0.0, lost=1)
        (b,) = monitor.measure(now, members)
    assert b.downlink_loss_pct == pytest.approx(1.0) and b.downlink == Q.good
