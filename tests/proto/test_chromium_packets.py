"""Real packets from Chromium 156 (fixtures/chromium156/README.md) through our RTP and RTCP codecs."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubbub.proto import rtp_ext
from hubbub.proto.rtcp import Pli, ReceiverReport, Remb, Sdes, SenderReport, iter_rtcp
from hubbub.proto.rtp import RtpPacket, RtpParseError, header_fields, payload_offset, rtx_unwrap, vp8_is_keyframe

FIXTURES = Path(__file__).parent / "fixtures" / "chromium156"
AUDIO_LEVEL, ABS_SEND_TIME, TRANSPORT_CC, MID = 1, 2, 3, 4  # Chromium's extmap ids in its offer


def load(name: str) -> bytes:
    return bytes.fromhex((FIXTURES / f"{name}.hex").read_text().strip())


@pytest.mark.parametrize("name", ["opus_audio_level", "vp8_keyframe", "vp8_delta", "rtx", "rtx_padding_probe"])
def test_rtp_round_trips_byte_for_byte(name: str) -> None:
    data = load(name)
    packet = RtpPacket.parse(data)
    assert bytes(packet) == data
    pt, seq, ts, ssrc, hlen, _marker, _pad = header_fields(data)
    assert (pt, seq, ts, ssrc) == (packet.pt, packet.seq, packet.ts, packet.ssrc)
    assert hlen == payload_offset(data)


def test_opus_carries_chromium_extensions() -> None:
    packet = RtpPacket.parse(load("opus_audio_level"))
    assert packet.pt == 111 and packet.extension_profile == 0xBEDE  # RFC 8285 one-byte form
    ext = packet.extensions()
    voice, level = rtp_ext.parse_audio_level(ext[AUDIO_LEVEL])
    assert 0 <= level <= 127
    assert rtp_ext.parse_sdes_id(ext[MID]) == "0"  # the audio m-line
    assert 0 <= rtp_ext.parse_transport_seq(ext[TRANSPORT_CC]) <= 0xFFFF
    assert 0 <= rtp_ext.abs_send_time_to_seconds(rtp_ext.parse_abs_send_time(ext[ABS_SEND_TIME])) < 64
    offset = rtp_ext.extension_offset(load("opus_audio_level"))
    found = rtp_ext.find_ext(load("opus_audio_level"), offset, AUDIO_LEVEL)
    assert found is not None and bytes(found) == ext[AUDIO_LEVEL]
    assert isinstance(voice, bool)


def test_vp8_keyframes_are_told_apart() -> None:
    key, delta = load("vp8_keyframe"), load("vp8_delta")
    assert header_fields(key)[0] == 96
    assert vp8_is_keyframe(memoryview(key)[payload_offset(key) :])
    assert not vp8_is_keyframe(memoryview(delta)[payload_offset(delta) :])
    assert rtp_ext.parse_sdes_id(RtpPacket.parse(key).extensions()[MID]) == "1"  # the video m-line


def test_rtx_unwraps_to_the_video_stream() -> None:
    data = load("rtx")
    assert header_fields(data)[0] == 97  # RTX for VP8 96 (a=fmtp:97 apt=96)
    original = rtx_unwrap(data, ssrc=0x1234, pt=96)
    pt, seq, _ts, ssrc, _h, _m, _p = header_fields(original)
    assert (pt, ssrc) == (96, 0x1234)
    osn = int.from_bytes(data[payload_offset(data) : payload_offset(data) + 2], "big")
    assert seq == osn  # RFC 4588 §4: the original sequence number leads the payload


def test_padding_only_probe_has_nothing_to_unwrap() -> None:
    probe = load("rtx_padding_probe")
    assert header_fields(probe)[6] > 0  # padding length
    with pytest.raises(RtpParseError):
        rtx_unwrap(probe, ssrc=0x1234, pt=96)


@pytest.mark.parametrize("name", ["rtcp_sr_sdes", "rtcp_rr_remb", "rtcp_pli"])
def test_rtcp_compounds_round_trip(name: str) -> None:
    data = load(name)
    packets = list(iter_rtcp(data))
    assert b"".join(bytes(p) for p in packets) == data


def test_sender_report_and_cname() -> None:
    sr, sdes = list(iter_rtcp(load("rtcp_sr_sdes")))
    assert isinstance(sr, SenderReport) and isinstance(sdes, Sdes)
    assert sr.packet_count > 0 and sr.octet_count > 0
    assert sdes.chunks[0].ssrc == sr.ssrc


def test_receiver_report_with_remb() -> None:
    packets = list(iter_rtcp(load("rtcp_rr_remb")))
    kinds = [type(p) for p in packets]
    assert ReceiverReport in kinds and Remb in kinds
    remb = next(p for p in packets if isinstance(p, Remb))
    assert remb.bitrate > 0 and remb.ssrcs


def test_pli_names_a_media_source() -> None:
    pli = next(p for p in iter_rtcp(load("rtcp_pli")) if isinstance(p, Pli))
    assert pli.media_ssrc != 0
