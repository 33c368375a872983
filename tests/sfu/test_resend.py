"""Retransmissions on a congested path: a packet is resent at most once a round trip however
often it is asked for, and a subscriber's retransmissions stay within a share of its estimate
(hubbub.sfu.downtrack, hubbub.sfu.downlink)."""

from __future__ import annotations

from test_uplink import Call

from hubbub.proto.rtcp import GenericNack
from hubbub.proto.rtp import RtpPacket
from hubbub.sfu.downlink import RESEND_BURST_S, RESEND_SHARE
from hubbub.sfu.downtrack import RESEND_GAP


def nack(call: Call, sub: int, seqs: list[int], now: float) -> None:
    dt = call.router.down_track("cam", f"s{sub}")
    assert dt is not None
    call.router.on_rtcp_from_subscriber(f"s{sub}", bytes(GenericNack.from_sequences(1, dt.ssrc, seqs)), now)


def video_seqs(call: Call, sub: int) -> list[int]:
    dt = call.router.down_track("cam", f"s{sub}")
    assert dt is not None
    return [p.seq for p in (RtpPacket.parse(b) for b in call.subs[sub].rtp) if p.ssrc == dt.ssrc]


def test_a_packet_is_resent_at_most_once_a_round_trip() -> None:
    call = Call([None])
    call.run(1)
    seq = video_seqs(call, 0)[-5]
    dt = call.router.down_track("cam", "s0")
    assert dt is not None
    nack(call, 0, [seq], call.now)
    nack(call, 0, [seq], call.now + RESEND_GAP / 2)  # asked again before a repair could arrive
    assert (dt.retransmits, dt.resends_held) == (1, 1)
    nack(call, 0, [seq], call.now + RESEND_GAP * 1.5)
    assert dt.retransmits == 2
    dt.rtt = 0.3  # a longer round trip holds longer
    nack(call, 0, [seq], call.now + RESEND_GAP * 3)
    assert dt.retransmits == 2 and dt.resends_held == 2


def test_retransmissions_stay_within_a_share_of_the_estimate() -> None:
    call = Call([200_000, None])
    call.run(1)
    seqs = video_seqs(call, 0)[-60:]
    nack(call, 0, seqs, call.now)
    dt = call.router.down_track("cam", "s0")
    assert dt is not None
    burst = int(200_000 * RESEND_SHARE * RESEND_BURST_S / 8 / 1200)  # packets the bucket holds
    assert 0 < dt.retransmits <= burst + 1
    assert call.router.drops["resend_over_budget"] == len(seqs) - dt.nacks_received
    # the bucket refills at the share of the estimate
    nack(call, 0, seqs[-10:], call.now + 1.0)
    assert dt.retransmits > burst
    # a subscriber without an estimate is not held back
    seqs = video_seqs(call, 1)[-60:]
    nack(call, 1, seqs, call.now)
    other = call.router.down_track("cam", "s1")
    assert other is not None and other.retransmits == 60
