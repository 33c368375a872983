"""RTP codec tests: aiortc interop, captured fixtures, property and fuzz tests."""

from __future__ import annotations

import contextlib
import fractions
from dataclasses import replace
from pathlib import Path

import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.rtp import RtpPacket as AiortcRtpPacket
from aiortc.rtp import unwrap_rtx, wrap_rtx
from av import VideoFrame
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.proto import rtp, rtp_ext
from hubbub.proto.rtp import (
    RtpPacket,
    RtpParseError,
    SeqUnwrapper,
    TimestampUnwrapper,
    header_fields,
    is_rtcp,
    is_rtp_or_rtcp,
    payload_offset,
    rewrite,
    rewrite_into,
    rtx_unwrap,
    rtx_wrap,
    seq_diff,
    ts_diff,
)

FIXTURES = Path(__file__).parent / "fixtures" / "rtp"
SETTINGS = settings(deadline=None, max_examples=300)


def load(name: str) -> bytes:
    return bytes.fromhex((FIXTURES / name).read_text().replace("\n", ""))


u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
pts = st.integers(0, 127)


@st.composite
def rtp_packets(draw: st.DrawFn) -> RtpPacket:
    ext: bytes | None = None
    profile = 0
    if draw(st.booleans()):
        exts = draw(st.dictionaries(st.integers(1, 14), st.binary(min_size=1, max_size=16), max_size=4))
        profile, ext = rtp_ext.build_extensions(exts) if exts else (0xBEDE, b"")
    return RtpPacket(
        pt=draw(pts),
        seq=draw(u16),
        ts=draw(u32),
        ssrc=draw(u32),
        payload=draw(st.binary(max_size=64)),
        marker=draw(st.booleans()),
        csrcs=tuple(draw(st.lists(u32, max_size=15))),
        extension_profile=profile,
        extension=ext,
        padding_size=draw(st.sampled_from([0, 0, 1, 3, 4, 17])),
    )


# --- demultiplexing ----------------------------------------------------------------------------------


def test_demux_boundaries() -> None:
    assert is_rtp_or_rtcp(b"\x80") and is_rtp_or_rtcp(b"\xbf")
    assert not is_rtp_or_rtcp(b"\x7f") and not is_rtp_or_rtcp(b"\xc0") and not is_rtp_or_rtcp(b"")
    assert not is_rtp_or_rtcp(b"\x00\x01")  # STUN
    assert not is_rtp_or_rtcp(b"\x16\xfe")  # DTLS handshake
    assert is_rtcp(b"\x80\xc0") and is_rtcp(b"\x81\xdf")
    assert not is_rtcp(b"\x80\xbf") and not is_rtcp(b"\x80\xe0") and not is_rtcp(b"\x80")
    # RTP with PT 96 and marker set is 0xe0: not RTCP (RFC 5761 §4 keeps 64..95 free)
    assert not is_rtcp(load("vp8_keyframe.hex"))
    assert is_rtcp(load("rr_remb.hex"))


# --- known-answer fixtures -------------------------------------------------------------------------------


def test_vp8_keyframe_fixture() -> None:
    data = load("vp8_keyframe.hex")
    pt, seq, ts, ssrc, hlen, marker, pad = header_fields(data)
    assert (pt, seq, ts, ssrc, hlen, marker, pad) == (96, 4660, 3000, 0x11223344, 12, True, 0)
    payload = data[hlen:]
    assert rtp.vp8_descriptor(payload) == (0x1234, -1, -1, True, 4)
    assert rtp.vp8_is_keyframe(payload)
    # RFC 6386 §9.1: after the 3-byte frame tag of a key frame come 9d 01 2a and the size.
    frame = payload[4:]
    assert frame[3:6] == b"\x9d\x01\x2a"
    assert int.from_bytes(frame[6:8], "little") & 0x3FFF == 320
    assert int.from_bytes(frame[8:10], "little") & 0x3FFF == 240
    # Clearing the frame-tag P bit's inverse (setting "inter frame") is seen.
    inter = bytearray(payload)
    inter[4] |= 0x01
    assert not rtp.vp8_is_keyframe(inter)
    assert not rtp.vp8_is_keyframe(payload[:4])


def test_opus_fixture_with_one_byte_extensions() -> None:
    data = load("opus_ext.hex")
    pt, seq, ts, ssrc, hlen, marker, pad = header_fields(data)
    assert (pt, seq, ts, ssrc, marker, pad) == (111, 65535, 0xFFFFFC40, 0xCAFEBABE, True, 0)
    assert hlen == 12 + 4 + 12
    packet = RtpPacket.parse(data)
    assert packet.extension_profile == rtp_ext.ONE_BYTE_PROFILE
    assert packet.extensions() == {4: b"0", 2: b"\x0a\x1b\x2c", 1: b"\xaa", 3: b"\x01\x02"}
    assert bytes(packet) == data
    off = rtp_ext.extension_offset(data)
    level = rtp_ext.find_ext(data, off, 1)
    assert level is not None and rtp_ext.parse_audio_level(level) == (True, 42)
    assert data[hlen:] == packet.payload


