"""Publisher answers and subscriber offers, checked on Chromium offers and against aiortc."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack, VideoStreamTrack

from hubbub.proto.sdp import Codec, MediaSection, Msid, SessionDescription, parse, parse_candidate, serialize
from hubbub.proto.sdp_negotiation import (
    CodecCapability,
    NegotiatedMedia,
    NegotiationError,
    h264_profile,
    transport_parameters,
)
from hubbub.sfu.negotiation import (
    SERVER_CODECS,
    SUBSCRIBER_TRANSPORT_CC_ID,
    OutgoingTrack,
    answer_publisher_offer,
    build_subscriber_offer,
    parse_subscriber_answer,
    simulcast_layers,
)

FIXTURES = Path(__file__).parent.parent / "proto" / "fixtures" / "sdp"
FINGERPRINT = ("sha-256", ":".join(["5A"] * 32))
CANDIDATES = [
    parse_candidate("candidate:1 1 udp 2130706431 127.0.0.1 47000 typ host generation 0"),
    parse_candidate("candidate:2 1 tcp 1694498815 127.0.0.1 47001 typ host tcptype passive generation 0"),
]
UFRAG, PWD = "sfu1", "sfupasswordsfupassword12"
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
TWCC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"


def answer(
    offer: SessionDescription,
    codecs: Sequence[CodecCapability] = SERVER_CODECS,
    data_channel: bool = False,
) -> tuple[SessionDescription, list[NegotiatedMedia]]:
    return answer_publisher_offer(
        offer,
        ice_ufrag=UFRAG,
        ice_pwd=PWD,
        fingerprint=FINGERPRINT,
        candidates=CANDIDATES,
        codecs=codecs,
        data_channel=data_channel,
    )


def chromium(name: str = "chromium_offer_audio_video.sdp") -> SessionDescription:
    return parse((FIXTURES / name).read_text())


# -- answers to Chromium offers -----------------------------------------------------------------


def test_answer_to_chromium_offer_keeps_pts_and_prefers_vp8() -> None:
    ans, negotiated = answer(chromium())
    assert ans.ice_lite and ans.groups[0].semantics == "BUNDLE" and ans.groups[0].mids == ["0", "1"]
    audio, video = ans.media
    assert (audio.mid, audio.direction, audio.setup) == ("0", "recvonly", "passive")
    assert audio.formats == ["111"]  # red, G722, PCMU, PCMA, CN, telephone-event refused
    assert audio.codecs == [Codec(111, "opus", 48000, 2, {"minptime": "10", "useinbandfec": "1"}, ["transport-cc"])]
    # One media codec per line (the first preference) and its RTX: every accepted payload type is
    # one the SFU forwards, and subscribers are offered one codec per track.
    assert video.formats == ["96", "97"]
    assert video.codecs[0].name == "VP8" and video.codecs[0].pt == 96
    # transport-cc feedback is served where offered, so REMB is not answered
    assert video.codecs[0].rtcp_fb == ["nack", "nack pli", "ccm fir", "transport-cc"]
    assert video.codecs[1].name == "rtx" and video.codecs[1].fmtp["apt"] == "96"
    assert negotiated[1].codecs and len(negotiated[1].codecs) == 1
    for section in ans.media:
        assert section.rtcp_mux and section.rtcp_rsize and section.end_of_candidates
        assert (section.ice_ufrag, section.ice_pwd) == (UFRAG, PWD)
        assert section.fingerprints[0].value == FINGERPRINT[1]
        assert section.candidates == CANDIDATES and section.port == 47000
    assert {e.uri: e.id for e in video.header_extensions} == {
        "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": 2,
        TWCC_URI: 3,
        MID_URI: 4,
        "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id": 10,
        "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id": 11,
    }
    a, v = negotiated
    assert a.extensions["urn:ietf:params:rtp-hdrext:ssrc-audio-level"] == 1
    assert (a.ssrcs, a.cname) == ((2851738462,), "Ur9kQ2mLx7TfBv4W")
    assert v.rtx == {96: 97}  # RTX of the one accepted codec
    assert (v.ssrcs, v.rtx_ssrcs) == ((1739262840,), {1739262840: 3046172913})
    assert v.msid == Msid("8f0c2e4a-6b1d-4f7e-9a53-2c7d1e0b9f64", "e9d4f2a1-3c67-4b8e-8d15-0a6c2f7e4b93")
    assert [c.pt for c in v.codecs] == [96]
    assert parse(serialize(ans)) == ans


def test_rate_feedback_answered_only_where_served() -> None:
    """An offer without transport-cc (aiortc's: REMB over abs-send-time) is answered goog-remb; one
    without abs-send-time either gets no rate feedback at all."""
    text = (FIXTURES / "chromium_offer_audio_video.sdp").read_text()
    lines = text.splitlines(keepends=True)
    remb_only = "".join(line for line in lines if "transport-cc" not in line and TWCC_URI not in line)
    _, video = answer(parse(remb_only))[0].media
    assert video.codecs[0].rtcp_fb == ["nack", "nack pli", "ccm fir", "goog-remb"]
    assert TWCC_URI not in {e.uri for e in video.header_extensions}
    neither = "".join(line for line in remb_only.splitlines(keepends=True) if "abs-send-time" not in line)
    _, video = answer(parse(neither))[0].media
    assert video.codecs[0].rtcp_fb == ["nack", "nack pli", "ccm fir"]


def test_answer_to_chromium_simulcast_offer_rejects_data_channel() -> None:
    ans, negotiated = answer(chromium("chromium_offer_audio_video_simulcast.sdp"))
    app = ans.media[2]
    assert (app.kind, app.port, app.mid, app.formats) == ("application", 0, "2", ["webrtc-datachannel"])
    assert ans.groups[0].mids == ["0", "1"]
    video = ans.media[1]
    assert [(r.id, r.direction) for r in video.rids] == [("q", "recv"), ("h", "recv"), ("f", "recv")]
    assert video.simulcast is not None and [s[0].rid for s in video.simulcast.recv] == ["q", "h", "f"]
    assert not video.simulcast.send
    v = negotiated[1]
    assert [r.id for r in v.rids] == ["q", "h", "f"] and v.ssrcs == ()
    assert "a=simulcast:recv q;h;f\r\n" in serialize(ans)


def test_answer_accepts_data_channel_when_enabled() -> None:
    ans, negotiated = answer(chromium("chromium_offer_audio_video_simulcast.sdp"), data_channel=True)
    assert ans.media[2].port == 47000 and ans.media[2].sctp_port == 5000
    assert ans.groups[0].mids == ["0", "1", "2"]
    assert [n.kind for n in negotiated] == ["audio", "video", "application"]


def test_h264_only_when_offered_with_packetization_mode_1() -> None:
    offer = chromium()
    video = offer.media[1]
    video.codecs = [c for c in video.codecs if c.name != "H264" or c.fmtp["packetization-mode"] == "0"]
    video.formats = [str(c.pt) for c in video.codecs]
    ans, _ = answer(offer)
    assert "H264" not in {c.name for c in ans.media[1].codecs}
    video.codecs = [c for c in video.codecs if c.name == "H264" or c.pt in (116, 117)]
    video.formats = [str(c.pt) for c in video.codecs]
    ans, negotiated = answer(offer)
    assert ans.media[1].port == 0 and ans.media[1].direction == "inactive"  # no common codec
    assert ans.groups[0].mids == ["0"] and [n.mid for n in negotiated] == ["0"]


def test_h264_level_does_not_matter() -> None:
    offer = chromium()
    video = offer.media[1]
    h264 = video.codec(106)
    assert h264 is not None
    h264.fmtp["profile-level-id"] = "42e034"  # constrained baseline, level 5.2
    ans, _ = answer(offer, codecs=[c for c in SERVER_CODECS if c.name in ("opus", "H264")])
    chosen = ans.media[1].codec(106)
    assert chosen is not None and chosen.fmtp["profile-level-id"] == "42e034"


def test_h264_profiles() -> None:
    assert h264_profile("42e01f") == "constrained-baseline"
    assert h264_profile("42c02a") == "constrained-baseline"
    assert h264_profile("4d801f") == "constrained-baseline"
    assert h264_profile("42001f") == "baseline"
    assert h264_profile("4d001f") == "main"
    assert h264_profile("64001f") == "high"
    assert h264_profile("zz001f") is None and h264_profile("42e0") is None


def test_opus_usedtx_echoed_only_if_offered_and_vp9_only_if_supported() -> None:
    offer = chromium()
    opus = offer.media[0].codec(111)
    assert opus is not None
    opus.fmtp["usedtx"] = "1"
    no_vp9 = [c for c in SERVER_CODECS if c.name != "VP9"]
    ans, _ = answer(offer, codecs=no_vp9)
    assert ans.media[0].codecs[0].fmtp == {"minptime": "10", "useinbandfec": "1", "usedtx": "1"}
    assert "VP9" not in {c.name for c in ans.media[1].codecs}


@pytest.mark.parametrize(("offered", "answered"), [("sendonly", "recvonly"), ("inactive", "inactive")])
def test_direction(offered: str, answered: str) -> None:
    offer = chromium()
    for m in offer.media:
        m.direction = offered
    ans, negotiated = answer(offer)
    assert [m.direction for m in ans.media] == [answered, answered]
    assert [n.direction for n in negotiated] == [answered, answered]


def test_offer_that_wants_sfu_as_dtls_client_is_refused() -> None:
    offer = chromium()
    for m in offer.media:
        m.setup = "passive"
    with pytest.raises(NegotiationError, match="passive"):
        answer(offer)


def test_transport_parameters_of_offer() -> None:
    params = transport_parameters(chromium())
    assert (params.ice_ufrag, params.ice_pwd, params.setup) == ("Kp2v", "Zr6TxwQ0h3bqJd8sYkVfL1mN", "actpass")
    assert len(params.candidates) == 2 and params.fingerprints[0].algorithm == "sha-256"


# -- aiortc as the publisher ----------------------------------------------------------------


@pytest.fixture
async def peer() -> AsyncIterator[RTCPeerConnection]:
    pc = RTCPeerConnection()
    yield pc
    await pc.close()


async def test_aiortc_publisher_accepts_answer(peer: RTCPeerConnection) -> None:
    peer.addTransceiver(AudioStreamTrack(), direction="sendonly")
    peer.addTransceiver(VideoStreamTrack(), direction="sendonly")
    await peer.setLocalDescription(await peer.createOffer())
    offer = parse(peer.localDescription.sdp)
    ans, negotiated = answer(offer)
    await peer.setRemoteDescription(RTCSessionDescription(sdp=serialize(ans), type="answer"))
    assert peer.signalingState == "stable"
    by_mid = {n.mid: n for n in negotiated}
    for transceiver in peer.getTransceivers():
        assert transceiver.mid is not None
        media = by_mid[transceiver.mid]
        assert transceiver.currentDirection == "sendonly" and media.direction == "recvonly"
        theirs = [(c.mimeType.split("/")[1].lower(), c.payloadType) for c in transceiver._codecs]
        ours = [(c.name.lower(), c.pt) for c in media.codecs]
        assert [t for t in theirs if t[0] != "rtx"] == ours
        rtx = {c.parameters["apt"]: c.payloadType for c in transceiver._codecs if c.mimeType.endswith("rtx")}
        assert rtx == dict(media.rtx)
        assert {e.uri: e.id for e in transceiver._headerExtensions} == dict(media.extensions)
        sender = transceiver.sender
        assert media.ssrcs == (sender._ssrc,)
        if media.kind == "video":
            assert media.rtx_ssrcs == {sender._ssrc: sender._rtx_ssrc}
            assert [c.name for c in media.codecs] == ["VP8"]  # one media codec per line
    assert [n.kind for n in negotiated] == ["audio", "video"]


# -- subscriber offers ------------------------------------------------------------------------------

OPUS = Codec(111, "opus", 48000, 2, {"minptime": "10", "useinbandfec": "1"}, ["transport-cc"])
VP8 = Codec(96, "VP8", 90000, None, {}, ["nack", "nack pli", "goog-remb", "transport-cc"])


def track(mid: str, kind: str, n: int) -> OutgoingTrack:
    video = kind == "video"
    return OutgoingTrack(
        mid=mid,
        kind=kind,
        codecs=(VP8,) if video else (OPUS,),
        ssrc=1000 + n,
        cname=f"pub{n}",
        stream_id=f"stream{n}",
        track_id=f"{kind}{n}",
        rtx_pt=97 if video else None,
        rtx_ssrc=2000 + n if video else None,
        extensions={MID_URI: 4, TWCC_URI: 3},
    )


def offer_for(tracks: list[OutgoingTrack], previous: SessionDescription | None = None) -> SessionDescription:
    return build_subscriber_offer(
        tracks, ice_ufrag=UFRAG, ice_pwd=PWD, fingerprint=FINGERPRINT, candidates=CANDIDATES, previous=previous
    )


def test_subscriber_offer_content() -> None:
    offer = offer_for([track("0", "audio", 1), track("1", "video", 2)])
    assert offer.ice_lite and offer.groups[0].mids == ["0", "1"]
    audio, video = offer.media
    assert (audio.direction, audio.setup, audio.formats) == ("sendonly", "actpass", ["111"])
    assert audio.msids == [Msid("stream1", "audio1")]
    assert audio.ssrcs[0].attributes == {"cname": "pub1", "msid": "stream1 audio1"}
    assert video.formats == ["96", "97"] and video.codec(97) == Codec(97, "rtx", 90000, None, {"apt": "96"})
    assert video.ssrc_groups[0].semantics == "FID" and video.ssrc_groups[0].ssrcs == [1002, 2002]
    assert "a=ssrc-group:FID 1002 2002\r\n" in serialize(offer)
    assert parse(serialize(offer)) == offer


def test_subscriber_offer_asks_for_transport_wide_feedback_only() -> None:
    """Every m-line offers transport-cc under the connection's one extension ID; never goog-remb."""
    plain = dataclasses.replace(track("1", "video", 2), extensions={})
    offer = offer_for([track("0", "audio", 1), plain])
    for section in offer.media:
        assert {e.uri: e.id for e in section.header_extensions}[TWCC_URI] == SUBSCRIBER_TRANSPORT_CC_ID
        media = [c for c in section.codecs if c.name != "rtx"]
        assert all("transport-cc" in c.rtcp_fb and "goog-remb" not in c.rtcp_fb for c in media)
    assert offer.media[1].codecs[0].rtcp_fb == ["nack", "nack pli", "transport-cc"]


def test_subscriber_renegotiation_keeps_positions_and_recycles() -> None:
    first = offer_for([track("0", "audio", 1), track("1", "video", 2)])
    second = offer_for([track("1", "video", 2), track("2", "video", 3)], previous=first)
    assert [(m.mid, m.port != 0, m.direction) for m in second.media] == [
        ("0", False, "inactive"),
        ("1", True, "sendonly"),
        ("2", True, "sendonly"),
    ]
    assert second.groups[0].mids == ["1", "2"]
    assert second.origin.session_id == first.origin.session_id
    assert second.origin.session_version == first.origin.session_version + 1
    third = offer_for([track("1", "video", 2), track("2", "video", 3), track("3", "audio", 4)], previous=second)
    assert [m.mid for m in third.media] == ["3", "1", "2"]  # the audio slot was recycled
    with pytest.raises(ValueError, match="fresh mid"):
        offer_for([track("0", "audio", 5)], previous=second)
    with pytest.raises(ValueError, match="cannot carry"):
        offer_for([track("1", "audio", 5)], previous=first)


def test_subscriber_answer_validation() -> None:
    offer = offer_for([track("0", "audio", 1), track("1", "video", 2)])
    good = parse(serialize(offer))
    for m in good.media:
        m.setup, m.direction = "active", "recvonly"
    result = parse_subscriber_answer(good, offer)
    assert result["1"].codecs[0].name == "VP8" and result["1"].rtx == {96: 97}
    assert result["1"].rtx_ssrcs == {1002: 2002} and result["0"].direction == "sendonly"
    bad_setup = dataclasses.replace(good, media=[dataclasses.replace(m, setup="passive") for m in good.media])
    with pytest.raises(NegotiationError, match="setup:active"):
        parse_subscriber_answer(bad_setup, offer)
    alien = parse(serialize(good))
    alien.media[1].codecs.append(Codec(100, "H264", 90000))
    with pytest.raises(NegotiationError, match="not offered"):
        parse_subscriber_answer(alien, offer)
    with pytest.raises(NegotiationError, match="m= lines"):
        parse_subscriber_answer(dataclasses.replace(good, media=good.media[:1]), offer)


async def _answer_with(pc: RTCPeerConnection, offer: SessionDescription) -> SessionDescription:
    await pc.setRemoteDescription(RTCSessionDescription(sdp=serialize(offer), type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return parse(pc.localDescription.sdp)


async def test_aiortc_subscriber_renegotiation(peer: RTCPeerConnection) -> None:
    seen: list[MediaStreamTrack] = []
    peer.on("track", seen.append)
    tracks = [track("0", "audio", 1), track("1", "video", 2)]
    offer = offer_for(tracks)
    result = parse_subscriber_answer(await _answer_with(peer, offer), offer)
    assert [(t.kind, t.id) for t in seen] == [("audio", "audio1"), ("video", "video2")]
    assert {mid: m.direction for mid, m in result.items()} == {"0": "sendonly", "1": "sendonly"}
    assert [c.name for c in result["1"].codecs] == ["VP8"] and result["1"].rtx == {96: 97}
    assert result["1"].extensions == {MID_URI: 4}  # aiortc does not do transport-cc

    # Second round: the audio track goes away, a second video track arrives.
    second = offer_for([tracks[1], track("2", "video", 3)], previous=offer)
    result = parse_subscriber_answer(await _answer_with(peer, second), second)
    assert [(t.kind, t.id) for t in seen[2:]] == [("video", "video3")]
    assert {mid: m.direction for mid, m in result.items()} == {"0": "inactive", "1": "sendonly", "2": "sendonly"}
    assert peer.signalingState == "stable"

    # Third round: a new audio track recycles the rejected audio line under a fresh mid.
    third = offer_for([tracks[1], track("2", "video", 3), track("3", "audio", 4)], previous=second)
    answer3 = await _answer_with(peer, third)
    result = parse_subscriber_answer(answer3, third)
    assert [m.mid for m in answer3.media] == ["3", "1", "2"]
    assert result["3"].direction == "sendonly" and result["3"].msid == Msid("stream4", "audio4")
    assert [(t.kind, t.id) for t in seen[3:]] == [("audio", "audio4")]


def test_rejected_sections_keep_a_codec() -> None:
    offer = chromium()
    offer.media[1].port = 0
    ans, negotiated = answer(offer)
    rejected: MediaSection = ans.media[1]
    assert rejected.port == 0 and rejected.formats == ["96"] and rejected.direction == "inactive"
    assert [n.mid for n in negotiated] == ["0"]


def test_rids_restricted_to_refused_codecs_are_dropped() -> None:
    offer = chromium("chromium_offer_audio_video_simulcast.sdp")
    video = offer.media[1]
    video.rids[0].formats = [45]  # AV1 only: refused
    video.rids[1].formats = [45, 96]
    ans, _ = answer(offer)
    answered = ans.media[1]
    assert [(r.id, r.formats) for r in answered.rids] == [("h", [96]), ("f", [])]
    assert answered.simulcast is not None
    assert [[s.rid for s in alts] for alts in answered.simulcast.recv] == [["h"], ["f"]]


def test_simulcast_layers_are_the_answered_rids_lowest_first() -> None:
    offer = chromium("chromium_offer_audio_video_simulcast.sdp")
    _, negotiated = answer(offer)
    assert simulcast_layers(negotiated[1]) == ("q", "h", "f")
    assert simulcast_layers(negotiated[0]) == ()  # audio
    video = offer.media[1]
    video.rids[0].formats = [45]  # AV1 only: refused, so not routed
    _, negotiated = answer(offer)
    assert simulcast_layers(negotiated[1]) == ("h", "f")
    offer = chromium("chromium_offer_audio_video_simulcast.sdp")
    video = offer.media[1]
    for rid, name, size in zip(video.rids, ("hi", "lo", "mid"), (720, 180, 360), strict=True):
        rid.id, rid.params = name, {"max-width": str(size * 16 // 9), "max-height": str(size)}
    video.simulcast = None
    _, negotiated = answer(offer)
    assert simulcast_layers(negotiated[1]) == ("lo", "mid", "hi")  # by their restrictions
