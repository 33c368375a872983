"""The media-relay rewrite (hubbub.sdk.lab): SDP in, SDP out, and where the SDK applies it."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aiortc import RTCSessionDescription

from hubbub.schema import signaling as proto
from hubbub.sdk.lab import MediaRelay, through_relay
from hubbub.sdk.negotiation import Negotiation

RELAY = MediaRelay("127.0.0.1", 40000)

# A subscriber offer as the server writes it (two m-sections, BUNDLE, UDP and ICE-TCP candidates).
OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 3209348867059108195 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=ice-lite",
        "a=group:BUNDLE 0 1",
        "m=audio 33640 UDP/TLS/RTP/SAVPF 96",
        "c=IN IP4 192.0.2.10",
        "a=sendonly",
        "a=mid:0",
        "a=msid:PA_x TR_a",
        "a=rtpmap:96 opus/48000/2",
        "a=candidate:932449157 1 udp 2130706431 192.0.2.10 33640 typ host",
        "a=candidate:932449158 1 udp 2130706175 198.51.100.7 33640 typ host",
        "a=candidate:2660907919 1 tcp 1520435199 192.0.2.10 38049 typ host tcptype passive",
        "a=end-of-candidates",
        "a=ice-ufrag:CWJ5JeW9",
        "a=setup:actpass",
        "m=video 33640 UDP/TLS/RTP/SAVPF 97 98",
        "c=IN IP4 192.0.2.10",
        "a=sendonly",
        "a=mid:1",
        "a=msid:PA_x TR_v",
        "a=candidate:932449157 1 udp 2130706431 192.0.2.10 33640 typ host",
        "a=candidate:2660907919 1 tcp 1520435199 192.0.2.10 38049 typ host tcptype passive",
        "a=end-of-candidates",
        "a=ice-ufrag:CWJ5JeW9",
        "",
    ]
)


def _candidates(sdp: str) -> list[list[str]]:
    return [line.split(" ") for line in sdp.split("\r\n") if line.startswith("a=candidate:")]


def test_every_candidate_in_every_m_section_moves_to_the_relay() -> None:
    out = through_relay(OFFER, RELAY)
    candidates = _candidates(out)
    # Two UDP addresses become one relay candidate; each section keeps one UDP and one TCP.
    assert [(c[2], c[4], c[5], c[7]) for c in candidates] == [
        ("udp", "127.0.0.1", "40000", "host"),
        ("tcp", "127.0.0.1", "40000", "host"),
        ("udp", "127.0.0.1", "40000", "host"),
        ("tcp", "127.0.0.1", "40000", "host"),
    ]
    # Foundation, priority and the extension attributes stay.
    assert candidates[0][0] == "a=candidate:932449157" and candidates[0][3] == "2130706431"
    assert candidates[1][-2:] == ["tcptype", "passive"]
    assert "192.0.2.10" not in out.split("a=group", 1)[1] and "198.51.100.7" not in out


def test_default_address_end_of_candidates_and_the_rest_stay_in_place() -> None:
    lines = through_relay(OFFER, RELAY).split("\r\n")
    assert lines.count("c=IN IP4 127.0.0.1") == 2
    assert [line for line in lines if line.startswith("m=")] == [
        "m=audio 40000 UDP/TLS/RTP/SAVPF 96",
        "m=video 40000 UDP/TLS/RTP/SAVPF 97 98",
    ]
    assert lines.count("a=end-of-candidates") == 2
    kept = [line for line in OFFER.split("\r\n") if not line.startswith(("m=", "c=", "a=candidate:"))]
    assert [line for line in lines if not line.startswith(("m=", "c=", "a=candidate:"))] == kept
    assert lines[-1] == "" and "\n" not in "".join(lines)  # CRLF kept, trailing newline kept


def test_an_ipv6_relay_and_ipv6_server_candidates() -> None:
    sdp = (
        "m=audio 5000 UDP/TLS/RTP/SAVPF 111\n"
        "c=IN IP6 2001:db8::1\n"
        "a=candidate:1 1 UDP 2130706431 2001:db8::1 5000 typ host generation 0\n"
        "a=candidate:2 1 TCP 1518280447 2001:db8::1 5001 typ host tcptype passive generation 0\n"
    )
    out = through_relay(sdp, MediaRelay.parse("[::1]:7000"))
    assert out == (
        "m=audio 7000 UDP/TLS/RTP/SAVPF 111\n"
        "c=IN IP6 ::1\n"
        "a=candidate:1 1 UDP 2130706431 ::1 7000 typ host generation 0\n"
        "a=candidate:2 1 TCP 1518280447 ::1 7000 typ host tcptype passive generation 0\n"
    )


def test_rejected_sections_and_unspecified_addresses_are_left_alone() -> None:
    sdp = "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    assert through_relay(sdp, RELAY) == sdp


def test_an_sdp_without_candidates_is_unchanged_but_for_its_default() -> None:
    sdp = "v=0\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n"
    assert through_relay(sdp, RELAY) == sdp


@pytest.mark.parametrize(
    ("text", "relay"),
    [
        ("127.0.0.1:40000", MediaRelay("127.0.0.1", 40000)),
        (" 10.0.0.2:1 ", MediaRelay("10.0.0.2", 1)),
        ("[::1]:9", MediaRelay("::1", 9)),
    ],
)
def test_parse(text: str, relay: MediaRelay) -> None:
    assert MediaRelay.parse(text) == relay
    assert MediaRelay.parse(str(relay)) == relay


@pytest.mark.parametrize("text", ["", "127.0.0.1", "localhost:4000", "127.0.0.1:0", "127.0.0.1:70000", "::1:80", ":80"])
def test_parse_refuses_what_is_not_ip_and_port(text: str) -> None:
    with pytest.raises(ValueError, match="is not 'IP:port'"):
        MediaRelay.parse(text)


class _Signal:
    """Answers each publisher offer with the server's answer; records what the client sends."""

    def __init__(self) -> None:
        self.sent: list[object] = []

    async def send(self, message: object) -> None:
        self.sent.append(message)

    async def request(self, message: object, reply: object) -> proto.Answer:
        self.sent.append(message)
        return proto.Answer(sdp=OFFER)