# --- aiortc interop ---------------------------------------------------------------------------------------


@SETTINGS
@given(rtp_packets())
def test_ours_to_aiortc(packet: RtpPacket) -> None:
    data = bytes(packet)
    theirs = AiortcRtpPacket.parse(data)
    assert theirs.payload_type == packet.pt
    assert theirs.sequence_number == packet.seq
    assert theirs.timestamp == packet.ts
    assert theirs.ssrc == packet.ssrc
    assert theirs.marker == int(packet.marker)
    assert theirs.csrc == list(packet.csrcs)
    assert theirs.padding_size == packet.padding_size
    assert theirs.payload == packet.payload


@SETTINGS
@given(
    pt=pts,
    seq=u16,
    ts=u32,
    ssrc=u32,
    marker=st.booleans(),
    csrcs=st.lists(u32, max_size=15),
    payload=st.binary(max_size=64),
    padding=st.integers(0, 255),
)
def test_aiortc_to_ours(
    pt: int, seq: int, ts: int, ssrc: int, marker: bool, csrcs: list[int], payload: bytes, padding: int
) -> None:
    theirs = AiortcRtpPacket(
        payload_type=pt, marker=int(marker), sequence_number=seq, timestamp=ts, ssrc=ssrc, payload=payload
    )
    theirs.csrc = csrcs
    theirs.padding_size = padding
    data = theirs.serialize()
    assert header_fields(data) == (pt, seq, ts, ssrc, 12 + 4 * len(csrcs), marker, padding)
    ours = RtpPacket.parse(data)
    assert (ours.pt, ours.seq, ours.ts, ours.ssrc, ours.marker) == (pt, seq, ts, ssrc, marker)
    assert ours.csrcs == tuple(csrcs) and ours.payload == payload and ours.padding_size == padding
    # aiortc pads with random bytes, we pad with zeros: equal but for those bytes
    assert bytes(ours)[: len(data) - padding] == data[: len(data) - padding]


# --- errors and fuzz ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "shorter"),
        (b"\x80" * 11, "shorter"),
        (b"\x40" + bytes(11), "version"),
        (b"\x81" + bytes(11), "truncated"),  # one CSRC announced, none there
        (b"\x90" + bytes(11) + b"\xbe\xde", "extension"),
        (b"\x90" + bytes(11) + b"\xbe\xde\x00\x01", "truncated"),
        (b"\xa0" + bytes(10) + b"\x00", "padding"),
        (b"\xa0" + bytes(10) + b"\x05", "padding"),
    ],
)
def test_header_fields_rejects(data: bytes, why: str) -> None:
    with pytest.raises(RtpParseError, match=why):
        header_fields(data)
    with pytest.raises(RtpParseError):
        RtpPacket.parse(data)


@SETTINGS
@given(st.binary(max_size=80))
def test_parsers_on_arbitrary_bytes(data: bytes) -> None:
    for parse in (header_fields, RtpPacket.parse, payload_offset, rtp.vp8_descriptor):
        with contextlib.suppress(RtpParseError):
            parse(data)
    with contextlib.suppress(RtpParseError):
        rtx_unwrap(data, 1, 96)
    with contextlib.suppress(RtpParseError):
        rtx_wrap(data, 1, 2, 97)
    assert isinstance(rtp.vp8_is_keyframe(data), bool)
    assert isinstance(rtp.vp9_is_keyframe(data), bool)
    assert isinstance(rtp.h264_is_keyframe(data), bool)


@SETTINGS
@given(st.binary(min_size=12, max_size=80).map(lambda b: bytes([0x80 | (b[0] & 0x3F)]) + b[1:]))
def test_header_fields_agrees_with_aiortc_on_arbitrary_v2(data: bytes) -> None:
    try:
        theirs = AiortcRtpPacket.parse(data)
    except ValueError:
        with pytest.raises(RtpParseError):
            header_fields(data)
        return
    pt, seq, ts, ssrc, hlen, marker, pad = header_fields(data)
    assert (pt, seq, ts, ssrc, int(marker)) == (
        theirs.payload_type,
        theirs.sequence_number,
        theirs.timestamp,
        theirs.ssrc,
        theirs.marker,
    )
    assert data[hlen : len(data) - pad] == theirs.payload


# --- round trip and rewrite ----------------------------------------------------------------------------------


@SETTINGS
@given(rtp_packets())
def test_round_trip(packet: RtpPacket) -> None:
    assert RtpPacket.parse(bytes(packet)) == packet


