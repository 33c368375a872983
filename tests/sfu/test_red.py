"""RED payloads (RFC 2198): parsing untrusted bytes, writing them, remapping and unwrapping."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_downlink import RateSink

from hubbub.proto.rtcp import ReceiverReport, iter_rtcp
from hubbub.proto.rtp import RtpPacket
from hubbub.proto.sdp import Codec, MediaSection, SessionDescription, parse, parse_candidate
from hubbub.proto.sdp_negotiation import NegotiatedMedia
from hubbub.sfu import DownTrack, Router, red
from hubbub.sfu.negotiation import answer_publisher_offer, red_codec, red_payload_types, subscriber_codecs
from hubbub.sfu.red import RedBlock

# Chromium's RED with one redundant Opus block (PT 111, 960 samples back) and a primary block.
CHROMIUM = bytes((0x80 | 111, 0x0F, 0x00, 0x03, 111)) + b"old" + b"newer"


def test_parse_chromium_style_payload() -> None:
    redundant, main = red.parse(CHROMIUM)
    assert redundant == [RedBlock(111, 960, b"old")]
    assert main == RedBlock(111, 0, b"newer")
    assert red.primary(CHROMIUM) == (111, b"newer")


def test_payload_with_only_a_primary_block() -> None:
    assert red.parse(bytes((111,)) + b"opus") == ([], RedBlock(111, 0, b"opus"))


@pytest.mark.parametrize(
    "payload",
    [
        b"",  # no header at all
        bytes((0x80 | 111,)),  # a four-byte header cut short
        bytes((0x80 | 111, 0, 0)),
        bytes((0x80 | 111, 0x0F, 0x00, 0x03)),  # no final header
        bytes((0x80 | 111, 0x0F, 0x00, 0x05, 111)) + b"abc",  # block longer than the payload
    ],
)
def test_malformed_payloads_raise_value_error(payload: bytes) -> None:
    with pytest.raises(ValueError):
        red.parse(payload)


def test_unwrap_returns_primary_and_refuses_empty_or_foreign() -> None:
    assert red.unwrap(CHROMIUM, 111) == b"newer"
    with pytest.raises(ValueError):
        red.unwrap(CHROMIUM, 100)
    with pytest.raises(ValueError):
        red.unwrap(bytes((0x80 | 111, 0x0F, 0x00, 0x03, 111)) + b"old", 111)


def test_remap_changes_header_payload_types_only() -> None:
    mapped = red.remap(CHROMIUM, lambda pt: 109 if pt == 111 else pt)
    redundant, main = red.parse(mapped)
    assert redundant == [RedBlock(109, 960, b"old")]
    assert main == RedBlock(109, 0, b"newer")
    assert len(mapped) == len(CHROMIUM)


def test_build_refuses_what_the_headers_cannot_say() -> None:
    with pytest.raises(ValueError):
        red.build([RedBlock(111, 1 << 14, b"")], RedBlock(111, 0, b""))
    with pytest.raises(ValueError):
        red.build([RedBlock(111, 0, bytes(1024))], RedBlock(111, 0, b""))
    with pytest.raises(ValueError):
        red.build([], RedBlock(128, 0, b""))


@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_parse_untrusted_bytes_raises_only_value_error(payload: bytes) -> None:
    try:
        redundant, main = red.parse(payload)
    except ValueError:
        return
    # What parses is the whole payload: writing it again gives the same bytes.
    assert red.build(redundant, main) == payload


blocks = st.builds(
    RedBlock,
    st.integers(0, 127),
    st.integers(0, (1 << 14) - 1),
    st.binary(max_size=40),
)


@given(st.lists(blocks, max_size=4), st.integers(0, 127), st.binary(max_size=80))
def test_build_parse_round_trip(redundant: list[RedBlock], pt: int, data: bytes) -> None:
    main = RedBlock(pt, 0, data)
    assert red.parse(red.build(redundant, main)) == (redundant, main)


# --- a down-track that unwraps RED for a subscriber without it ---------------------------------


class Sink:
    def __init__(self) -> None:
        self.rtp: list[bytes] = []

    def send_rtp(self, packet: bytes) -> None:
        self.rtp.append(packet)

    def send_rtcp(self, packet: bytes) -> None:
        pass


class RtcpSink(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.rtcp: list[bytes] = []

    def send_rtcp(self, packet: bytes) -> None:
        self.rtcp.append(packet)


RED_PT, OPUS_PT = 63, 111


def red_router(*, unwrap: bool) -> tuple[Router, Sink, DownTrack]:
    router = Router(rng=random.Random(5))
    codecs = [(RED_PT, "audio/red", 48_000, None), (OPUS_PT, "audio/opus", 48_000, None)]
    router.add_up_track("mic", kind="audio", ssrc=1, codecs=codecs, ext_ids={}, publisher=Sink(), publisher_key="p")
    sink = Sink()
    down = router.subscribe("mic", "s", sink, ssrc=router.allocate_ssrc(), pt_map={RED_PT: RED_PT, OPUS_PT: OPUS_PT})
    if unwrap:
        down.set_red_unwrap(RED_PT, OPUS_PT, OPUS_PT)
    return router, sink, down


def red_packet(seq: int, payload: bytes, padding: int = 0) -> bytes:
    return bytes(RtpPacket(pt=RED_PT, seq=seq, ts=seq * 960, ssrc=1, payload=payload, padding_size=padding))


def test_subscriber_with_red_gets_the_red_packets() -> None:
    router, sink, _down = red_router(unwrap=False)
    router.on_rtp("p", red_packet(10, CHROMIUM), 0.0)
    got = RtpPacket.parse(sink.rtp[-1])
    assert (got.pt, got.payload) == (RED_PT, CHROMIUM)


def test_subscriber_without_red_gets_primary_opus_with_continuous_seq() -> None:
    router, sink, down = red_router(unwrap=True)
    router.on_rtp("p", red_packet(10, CHROMIUM, padding=4), 0.0)
    router.on_rtp("p", red_packet(11, b"\x80"), 0.02)  # malformed: dropped
    router.on_rtp("p", red_packet(12, bytes((OPUS_PT,))), 0.04)  # empty primary (DTX): dropped
    router.on_rtp("p", red_packet(13, bytes((OPUS_PT,)) + b"next"), 0.06)
    first, second = (RtpPacket.parse(p) for p in sink.rtp)
    assert (first.pt, first.payload, first.padding_size) == (OPUS_PT, b"newer", 0)
    assert (second.pt, second.payload) == (OPUS_PT, b"next")
    assert second.seq == (first.seq + 1) & 0xFFFF  # the dropped ones leave no gap
    assert second.ts - first.ts == 3 * 960
    assert down.red_dropped == 2
    assert down.retransmit(first.seq)
    again = RtpPacket.parse(sink.rtp[-1])
    assert (again.pt, again.seq, again.payload) == (OPUS_PT, first.seq, b"newer")


# --- negotiation: RED first in the publisher answer, RED then Opus in subscriber offers --------

FIXTURES = Path(__file__).parent.parent / "proto" / "fixtures" / "sdp"
CANDIDATE = parse_candidate("candidate:1 1 udp 2130706431 127.0.0.1 47000 typ host generation 0")


def publisher_answer(offer: SessionDescription, *, red_on: bool) -> tuple[SessionDescription, list[NegotiatedMedia]]:
    return answer_publisher_offer(
        offer,
        ice_ufrag="sfu1",
        ice_pwd="sfupasswordsfupassword12",
        fingerprint=("sha-256", ":".join(["5A"] * 32)),
        candidates=[CANDIDATE],
        red=red_on,
    )


@pytest.mark.parametrize("name", ["chromium_offer_audio_video.sdp", "chromium156_offer_audio_video.sdp"])
def test_chromium_audio_is_answered_red_first_then_opus_with_fec_and_dtx(name: str) -> None:
    offer = parse((FIXTURES / name).read_text())
    answer, negotiated = publisher_answer(offer, red_on=True)
    audio = next(m for m in answer.media if m.kind == "audio")
    assert [(c.name, c.pt) for c in audio.codecs] == [("red", 63), ("opus", 111)]
    assert audio.codecs[0].fmtp == {"111/111": ""}
    assert audio.codecs[1].fmtp.get("useinbandfec") == "1"
    media = next(m for m in negotiated if m.kind == "audio")
    assert red_payload_types(media) == (63, 111)
    assert [c.name for c in subscriber_codecs(media)] == ["red", "opus"]
    # Without the option (and for video) nothing changes.
    plain = next(m for m in publisher_answer(offer, red_on=False)[1] if m.kind == "audio")
    assert [c.name for c in plain.codecs] == ["opus"] and red_payload_types(plain) is None
    assert [c.name for c in subscriber_codecs(plain)] == ["opus"]


def test_red_over_another_codec_is_not_accepted() -> None:
    text = (FIXTURES / "chromium_offer_audio_video.sdp").read_text().replace("a=fmtp:63 111/111", "a=fmtp:63 111/0")
    media = next(m for m in publisher_answer(parse(text), red_on=True)[1] if m.kind == "audio")
    assert [c.name for c in media.codecs] == ["opus"]


def test_offer_without_red_keeps_opus_only() -> None:
    section = MediaSection("audio", 9, "UDP/TLS/RTP/SAVPF", ["111"], mid="0")
    section.codecs = [Codec(111, "opus", 48000, 2, {"useinbandfec": "1", "usedtx": "1"}, [])]
    assert red_codec(section, section.codecs[0]) is None


def test_down_track_unwraps_only_for_a_subscriber_that_answered_without_red() -> None:
    offer = parse((FIXTURES / "chromium_offer_audio_video.sdp").read_text())
    published = next(m for m in publisher_answer(offer, red_on=True)[1] if m.kind == "audio")
    red_codec_, opus = subscriber_codecs(published)
    with_red = dataclasses.replace(published, codecs=(red_codec_, opus))
    without = dataclasses.replace(published, codecs=(opus,))
    for answered, unwraps in ((with_red, False), (without, True)):
        _router, sink, down = red_router(unwrap=False)
        red.configure_down_track(down, published, answered)
        _router.on_rtp("p", red_packet(10, CHROMIUM), 0.0)
        assert RtpPacket.parse(sink.rtp[-1]).payload == (b"newer" if unwraps else CHROMIUM)
        # one that takes both may be sent either
        assert down.red_optional == (None if unwraps else (red_codec_.pt, opus.pt))


def test_redundancy_is_dropped_on_a_congested_path_without_loss_and_comes_back() -> None:
    router = Router(rng=random.Random(5))
    codecs = [(RED_PT, "audio/red", 48_000, None), (OPUS_PT, "audio/opus", 48_000, None)]
    router.add_up_track("mic", kind="audio", ssrc=1, codecs=codecs, ext_ids={}, publisher=Sink(), publisher_key="p")
    sink = RateSink(300_000)
    down = router.subscribe("mic", "s", sink, ssrc=router.allocate_ssrc(), pt_map={RED_PT: RED_PT, OPUS_PT: OPUS_PT})
    down.red_optional = (RED_PT, OPUS_PT)
    now, seq = 0.0, 10

    def sent(estimate: float | None, fraction_lost: int = 0) -> RtpPacket:
        nonlocal now, seq
        sink.send_estimate = estimate
        down.fraction_lost = fraction_lost
        now += 0.3
        router.tick(now)
        seq += 1
        router.on_rtp("p", red_packet(seq, CHROMIUM), now)
        return RtpPacket.parse(sink.rtp[-1])

    first = sent(300_000)
    assert (first.pt, first.payload) == (OPUS_PT, b"newer")  # 300 kbit/s, no loss: the primary only
    assert sent(450_000).pt == OPUS_PT  # hysteresis: whole again only over 500 kbit/s
    again = sent(600_000)
    assert (again.pt, again.payload, again.seq) == (RED_PT, CHROMIUM, (first.seq + 2) & 0xFFFF)
    assert sent(300_000, fraction_lost=26).pt == RED_PT  # 10% lost: the redundancy earns its keep
    assert sent(300_000).pt == OPUS_PT
    assert sent(None).pt == RED_PT  # no estimate: as negotiated


def test_receiver_report_to_a_red_publisher_carries_the_uplink_loss() -> None:
    """Chromium's Opus encoder sizes its in-band FEC from the fraction lost the SFU reports."""
    router = Router(rng=random.Random(7))
    publisher = RtcpSink()
    codecs = [(RED_PT, "audio/red", 48_000, None), (OPUS_PT, "audio/opus", 48_000, None)]
    router.add_up_track("mic", kind="audio", ssrc=1, codecs=codecs, ext_ids={}, publisher=publisher, publisher_key="p")
    for i in range(100):
        if i % 5 != 2:  # every fifth packet lost: 20%
            router.on_rtp("p", red_packet(1000 + i, CHROMIUM), i * 0.02)
    router.tick(2.5)
    blocks = [b for p in publisher.rtcp for r in iter_rtcp(p) if isinstance(r, ReceiverReport) for b in r.reports]
    assert blocks and blocks[0].ssrc == 1
    assert blocks[0].fraction_lost == 20 * 256 // 100
