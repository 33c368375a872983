"""RTCP codec tests: aiortc interop, fixtures, TWCC, property and fuzz tests."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    clamp_packets_lost,
    pack_remb_fci,
    unpack_remb_fci,
)
from aiortc.rtp import RtcpPacket as AiortcRtcp
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.proto import rtcp
from hubbub.proto.rtcp import (
    AnyRtcp,
    Bye,
    Fir,
    GenericNack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    RtcpParseError,
    Sdes,
    SdesChunk,
    SenderReport,
    TransportCc,
    Unknown,
    build_compound,
    iter_rtcp,
    iter_rtcp_raw,
    nack_pairs_from_seqs,
    ntp_from_unix,
    ntp_middle32,
    ntp_to_unix,
    parse_rtcp,
)

FIXTURES = Path(__file__).parent / "fixtures" / "rtp"
SETTINGS = settings(deadline=None, max_examples=200)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


def load(name: str) -> bytes:
    return bytes.fromhex((FIXTURES / name).read_text().replace("\n", ""))


# --- strategies ------------------------------------------------------------------------------------------------

report_blocks = st.builds(ReportBlock, u32, u8, st.integers(-0x800000, 0x7FFFFF), u32, u32, u32, u32)
block_lists = st.lists(report_blocks, max_size=4).map(tuple)
words = st.binary(max_size=12).map(lambda b: b[: len(b) - len(b) % 4])
sender_reports = st.builds(SenderReport, u32, u32, u32, u32, u32, u32, block_lists, words)
receiver_reports = st.builds(ReceiverReport, u32, block_lists, words)
sdes_items = st.lists(st.tuples(st.integers(1, 8), st.binary(max_size=20)), max_size=3).map(tuple)
sdes = st.builds(Sdes, st.lists(st.builds(SdesChunk, u32, sdes_items), max_size=3).map(tuple))
byes = st.builds(Bye, st.lists(u32, max_size=5).map(tuple), st.one_of(st.none(), st.binary(max_size=40)))
nacks = st.builds(GenericNack, u32, u32, st.lists(st.tuples(u16, u16), max_size=5).map(tuple))
plis = st.builds(Pli, u32, u32)
firs = st.builds(Fir, u32, st.lists(st.tuples(u32, u8), max_size=4).map(tuple), u32)
rembs = st.builds(
    Remb,
    u32,
    st.tuples(st.integers(0, 0x3FFFF), st.integers(0, 40)).map(lambda me: me[0] << me[1]),
    st.lists(u32, max_size=4).map(tuple),
    u32,
)
unknowns = st.builds(
    Unknown,
    st.sampled_from([204, 207, 195, 210]),
    st.integers(0, 31),
    st.binary(max_size=30),
)


@st.composite
def twccs(draw: st.DrawFn) -> TransportCc:
    statuses = draw(st.lists(st.sampled_from([0, 1, 2, 3]), max_size=120))
    deltas = []
    for s in statuses:
        if s == 1:
            deltas.append(draw(u8))
        elif s == 2:
            deltas.append(draw(st.integers(-0x8000, 0x7FFF)))
    return TransportCc(
        draw(u32),
        draw(u32),
        draw(u16),
        draw(st.integers(-0x800000, 0x7FFFFF)),
        draw(u8),
        tuple(statuses),
        tuple(deltas),
    )


any_rtcp: st.SearchStrategy[AnyRtcp] = st.one_of(
    sender_reports, receiver_reports, sdes, byes, nacks, plis, firs, rembs, twccs(), unknowns
)


# --- round trips and fuzz -----------------------------------------------------------------------------------


@SETTINGS
@given(any_rtcp)
def test_round_trip(packet: AnyRtcp) -> None:
    data = bytes(packet)
    assert len(data) % 4 == 0
    assert type(packet).parse(data) == packet
    assert parse_rtcp(data) == packet


@SETTINGS
@given(st.lists(any_rtcp, max_size=5))
def test_compound_round_trip(packets: list[AnyRtcp]) -> None:
    data = build_compound(packets)
    assert list(iter_rtcp(data)) == packets
    assert [(pt, end - start) for pt, _f, start, end in iter_rtcp_raw(data)] == [
        (bytes(p)[1], len(bytes(p))) for p in packets
    ]


@SETTINGS
@given(st.binary(max_size=120))
def test_parsers_on_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(RtcpParseError):
        list(iter_rtcp(data))
    for cls in (SenderReport, ReceiverReport, Sdes, Bye, GenericNack, Pli, Fir, Remb, TransportCc, Unknown):
        with contextlib.suppress(RtcpParseError):
            cls.parse(data)


@SETTINGS
@given(any_rtcp, st.data())
def test_parsers_on_mutated_packets(packet: AnyRtcp, data: st.DataObject) -> None:
    raw = bytearray(bytes(packet))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(u8)
    cut = data.draw(st.integers(0, len(raw)))
    for candidate in (bytes(raw), bytes(raw[:cut])):
        with contextlib.suppress(RtcpParseError):
            list(iter_rtcp(candidate))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x80\xc9\x00", "shorter"),
        (b"\x40\xc9\x00\x00", "version"),
        (b"\x80\xc9\x00\x02\x00\x00\x00\x01", "runs past"),
        (b"\x81\xc9\x00\x01\x00\x00\x00\x01", "report blocks"),
        (b"\xa0\xc9\x00\x01\x00\x00\x00\x00", "padding"),
        (b"\xa0\xc9\x00\x01\x00\x00\x00\x09", "padding"),
        (b"\x81\xca\x00\x01\x00\x00\x00\x01", "SDES"),
        (b"\x81\xcd\x00\x01\x00\x00\x00\x01", "two SSRCs"),
        (b"\x8f\xcd\x00\x04" + bytes(8) + b"\x00\x01\x00\x05" + bytes(4), "chunks are truncated"),
        (b"\x8f\xcd\x00\x05" + bytes(8) + b"\x00\x01\x00\x02" + bytes(4) + b"\x40\x02\x00\x00", "deltas"),
    ],
)
def test_malformed(data: bytes, why: str) -> None:
    with pytest.raises(RtcpParseError, match=why):
        list(iter_rtcp(data))


# --- aiortc interop -------------------------------------------------------------------------------------------


def _their_block(b: ReportBlock) -> RtcpReceiverInfo:
    return RtcpReceiverInfo(b.ssrc, b.fraction_lost, b.packets_lost, b.highest_seq, b.jitter, b.lsr, b.dlsr)


@SETTINGS
@given(sender_reports, receiver_reports)
def test_reports_with_aiortc(sr: SenderReport, rr: ReceiverReport) -> None:
    sr = SenderReport(sr.ssrc, sr.ntp_sec, sr.ntp_frac, sr.rtp_ts, sr.packet_count, sr.octet_count, sr.reports)
    rr = ReceiverReport(rr.ssrc, rr.reports)
    their_sr = RtcpSrPacket(
        ssrc=sr.ssrc,
        sender_info=RtcpSenderInfo(sr.ntp_timestamp, sr.rtp_ts, sr.packet_count, sr.octet_count),
        reports=[_their_block(b) for b in sr.reports],
    )
    their_rr = RtcpRrPacket(ssrc=rr.ssrc, reports=[_their_block(b) for b in rr.reports])
    assert bytes(their_sr) == bytes(sr)
    assert bytes(their_rr) == bytes(rr)
    parsed = AiortcRtcp.parse(bytes(sr) + bytes(rr))
    assert parsed == [their_sr, their_rr]
    assert list(iter_rtcp(bytes(their_sr) + bytes(their_rr))) == [sr, rr]


def test_packets_lost_clamped_like_aiortc() -> None:
    for lost in (-(1 << 30), -5, 0, 1 << 30):
        clamped = clamp_packets_lost(lost)
        block = ReportBlock(1, 0, clamped, 0, 0, 0, 0)
        theirs = RtcpReceiverInfo.parse(bytes(block))
        assert theirs.packets_lost == clamped == ReportBlock.parse(bytes(_their_block(block))).packets_lost
    with pytest.raises(ValueError):
        bytes(ReportBlock(1, 0, 1 << 23, 0, 0, 0, 0))


@SETTINGS
@given(st.builds(SdesChunk, u32, sdes_items).map(lambda c: Sdes((c,))), byes)
def test_sdes_bye_with_aiortc(s: Sdes, b: Bye) -> None:
    # aiortc pads only after the last chunk (RFC 3550 §6.5 wants every chunk 32-bit aligned),
    # so the two implementations agree on single-chunk SDES, which is what browsers send.
    theirs = AiortcRtcp.parse(bytes(s) + bytes(Bye(b.ssrcs)))
    their_sdes, their_bye = theirs
    assert isinstance(their_sdes, RtcpSdesPacket) and isinstance(their_bye, RtcpByePacket)
    assert [(c.ssrc, c.items) for c in their_sdes.chunks] == [(c.ssrc, list(c.items)) for c in s.chunks]
    assert their_bye.sources == list(b.ssrcs)
    their = RtcpSdesPacket(chunks=[RtcpSourceInfo(c.ssrc, list(c.items)) for c in s.chunks])
    assert Sdes.parse(bytes(their)) == s
    assert Bye.parse(bytes(RtcpByePacket(sources=list(b.ssrcs)))) == Bye(b.ssrcs)


def test_sdes_cname() -> None:
    packet = Sdes.with_cname(0x1234, "abc{def}")
    theirs = AiortcRtcp.parse(bytes(packet))[0]
    assert isinstance(theirs, RtcpSdesPacket)
    assert theirs.chunks[0].items == [(1, b"abc{def}")]
    assert Sdes.parse(bytes(packet)).chunks[0].cname == "abc{def}"


@SETTINGS
@given(u32, u32, st.lists(u16, min_size=1, max_size=40, unique=True))
def test_nack_with_aiortc(sender: int, media: int, lost: list[int]) -> None:
    lost.sort()
    ours = GenericNack.from_sequences(sender, media, lost)
    assert ours.lost_sequences() == lost
    theirs = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=sender, media_ssrc=media, lost=lost)
    assert bytes(theirs) == bytes(ours)
    parsed = AiortcRtcp.parse(bytes(ours))[0]
    assert isinstance(parsed, RtcpRtpfbPacket) and parsed.lost == lost


def test_nack_pairs_across_wrap() -> None:
    pairs = nack_pairs_from_seqs([65534, 65535, 0, 3, 20, 40])
    assert pairs == ((65534, 0b10011), (20, 0), (40, 0))
    assert GenericNack(1, 2, pairs).lost_sequences() == [65534, 65535, 0, 3, 20, 40]


@SETTINGS
@given(u32, u32)
def test_pli_with_aiortc(sender: int, media: int) -> None:
    theirs = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=sender, media_ssrc=media)
    assert bytes(theirs) == bytes(Pli(sender, media))
    assert list(iter_rtcp(bytes(theirs))) == [Pli(sender, media)]


@SETTINGS
@given(u32, st.lists(st.tuples(u32, u8), min_size=1, max_size=3))
def test_fir_with_aiortc(sender: int, entries: list[tuple[int, int]]) -> None:
    fci = b"".join(ssrc.to_bytes(4, "big") + bytes([seq, 0, 0, 0]) for ssrc, seq in entries)
    theirs = RtcpPsfbPacket(fmt=4, ssrc=sender, media_ssrc=0, fci=fci)
    assert Fir.parse(bytes(theirs)) == Fir(sender, tuple(entries))
    parsed = AiortcRtcp.parse(bytes(Fir(sender, tuple(entries))))[0]
    assert isinstance(parsed, RtcpPsfbPacket) and parsed.fmt == 4 and parsed.fci == fci


@SETTINGS
@given(u32, st.integers(0, 1 << 40), st.lists(u32, max_size=5))
def test_remb_with_aiortc(sender: int, bitrate: int, ssrcs: list[int]) -> None:
    theirs = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=sender, media_ssrc=0, fci=pack_remb_fci(bitrate, ssrcs))
    ours = Remb.parse(bytes(theirs))
    expected_bitrate, _ = unpack_remb_fci(pack_remb_fci(bitrate, ssrcs))
    assert ours == Remb(sender, expected_bitrate, tuple(ssrcs))
    assert ours.bitrate <= bitrate and (bitrate - ours.bitrate) <= bitrate >> 17
    assert bytes(Remb(sender, bitrate, tuple(ssrcs))) == bytes(theirs)
    parsed = AiortcRtcp.parse(bytes(ours))[0]
    assert isinstance(parsed, RtcpPsfbPacket)
    assert unpack_remb_fci(parsed.fci) == (expected_bitrate, ssrcs)


def test_psfb_app_that_is_not_remb_is_unknown() -> None:
    theirs = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=2, fci=b"ABCD\x00\x00\x00\x00")
    (packet,) = iter_rtcp(bytes(theirs))
    assert isinstance(packet, Unknown) and packet.pt == 206 and packet.count == 15
    assert bytes(packet) == bytes(theirs)


# --- fixtures ---------------------------------------------------------------------------------------------------


def test_chromium_style_rr_remb_fixture() -> None:
    rr, remb = iter_rtcp(load("rr_remb.hex"))
    assert rr == ReceiverReport(
        ssrc=1,
        reports=(ReportBlock(0x11223344, 25, -3, 0x00011234, 117, 0xA1B2C3D4, 0x00018000),),
    )
    assert remb == Remb(sender_ssrc=1, bitrate=1_500_000, ssrcs=(0x11223344, 0x55667788))
    assert build_compound([rr, remb]) == load("rr_remb.hex")


def test_twcc_fixture_draft_layout() -> None:
    data = load("twcc.hex")
    (fb,) = iter_rtcp(data)
    assert isinstance(fb, TransportCc)
    assert (fb.sender_ssrc, fb.media_ssrc, fb.base_seq, fb.reference_time, fb.fb_count) == (
        1,
        0x11223344,
        100,
        258,
        5,
    )
    assert fb.statuses == (1, 1, 0, 0, 2, 1, 1, 1, 1)
    assert fb.deltas == (4, 8, 400, 0, 255, 16, 1)
    ref = 258 * 64_000
    assert fb.packet_results() == [
        (100, ref + 1_000),
        (101, ref + 3_000),
        (102, None),
        (103, None),
        (104, ref + 103_000),
        (105, ref + 103_000),
        (106, ref + 166_750),
        (107, ref + 170_750),
        (108, ref + 171_000),
    ]
    # our encoder picks its own chunks but the packet means the same thing
    assert TransportCc.parse(bytes(fb)) == fb


# --- TWCC building -------------------------------------------------------------------------------------------------


def test_twcc_from_arrivals_with_losses_and_reordering() -> None:
    base_time = 10_000_000
    arrivals: dict[int, int | None] = {
        65530: base_time,
        65531: base_time + 5_000,
        65532: None,
        # 65533 never arrived nor was mentioned: reported lost
        65534: base_time + 4_000,  # arrived before 65531: negative delta
        65535: base_time + 90_000,  # large delta
        65536: base_time + 90_250,  # wraps to seq 0
    }
    for i in range(40):
        arrivals[65537 + i] = base_time + 100_000 + 250 * i
    fb = TransportCc.from_arrivals(7, 8, arrivals, fb_count=300)
    assert fb.base_seq == 65530 and fb.fb_count == 300 & 0xFF
    parsed = TransportCc.parse(bytes(fb))
    assert parsed == fb
    results = dict(parsed.packet_results())
    assert len(results) == 47
    assert results[65532] is None and results[65533] is None
    for seq, t in arrivals.items():
        assert results[seq & 0xFFFF] == t
    assert parsed.statuses[4] == 2 and parsed.statuses[5] == 2


@SETTINGS
@given(
    u16,
    st.integers(0, 1 << 30),
    st.lists(st.one_of(st.none(), st.integers(-20_000, 300_000)), min_size=1, max_size=300),
)
def test_twcc_from_arrivals_property(base: int, start: int, offsets: list[int | None]) -> None:
    arrivals: dict[int, int | None] = {base + i: (None if o is None else start + o) for i, o in enumerate(offsets)}
    if all(v is None for v in arrivals.values()):
        return
    fb = TransportCc.parse(bytes(TransportCc.from_arrivals(1, 2, arrivals, 0)))
    got = fb.packet_results()
    assert [s for s, _ in got] == [(base + i) & 0xFFFF for i in range(len(offsets))]
    for (_, t), o in zip(got, offsets, strict=True):
        if o is None:
            assert t is None
        else:
            assert t is not None and abs(t - (start + o)) <= 125  # 250 us ticks, no drift


def test_twcc_rejects_bad_deltas() -> None:
    with pytest.raises(ValueError):
        bytes(TransportCc(1, 2, 0, 0, 0, (1,), (300,)))
    with pytest.raises(ValueError):
        bytes(TransportCc(1, 2, 0, 0, 0, (1, 2), (3,)))
    with pytest.raises(ValueError):
        TransportCc.from_arrivals(1, 2, {0: 0, 1: 10_000_000}, 0)


# --- NTP -------------------------------------------------------------------------------------------------------------


def test_ntp_helpers() -> None:
    sec, frac = ntp_from_unix(1_700_000_000.25)
    assert sec == 1_700_000_000 + 2_208_988_800 and frac == 1 << 30
    assert ntp_to_unix(sec, frac) == 1_700_000_000.25
    assert ntp_middle32(sec, frac) == ((sec & 0xFFFF) << 16) | 0x4000
    sr = SenderReport(1, sec, frac, 0, 0, 0)
    assert sr.lsr == ntp_middle32(sec, frac) and sr.ntp_timestamp == (sec << 32) | frac
    theirs = RtcpSrPacket.parse(bytes(sr)[4:], 0)
    assert theirs.sender_info.ntp_timestamp == sr.ntp_timestamp
    assert rtcp.NTP_UNIX_OFFSET == 2_208_988_800