@SETTINGS
@given(rtp_packets(), u32, u16, u32, st.one_of(st.none(), pts))
def test_rewrite_sets_fields_and_keeps_payload(packet: RtpPacket, ssrc: int, seq: int, ts: int, pt: int | None) -> None:
    data = bytes(packet)
    out = rewrite(data, ssrc, seq, ts, pt)
    new_pt, new_seq, new_ts, new_ssrc, _hlen, marker, pad = header_fields(out)
    assert (new_seq, new_ts, new_ssrc) == (seq, ts, ssrc)
    assert new_pt == (packet.pt if pt is None else pt)
    assert marker == packet.marker and pad == packet.padding_size
    assert out[12:] == data[12:]  # CSRCs, extensions, payload and padding untouched
    assert out[0] == data[0]
    inplace = bytearray(data)
    rewrite_into(inplace, ssrc, seq, ts, pt)
    assert inplace == out


def test_rewrite_remaps_extension_ids() -> None:
    data = load("opus_ext.hex")
    table = rtp_ext.make_id_map({1: 10, 3: 5, 4: 4})  # drop abs-send-time (2)
    out = rewrite(data, 7, 8, 9, ext_ids=table)
    packet = RtpPacket.parse(bytes(out))
    assert packet.extensions() == {4: b"0", 10: b"\xaa", 5: b"\x01\x02"}
    assert len(out) == len(data) and packet.payload == RtpPacket.parse(data).payload


def test_rewrite_rejects_short() -> None:
    with pytest.raises(RtpParseError):
        rewrite(b"\x80\x60", 1, 2, 3)
    with pytest.raises(RtpParseError):
        rewrite_into(bytearray(4), 1, 2, 3)


# --- RTX (RFC 4588) -------------------------------------------------------------------------------------------


@SETTINGS
@given(rtp_packets(), u32, u16, pts)
def test_rtx_round_trip_and_aiortc(packet: RtpPacket, rtx_ssrc: int, rtx_seq: int, rtx_pt: int) -> None:
    data = bytes(packet)
    wrapped = rtx_wrap(data, rtx_ssrc, rtx_seq, rtx_pt)
    w = RtpPacket.parse(wrapped)
    assert (w.ssrc, w.seq, w.pt, w.ts, w.marker) == (rtx_ssrc, rtx_seq, rtx_pt, packet.ts, packet.marker)
    assert w.payload == packet.seq.to_bytes(2, "big") + packet.payload
    assert w.csrcs == packet.csrcs and w.extension == packet.extension and w.padding_size == 0
    # aiortc's wrap_rtx of the same packet agrees on header fields and payload
    theirs = wrap_rtx(AiortcRtpPacket.parse(data), rtx_pt, rtx_seq, rtx_ssrc)
    assert theirs.payload == w.payload and theirs.sequence_number == rtx_seq
    # unwrap: ours and aiortc's recover the original
    orig = RtpPacket.parse(rtx_unwrap(wrapped, packet.ssrc, packet.pt))
    assert orig == replace(packet, padding_size=0)
    theirs_orig = unwrap_rtx(AiortcRtpPacket.parse(wrapped), packet.pt, packet.ssrc)
    assert theirs_orig.payload == orig.payload and theirs_orig.sequence_number == orig.seq


def test_rtx_unwrap_padding_only_probe() -> None:
    probe = bytes(RtpPacket(pt=97, seq=1, ts=2, ssrc=3, payload=b"", padding_size=200))
    with pytest.raises(RtpParseError, match="original sequence"):
        rtx_unwrap(probe, 4, 96)


# --- sequence numbers ----------------------------------------------------------------------------------------


def test_seq_and_ts_diff() -> None:
    assert seq_diff(1, 65535) == 2
    assert seq_diff(65535, 1) == -2
    assert seq_diff(5, 5) == 0
    assert seq_diff(32767, 0) == 32767 and seq_diff(32768, 0) == -32768
    assert ts_diff(10, 0xFFFFFFF0) == 26 and ts_diff(0xFFFFFFF0, 10) == -26


@SETTINGS
@given(u16, st.lists(st.integers(1, 0x7FFF), max_size=50))
def test_seq_unwrapper_monotonic(start: int, steps: list[int]) -> None:
    u = SeqUnwrapper()
    prev = u.unwrap(start)
    assert prev == start
    value = start
    for step in steps:
        value = (value + step) & 0xFFFF
        ext = u.unwrap(value)
        assert ext == prev + step and ext & 0xFFFF == value
        prev = ext
    assert u.last == prev


def test_seq_unwrapper_reorder_across_wrap() -> None:
    u = SeqUnwrapper()
    assert [u.unwrap(s) for s in (65534, 65535, 1, 0, 2)] == [65534, 65535, 65537, 65536, 65538]


