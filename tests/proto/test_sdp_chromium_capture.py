"""Real Chromium 156 offers (captured, see fixtures/sdp/README.md) parse and get a sound answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubbub.proto import sdp
from hubbub.sfu.negotiation import answer_publisher_offer

FIXTURES = Path(__file__).parent / "fixtures" / "sdp"
FINGERPRINT = ("sha-256", ":".join(["AB"] * 32))


def _load(name: str) -> sdp.SessionDescription:
    return sdp.parse((FIXTURES / name).read_text())


@pytest.mark.parametrize("name", ["chromium156_offer_audio_video.sdp", "chromium156_offer_simulcast.sdp"])
def test_capture_round_trips(name: str) -> None:
    desc = _load(name)
    assert sdp.parse(sdp.serialize(desc)) == desc
    assert [m.kind for m in desc.media] == ["audio", "video"]


def test_answer_keeps_chromium_payload_types_and_extension_ids() -> None:
    offer = _load("chromium156_offer_audio_video.sdp")
    answer, negotiated = answer_publisher_offer(
        offer, ice_ufrag="abcd", ice_pwd="x" * 24, fingerprint=FINGERPRINT, candidates=[]
    )
    audio, video = negotiated
    assert audio.codecs[0].name.lower() == "opus" and audio.codecs[0].pt == 111
    assert audio.codecs[0].fmtp.get("useinbandfec") == "1"
    assert video.codecs[0].name.upper() == "VP8" and video.codecs[0].pt == 96
    assert video.rtx.get(96) == 97  # Chromium pairs VP8 96 with RTX 97
    assert audio.extensions["urn:ietf:params:rtp-hdrext:ssrc-audio-level"] == 1
    assert video.extensions["http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"] == 3
    assert len(video.ssrcs) == 1 and video.rtx_ssrcs[video.ssrcs[0]]
    assert all(m.direction == "recvonly" for m in answer.media)
    text = sdp.serialize(answer)
    assert "a=setup:passive" in text and "a=ice-lite" in text


def test_simulcast_offer_exposes_rids() -> None:
    offer = _load("chromium156_offer_simulcast.sdp")
    _, negotiated = answer_publisher_offer(
        offer, ice_ufrag="abcd", ice_pwd="x" * 24, fingerprint=FINGERPRINT, candidates=[]
    )
    video = negotiated[1]
    assert [r.id for r in video.rids] == ["q", "h", "f"]
    assert video.ssrcs == ()  # Chromium signals no SSRCs with rid-based simulcast