class _PeerConnection:
    """Records the remote descriptions the SDK applies."""

    def __init__(self, configuration: object) -> None:
        self.remote: list[RTCSessionDescription] = []
        self.localDescription = RTCSessionDescription(sdp="v=0\r\n", type="offer")
        self.remoteDescription: RTCSessionDescription | None = None

    def add_listener(self, event: str, listener: object) -> None:
        pass

    async def setRemoteDescription(self, description: RTCSessionDescription) -> None:
        self.remote.append(description)
        self.remoteDescription = description

    async def createAnswer(self) -> RTCSessionDescription:
        return RTCSessionDescription(sdp="v=0\r\n", type="answer")

    async def createOffer(self) -> RTCSessionDescription:
        return RTCSessionDescription(sdp="v=0\r\n", type="offer")

    async def setLocalDescription(self, description: RTCSessionDescription) -> None:
        self.localDescription = description


@pytest.mark.parametrize("relay", [RELAY, None])
async def test_negotiation_rewrites_every_remote_description_with_the_option_only(relay: MediaRelay | None) -> None:
    pcs: list[_PeerConnection] = []

    def factory(configuration: object) -> Any:
        pcs.append(_PeerConnection(configuration))
        return pcs[-1]

    media = Negotiation(
        cast(Any, _Signal()),
        peer_connection=factory,
        on_track=lambda *a: None,
        on_failed=lambda r: None,
        media_relay=relay,
    )
    for _ in range(2):  # the first offer and a renegotiation on each connection
        await media.answer(OFFER)
        media.publisher = media.publisher or cast(Any, factory(None))
        await media.negotiate()
    applied = [d for pc in pcs for d in pc.remote]
    assert [d.type for d in applied] == ["offer", "offer", "answer", "answer"]
    expected = through_relay(OFFER, relay) if relay is not None else OFFER
    assert all(d.sdp == expected for d in applied)