@SETTINGS
@given(u32, st.lists(st.integers(1, 0x7FFFFFFF), max_size=20))
def test_timestamp_unwrapper_monotonic(start: int, steps: list[int]) -> None:
    u = TimestampUnwrapper()
    prev = u.unwrap(start)
    value = start
    for step in steps:
        value = (value + step) & 0xFFFFFFFF
        ext = u.unwrap(value)
        assert ext == prev + step
        prev = ext


# --- codec payloads --------------------------------------------------------------------------------------------


@SETTINGS
@given(
    start=st.integers(0, 1),
    pid=st.integers(0, 7),
    picture_id=st.one_of(st.none(), st.integers(0, 0x7FFF)),
    tl0=st.one_of(st.none(), u8),
    tid=st.one_of(st.none(), st.tuples(st.integers(0, 3), st.integers(0, 1))),
    keyidx=st.one_of(st.none(), st.integers(0, 31)),
    rest=st.binary(max_size=8),
)
def test_vp8_descriptor_matches_aiortc(
    start: int,
    pid: int,
    picture_id: int | None,
    tl0: int | None,
    tid: tuple[int, int] | None,
    keyidx: int | None,
    rest: bytes,
) -> None:
    head = bytes(VpxPayloadDescriptor(start, pid, picture_id, tl0, tid, keyidx))
    got = rtp.vp8_descriptor(head + rest)
    expected = (
        -1 if picture_id is None else picture_id,
        -1 if tl0 is None else tl0,
        -1 if tid is None else tid[0],
        bool(start),
        len(head),
    )
    assert got == expected
    _, remainder = VpxPayloadDescriptor.parse(head + rest)
    assert remainder == rest


def test_vp8_short_picture_id() -> None:
    # X=1 S=1, I=1, 7-bit picture id 0x55, then a key frame tag
    assert rtp.vp8_descriptor(b"\x90\x80\x55\x00") == (0x55, -1, -1, True, 3)
    assert rtp.vp8_is_keyframe(b"\x90\x80\x55\x00")
    assert not rtp.vp8_is_keyframe(b"\x91\x80\x55\x00")  # PID 1: not the frame's first partition
    assert not rtp.vp8_is_keyframe(b"\x80\x80\x55\x00")  # S=0: continuation
    with pytest.raises(RtpParseError):
        rtp.vp8_descriptor(b"\x90\x80\xd5")


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        (bytes([0b00001010]), True),  # B=1, V=1 (SS), P=0: single-layer key picture
        (bytes([0b00001000]), True),  # B=1, P=0 without SS
        (bytes([0b01001000]), False),  # P=1
        (bytes([0b00000100]), False),  # B=0: not the first packet
        (bytes([0b10101010, 0x80, 0x01, 0b00000000, 7]), True),  # I M=1, L: SID 0, TL0PICIDX
        (bytes([0b10101010, 0x05, 0b00000010, 7]), False),  # L: SID 1
        (bytes([0b00111000, 0b00000000]), True),  # flexible mode, L, SID 0
        (bytes([0b10101000]), False),  # truncated picture id
        (b"", False),
    ],
)
def test_vp9_keyframe(payload: bytes, key: bool) -> None:
    assert rtp.vp9_is_keyframe(payload) is key


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        (bytes([0x65, 0x88]), True),  # IDR slice
        (bytes([0x67, 0x42]), True),  # SPS
        (bytes([0x41, 0x9A]), False),  # non-IDR slice
        (bytes([0x68, 0xCE]), False),  # PPS alone
        (bytes([0x78, 0x00, 0x02, 0x68, 0xCE, 0x00, 0x02, 0x65, 0x88]), True),  # STAP-A PPS + IDR
        (bytes([0x78, 0x00, 0x02, 0x41, 0x9A]), False),  # STAP-A non-IDR
        (bytes([0x7C, 0x85, 0x88]), True),  # FU-A start of IDR
        (bytes([0x7C, 0x05, 0x88]), False),  # FU-A middle of IDR
        (bytes([0x7C, 0x81, 0x88]), False),  # FU-A start of non-IDR
        (bytes([0x78, 0xFF]), False),  # truncated STAP-A
        (b"", False),
    ],
)
def test_h264_keyframe_vectors(payload: bytes, key: bool) -> None:
    assert rtp.h264_is_keyframe(payload) is key


def test_h264_keyframe_from_real_encoder() -> None:
    encoder = H264Encoder()
    frames = []
    for i in range(3):
        frame = VideoFrame(width=320, height=240, format="yuv420p")
        for plane in frame.planes:
            plane.update(bytes([16 + 40 * i]) * plane.buffer_size)
        frame.pts = i * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        frames.append(encoder.encode(frame, force_keyframe=(i == 0))[0])
    assert frames[0] and rtp.h264_is_keyframe(frames[0][0])
    assert not any(rtp.h264_is_keyframe(p) for p in frames[2])
