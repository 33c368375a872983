"""RTP header extension tests (RFC 8285): aiortc interop, value codecs, in-place rewrites, fuzz."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, pack_header_extensions, unpack_header_extensions
from aiortc.rtp import RtpPacket as AiortcRtpPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.proto import rtp_ext
from hubbub.proto.rtp import RtpPacket, header_fields
from hubbub.proto.rtp_ext import (
    ONE_BYTE_PROFILE,
    TWO_BYTE_PROFILE,
    RtpExtensionError,
    build_extension_block,
    build_extensions,
    extension_offset,
    find_ext,
    find_ext_offset,
    make_id_map,
    parse_extension_block,
    parse_extensions,
    remap_ext_ids,
)

FIXTURES = Path(__file__).parent / "fixtures" / "rtp"
SETTINGS = settings(deadline=None, max_examples=300)

AUDIO_LEVEL, ABS_SEND_TIME, MID, TCC, RID, RRID = 1, 2, 3, 5, 10, 11


def aiortc_map() -> HeaderExtensionsMap:
    m = HeaderExtensionsMap()
    m.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=AUDIO_LEVEL, uri=rtp_ext.URI_AUDIO_LEVEL),
                RTCRtpHeaderExtensionParameters(id=ABS_SEND_TIME, uri=rtp_ext.URI_ABS_SEND_TIME),
                RTCRtpHeaderExtensionParameters(id=MID, uri=rtp_ext.URI_MID),
                RTCRtpHeaderExtensionParameters(id=TCC, uri=rtp_ext.URI_TRANSPORT_CC),
                RTCRtpHeaderExtensionParameters(id=RID, uri=rtp_ext.URI_RID),
                RTCRtpHeaderExtensionParameters(id=RRID, uri=rtp_ext.URI_REPAIRED_RID),
            ]
        )
    )
    return m


rid_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=16)
ext_bodies = st.dictionaries(st.integers(1, 255), st.binary(max_size=40), max_size=6)


def test_find_ext_offset_on_opus_fixture() -> None:
    data = bytes.fromhex((FIXTURES / "opus_ext.hex").read_text().replace("\n", ""))
    off = extension_offset(data)
    assert off == 12
    assert find_ext_offset(data, off, 1) == 23  # 12 + 4 + "40 30" + "22 0a1b2c" + "10"
    assert find_ext_offset(data, off, 9) == -1
    assert find_ext_offset(data, -1, 1) == -1


@SETTINGS
@given(
    level=st.tuples(st.booleans(), st.integers(0, 127)),
    ast=st.integers(0, 0xFFFFFF),
    mid=rid_text,
    tcc=st.integers(0, 0xFFFF),
    rid=st.one_of(st.none(), rid_text),
    rrid=st.one_of(st.none(), rid_text),
)
def test_aiortc_extensions_to_ours(
    level: tuple[bool, int], ast: int, mid: str, tcc: int, rid: str | None, rrid: str | None
) -> None:
    packet = AiortcRtpPacket(payload_type=111, sequence_number=1, timestamp=2, ssrc=3, payload=b"\x01\x02")
    packet.extensions.audio_level = level
    packet.extensions.abs_send_time = ast
    packet.extensions.mid = mid
    packet.extensions.transport_sequence_number = tcc
    packet.extensions.rtp_stream_id = rid
    packet.extensions.repaired_rtp_stream_id = rrid
    data = packet.serialize(aiortc_map())
    off = extension_offset(data)

    def get(ext_id: int) -> memoryview:
        view = find_ext(data, off, ext_id)
        assert view is not None
        return view

    assert rtp_ext.parse_audio_level(get(AUDIO_LEVEL)) == level
    assert rtp_ext.parse_abs_send_time(get(ABS_SEND_TIME)) == ast
    assert rtp_ext.parse_sdes_id(get(MID)) == mid
    assert rtp_ext.parse_transport_seq(get(TCC)) == tcc
    assert (find_ext(data, off, RID) is None) == (rid is None)
    if rid is not None:
        assert rtp_ext.parse_sdes_id(get(RID)) == rid
    if rrid is not None:
        assert rtp_ext.parse_sdes_id(get(RRID)) == rrid
    assert parse_extension_block(data, off) == RtpPacket.parse(data).extensions()


@SETTINGS
@given(
    level=st.tuples(st.booleans(), st.integers(0, 127)),
    ast=st.integers(0, 0xFFFFFF),
    mid=rid_text,
    tcc=st.integers(0, 0xFFFF),
    two_byte=st.booleans(),
)
def test_ours_to_aiortc_extensions(level: tuple[bool, int], ast: int, mid: str, tcc: int, two_byte: bool) -> None:
    exts = {
        AUDIO_LEVEL: rtp_ext.build_audio_level(*level),
        ABS_SEND_TIME: rtp_ext.build_abs_send_time(ast),
        MID: rtp_ext.build_sdes_id(mid),
        TCC: rtp_ext.build_transport_seq(tcc),
    }
    packet = RtpPacket(pt=111, seq=1, ts=2, ssrc=3, payload=b"x").with_extensions(exts, two_byte=two_byte)
    assert packet.extension_profile == (TWO_BYTE_PROFILE if two_byte else ONE_BYTE_PROFILE)
    theirs = AiortcRtpPacket.parse(bytes(packet), aiortc_map()).extensions
    assert theirs.audio_level == level
    assert theirs.abs_send_time == ast
    assert theirs.mid == mid
    assert theirs.transport_sequence_number == tcc


@SETTINGS
@given(ext_bodies)
def test_block_round_trip_and_aiortc(exts: dict[int, bytes]) -> None:
    profile, body = build_extensions(exts)
    assert len(body) % 4 == 0
    assert parse_extensions(profile, body) == exts
    assert dict(unpack_header_extensions(profile, body)) == exts
    if exts:
        their_profile, their_body = pack_header_extensions(list(exts.items()))
        assert their_profile == profile
        assert parse_extensions(their_profile, their_body) == exts
    block = build_extension_block(exts)
    assert parse_extension_block(block, 0) == exts
    for ext_id, value in exts.items():
        view = find_ext(block, 0, ext_id)
        assert view is not None and bytes(view) == value


def test_one_byte_rules() -> None:
    # padding between elements, then ID 15 stops processing (RFC 8285 §4.2)
    body = bytes([0x10, 0xAA, 0x00, 0x00, 0x21, 0x01, 0x02, 0xF0, 0x30, 0x01, 0x00, 0x00])
    assert parse_extensions(ONE_BYTE_PROFILE, body) == {1: b"\xaa", 2: b"\x01\x02"}
    block = bytes.fromhex("bede0003") + body
    assert find_ext(block, 0, 3) is None
    assert find_ext_offset(block, 0, 2) == 9
    # one-byte form cannot carry ID 15 or empty values
    with pytest.raises(ValueError):
        build_extensions({15: b"a"}, two_byte=False)
    assert build_extensions({1: b""})[0] == TWO_BYTE_PROFILE
    # two-byte form with appbits, zero-length value and padding (RFC 8285 §4.3)
    assert parse_extensions(0x1003, bytes([0x20, 0x00, 0x00, 0xFF, 0x01, 0x07, 0, 0])) == {32: b"", 255: b"\x07"}
    # unknown profile: ignored (RFC 3550 §5.3.1)
    assert parse_extensions(0x1234, b"\x10\xaa\x00\x00") == {}


@pytest.mark.parametrize(
    ("profile", "body"),
    [
        (ONE_BYTE_PROFILE, bytes([0x13, 0x01])),  # says 4 bytes, has 1
        (TWO_BYTE_PROFILE, bytes([0x05])),  # id without length
        (TWO_BYTE_PROFILE, bytes([0x05, 0x04, 0x01])),
    ],
)
def test_truncated_elements(profile: int, body: bytes) -> None:
    with pytest.raises(RtpExtensionError):
        parse_extensions(profile, body)


def test_truncated_blocks_in_lookups() -> None:
    one_byte = bytes.fromhex("bede0001 13010000")  # element claims 4 bytes in a 4-byte block
    two_byte = bytes.fromhex("10000001 05040102")  # element claims 4 bytes, 2 there
    too_long = bytes.fromhex("bede0002 10aa0000")  # block length runs past the buffer
    for block in (one_byte, two_byte, too_long, b"\xbe\xde"):
        with pytest.raises(RtpExtensionError):
            find_ext_offset(block, 0, 99)
        with pytest.raises(RtpExtensionError):
            find_ext(block, 0, 99)
        with pytest.raises(RtpExtensionError):
            remap_ext_ids(bytearray(block), 0, make_id_map({}))


@SETTINGS
@given(st.binary(max_size=40), st.integers(0, 40), st.integers(0, 255))
def test_lookups_on_arbitrary_bytes(data: bytes, offset: int, ext_id: int) -> None:
    for fn in (find_ext, find_ext_offset):
        with contextlib.suppress(RtpExtensionError):
            fn(data, offset, ext_id)
    for profile in (ONE_BYTE_PROFILE, TWO_BYTE_PROFILE, 0x1001, 0):
        with contextlib.suppress(RtpExtensionError):
            parse_extensions(profile, data)
    with contextlib.suppress(RtpExtensionError):
        parse_extension_block(data, offset)
    buf = bytearray(data)
    with contextlib.suppress(RtpExtensionError):
        remap_ext_ids(buf, offset, make_id_map({1: 2}))
    assert len(buf) == len(data)
    for value_parser in (
        rtp_ext.parse_audio_level,
        rtp_ext.parse_abs_send_time,
        rtp_ext.parse_transport_seq,
        rtp_ext.parse_sdes_id,
    ):
        with contextlib.suppress(RtpExtensionError):
            value_parser(data)


# --- value codecs ----------------------------------------------------------------------------------------------


def test_value_codecs() -> None:
    assert rtp_ext.build_audio_level(True, 0) == b"\x80"
    assert rtp_ext.build_audio_level(False, 127) == b"\x7f"
    assert rtp_ext.build_audio_level(False, 200) == b"\x7f"  # clamped
    assert rtp_ext.parse_audio_level(b"\xaa") == (True, 42)
    # abs-send-time: 6.18 fixed point, 1.5 s == 0x060000
    assert rtp_ext.abs_send_time_from_seconds(1.5) == 0x060000
    assert rtp_ext.abs_send_time_from_seconds(64.25) == 0x010000  # wraps every 64 s
    assert rtp_ext.abs_send_time_to_seconds(0x060000) == 1.5
    assert rtp_ext.build_abs_send_time(0x060000) == b"\x06\x00\x00"
    assert rtp_ext.parse_transport_seq(rtp_ext.build_transport_seq(0x1FFFF)) == 0xFFFF
    assert rtp_ext.parse_sdes_id(b"q") == "q"
    with pytest.raises(RtpExtensionError):
        rtp_ext.parse_sdes_id(b"\xff")
    with pytest.raises(RtpExtensionError):
        rtp_ext.parse_abs_send_time(b"\x01\x02")
    with pytest.raises(ValueError):
        rtp_ext.build_sdes_id("")


# --- in-place rewrites -------------------------------------------------------------------------------------------


def _packet_with(exts: dict[int, bytes], two_byte: bool = False) -> bytearray:
    p = RtpPacket(pt=96, seq=10, ts=20, ssrc=30, payload=b"payload").with_extensions(exts, two_byte=two_byte)
    return bytearray(bytes(p))


@pytest.mark.parametrize("two_byte", [False, True])
def test_set_transport_seq_and_abs_send_time_in_place(two_byte: bool) -> None:
    buf = _packet_with({TCC: b"\x00\x01", ABS_SEND_TIME: b"\x00\x00\x00", MID: b"a"}, two_byte)
    before = len(buf)
    off = extension_offset(buf)
    assert rtp_ext.set_transport_seq(buf, off, TCC, 0xBEEF)
    assert rtp_ext.set_abs_send_time(buf, off, ABS_SEND_TIME, 0x123456)
    assert not rtp_ext.set_transport_seq(buf, off, 14, 1)
    assert len(buf) == before
    theirs = AiortcRtpPacket.parse(bytes(buf), aiortc_map())
    assert theirs.extensions.transport_sequence_number == 0xBEEF
    assert theirs.extensions.abs_send_time == 0x123456
    assert theirs.extensions.mid == "a" and theirs.payload == b"payload"
    assert rtp_ext.set_ext_value(buf, off, MID, b"b")
    with pytest.raises(ValueError):
        rtp_ext.set_ext_value(buf, off, MID, b"bb")
    assert AiortcRtpPacket.parse(bytes(buf), aiortc_map()).extensions.mid == "b"


@pytest.mark.parametrize("two_byte", [False, True])
def test_remap_ids(two_byte: bool) -> None:
    buf = _packet_with({1: b"\xaa", 2: b"\x01\x02\x03", 3: b"mid"}, two_byte)
    before = bytes(buf)
    remap_ext_ids(buf, extension_offset(buf), make_id_map({1: 7, 3: 9}))
    assert len(buf) == len(before)
    assert RtpPacket.parse(bytes(buf)).extensions() == {7: b"\xaa", 9: b"mid"}
    assert header_fields(buf) == header_fields(before)
    # keep unmapped IDs
    buf = _packet_with({1: b"\xaa", 2: b"\x01\x02\x03"}, two_byte)
    remap_ext_ids(buf, extension_offset(buf), make_id_map({1: 4}, drop_unmapped=False))
    assert RtpPacket.parse(bytes(buf)).extensions() == {4: b"\xaa", 2: b"\x01\x02\x03"}


def test_remap_to_two_byte_only_id_in_one_byte_form_drops() -> None:
    buf = _packet_with({1: b"\xaa", 2: b"\x01"})
    remap_ext_ids(buf, extension_offset(buf), make_id_map({1: 20, 2: 2}))
    assert RtpPacket.parse(bytes(buf)).extensions() == {2: b"\x01"}
    with pytest.raises(ValueError):
        make_id_map({0: 1})


# --- the one element walk (find_ext_offset serves find_ext, remap_ext_ids, parse_extensions) ----------------------


def _reference_elements(profile: int, body: bytes) -> tuple[list[tuple[int, int, int]], bool]:
    """``(id, value start, value end)`` per element read the slow and obvious way, and whether one is truncated."""
    out: list[tuple[int, int, int]] = []
    pos = 0
    one_byte, two_byte = profile == ONE_BYTE_PROFILE, (profile & 0xFFF0) == TWO_BYTE_PROFILE
    while (one_byte or two_byte) and pos < len(body):
        if body[pos] == 0:  # padding (RFC 8285 §4.2, §4.3)
            pos += 1
            continue
        if one_byte:
            ext_id, start, length = body[pos] >> 4, pos + 1, (body[pos] & 0x0F) + 1
            if ext_id == 15:  # stop (RFC 8285 §4.2)
                break
        else:
            if pos + 2 > len(body):
                return out, True
            ext_id, start, length = body[pos], pos + 2, body[pos + 1]
        if start + length > len(body):
            return out, True
        out.append((ext_id, start, start + length))
        pos = start + length
    return out, False


@SETTINGS
@given(
    st.sampled_from([ONE_BYTE_PROFILE, TWO_BYTE_PROFILE, 0x100F, 0x1234]),
    st.lists(st.sampled_from([0x00, 0x00, 0x10, 0x21, 0x32, 0x40, 0xF0, 0x01, 0x02, 0xAA]), max_size=24),
    st.integers(0, 20),
    st.binary(min_size=256, max_size=256),
)
def test_every_walker_agrees_with_a_reference_walk(profile: int, raw: list[int], ext_id: int, table: bytes) -> None:
    body = bytes(raw)
    # parse_extensions on a bare body of any length: the first value of each ID, or an error
    elements, truncated = _reference_elements(profile, body)
    if truncated:
        with pytest.raises(RtpExtensionError):
            parse_extensions(profile, body)
    else:
        first: dict[int, bytes] = {}
        for i, a, b in elements:
            first.setdefault(i, body[a:b])
        assert parse_extensions(profile, body) == first
    # the walkers that read a block header: offsets count from the header, 4 bytes before the body
    block = (profile.to_bytes(2, "big") + (len(body) // 4).to_bytes(2, "big") + body)[: 4 + len(body) // 4 * 4]
    elements, truncated = _reference_elements(profile, block[4:])
    match = next(((a + 4, b + 4) for i, a, b in elements if i == ext_id), None)
    if match is None and truncated:  # a lookup stops at its match, before any later truncation
        with pytest.raises(RtpExtensionError):
            find_ext_offset(block, 0, ext_id)
        with pytest.raises(RtpExtensionError):
            find_ext(block, 0, ext_id)
    else:
        assert find_ext_offset(block, 0, ext_id) == (match[0] if match else -1)
        view = find_ext(block, 0, ext_id)
        assert (bytes(view) if view is not None else None) == (block[match[0] : match[1]] if match else None)
    buf = bytearray(block)
    if truncated:
        with pytest.raises(RtpExtensionError):
            parse_extension_block(block, 0)
        with pytest.raises(RtpExtensionError):
            remap_ext_ids(buf, 0, table)
        return
    assert parse_extension_block(block, 0) == parse_extensions(profile, block[4:])
    # remap_ext_ids: every element renumbered or blanked, every other byte untouched
    remap_ext_ids(buf, 0, table)
    want = bytearray(block)
    for i, a, b in elements:
        hdr = a + 4 - (1 if profile == ONE_BYTE_PROFILE else 2)
        new = table[i]
        if profile == ONE_BYTE_PROFILE and 1 <= new <= 14:
            want[hdr] = (new << 4) | (want[hdr] & 0x0F)
        elif profile != ONE_BYTE_PROFILE and new:
            want[hdr] = new
        else:
            want[hdr : b + 4] = bytes(b + 4 - hdr)
    assert buf == want


@pytest.mark.parametrize("two_byte", [False, True])
def test_walk_rules_in_both_forms(two_byte: bool) -> None:
    # padding before, between and after elements; ID 1 twice: lookups take the first, remap renumbers both
    if two_byte:
        block = bytes.fromhex("10000004" + "00 0101aa 00 0102bbcc 0201dd 00000000")
        first, second, header = 7, 11, 2
    else:
        block = bytes.fromhex("bede0003" + "00 10aa 00 11bbcc 20dd 000000")
        first, second, header = 6, 9, 1
    assert parse_extension_block(block, 0) == {1: b"\xaa", 2: b"\xdd"}
    assert find_ext_offset(block, 0, 1) == first
    view = find_ext(block, 0, 1)
    assert view is not None and bytes(view) == b"\xaa"
    buf = bytearray(block)
    remap_ext_ids(buf, 0, make_id_map({1: 7, 2: 2}))
    assert parse_extension_block(buf, 0) == {7: b"\xaa", 2: b"\xdd"}
    assert find_ext_offset(buf, 0, 7) == first
    assert buf[second - header] == (7 if two_byte else 0x71)  # the repeat is renumbered too
    remap_ext_ids(buf, 0, make_id_map({2: 2}))  # 7 is unmapped: both are blanked
    assert len(buf) == len(block)
    assert parse_extension_block(buf, 0) == {2: b"\xdd"}
    assert find_ext(buf, 0, 7) is None


def test_one_byte_id_15_stops_every_walker() -> None:
    block = bytes.fromhex("bede0002" + "10aa" + "f0" + "20bb" + "000000")
    assert parse_extension_block(block, 0) == {1: b"\xaa"}
    assert find_ext_offset(block, 0, 2) == -1
    buf = bytearray(block)
    remap_ext_ids(buf, 0, make_id_map({1: 3, 2: 4}))
    assert buf == bytearray.fromhex("bede0002" + "30aa" + "f0" + "20bb" + "000000")  # 2 is past the stop
