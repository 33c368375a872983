"""Offer/answer mechanics: codec matching, answer directions, rejected lines, SSRC plans, rids."""

from __future__ import annotations

from hubbub.proto.sdp import Codec, MediaSection, Rid, Simulcast, SimulcastStream, Ssrc, SsrcGroup
from hubbub.proto.sdp_negotiation import (
    CodecCapability,
    answer_direction,
    answer_rids,
    choose_codecs,
    codec_matches,
    rejected_section,
    ssrc_plan,
)

H264 = CodecCapability("video", "H264", 90000, fmtp=(("packetization-mode", "1"), ("profile-level-id", "42e01f")))


def test_h264_matches_on_profile_and_mode_not_level() -> None:
    assert codec_matches(
        H264, Codec(102, "H264", 90000, None, {"packetization-mode": "1", "profile-level-id": "42e034"})
    )
    assert not codec_matches(H264, Codec(102, "H264", 90000, None, {"profile-level-id": "42e01f"}))  # mode 0
    assert not codec_matches(
        H264, Codec(102, "H264", 90000, None, {"packetization-mode": "1", "profile-level-id": "640c1f"})
    )


def test_answer_direction_of_a_one_way_forwarder() -> None:  # RFC 3264 §6.1
    assert [answer_direction(d) for d in ("sendonly", "sendrecv", None, "recvonly", "inactive")] == [
        "recvonly",
        "recvonly",
        "recvonly",
        "inactive",
        "inactive",
    ]


def test_choose_codecs_pairs_rtx_with_its_base() -> None:
    media = MediaSection("video", 9, "UDP/TLS/RTP/SAVPF", ["96", "97", "98"])
    media.codecs = [
        Codec(96, "VP8", 90000),
        Codec(97, "rtx", 90000, None, {"apt": "96"}),
        Codec(98, "rtx", 90000, None, {"apt": "100"}),
    ]
    chosen, rtx = choose_codecs(media, [CodecCapability("video", "VP8", 90000)])
    assert [c.pt for c in chosen] == [96] and rtx == {96: 97}


def test_rejected_section_keeps_mid_kind_and_one_format() -> None:  # RFC 3264 §6
    media = MediaSection("audio", 9, "UDP/TLS/RTP/SAVPF", ["111", "0"], mid="a")
    media.codecs = [Codec(111, "opus", 48000, 2), Codec(0, "PCMU", 8000)]
    section = rejected_section(media)
    assert (section.port, section.mid, section.kind, section.direction, section.formats) == (
        0,
        "a",
        "audio",
        "inactive",
        ["111"],
    )


def test_ssrc_plan_orders_by_sim_and_pairs_fid() -> None:  # RFC 5576 §4.2
    media = MediaSection("video", 9, "UDP/TLS/RTP/SAVPF", ["96"])
    media.ssrcs = [Ssrc(s) for s in (1, 2, 3, 4)]
    media.ssrc_groups = [SsrcGroup("SIM", [3, 1]), SsrcGroup("FID", [1, 2]), SsrcGroup("FID", [3, 4])]
    assert ssrc_plan(media) == ((3, 1), {1: 2, 3: 4})


def test_answer_rids_reverses_and_drops_unaccepted() -> None:  # RFC 8851 §7, RFC 8853 §5.3
    media = MediaSection("video", 9, "UDP/TLS/RTP/SAVPF", ["96", "98"])
    media.rids = [Rid("h", "send", [96]), Rid("l", "send", [98])]
    media.simulcast = Simulcast(send=[[SimulcastStream("h")], [SimulcastStream("l")]])
    rids, simulcast = answer_rids(media, {96})
    assert [(r.id, r.direction, r.formats) for r in rids] == [("h", "recv", [96])]
    assert simulcast is not None and [[s.rid for s in alts] for alts in simulcast.recv] == [["h"]]
