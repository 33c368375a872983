"""SDP model, parser and serializer: real Chromium offers, error reporting, fuzzing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubbub.proto.sdp import (
    Attribute,
    Bandwidth,
    Candidate,
    Codec,
    Connection,
    Fingerprint,
    Group,
    HeaderExtension,
    MediaSection,
    Msid,
    MsidSemantic,
    Origin,
    Rid,
    SdpParseError,
    SessionDescription,
    Simulcast,
    SimulcastStream,
    Ssrc,
    SsrcGroup,
    Timing,
    parse,
    parse_candidate,
    serialize,
)

FIXTURES = Path(__file__).parent / "fixtures" / "sdp"
CHROMIUM = sorted(FIXTURES.glob("chromium_offer_*.sdp"))


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_fixtures_exist() -> None:
    assert len(CHROMIUM) >= 2


def test_chromium_offer_session_level() -> None:
    desc = parse(fixture("chromium_offer_audio_video.sdp"))
    assert desc.origin == Origin("-", 6418208736491725310, 2, "IN", "IP4", "127.0.0.1")
    assert desc.session_name == "-"
    assert desc.timing == [Timing(0, 0)]
    assert desc.groups == [Group("BUNDLE", ["0", "1"])]
    assert desc.bundle_group() == Group("BUNDLE", ["0", "1"])
    assert desc.extmap_allow_mixed
    assert desc.msid_semantic == MsidSemantic("WMS", ["8f0c2e4a-6b1d-4f7e-9a53-2c7d1e0b9f64"])
    assert not desc.ice_lite
    assert [m.kind for m in desc.media] == ["audio", "video"]


def test_chromium_offer_audio_section() -> None:
    audio = parse(fixture("chromium_offer_audio_video.sdp")).media[0]
    assert (audio.port, audio.proto) == (54621, "UDP/TLS/RTP/SAVPF")
    assert audio.formats == ["111", "63", "9", "0", "8", "13", "110", "126"]
    assert audio.connection == Connection("IN", "IP4", "192.168.1.23")
    assert audio.rtcp == "9 IN IP4 0.0.0.0"
    assert (audio.ice_ufrag, audio.ice_pwd) == ("Kp2v", "Zr6TxwQ0h3bqJd8sYkVfL1mN")
    assert audio.ice_options == ["trickle"]
    assert audio.fingerprints[0].algorithm == "sha-256"
    assert audio.fingerprints[0].value.startswith("7B:3E:21")
    assert (audio.setup, audio.mid, audio.direction) == ("actpass", "0", "sendonly")
    assert audio.rtcp_mux and audio.rtcp_rsize
    assert audio.msids == [Msid("8f0c2e4a-6b1d-4f7e-9a53-2c7d1e0b9f64", "b3a1c7d2-5e84-4c19-a6f0-7d2e9b3c1a58")]
    assert audio.header_extensions[0] == HeaderExtension(1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level")
    opus = audio.codecs[0]
    assert opus == Codec(111, "opus", 48000, 2, {"minptime": "10", "useinbandfec": "1"}, ["transport-cc"])
    assert list(opus.fmtp) == ["minptime", "useinbandfec"]
    assert [c.pt for c in audio.codecs] == [111, 63, 9, 0, 8, 13, 110, 126]
    assert audio.codec(63) == Codec(63, "red", 48000, 2, {"111/111": ""})
    assert audio.codec(0) == Codec(0, "PCMU", 8000)
    assert audio.ssrcs == [
        Ssrc(
            2851738462,
            {
                "cname": "Ur9kQ2mLx7TfBv4W",
                "msid": "8f0c2e4a-6b1d-4f7e-9a53-2c7d1e0b9f64 b3a1c7d2-5e84-4c19-a6f0-7d2e9b3c1a58",
            },
        )
    ]
    assert audio.ssrcs[0].cname == "Ur9kQ2mLx7TfBv4W"


def test_chromium_offer_candidates() -> None:
    audio = parse(fixture("chromium_offer_audio_video.sdp")).media[0]
    udp, tcp = audio.candidates
    assert udp == Candidate(
        "1984371950",
        1,
        "udp",
        2122260223,
        "192.168.1.23",
        54621,
        "host",
        generation=0,
        network_id=1,
        extensions=[("network-cost", "10")],
    )
    assert (tcp.transport, tcp.port, tcp.tcptype) == ("tcp", 9, "active")
    assert not audio.end_of_candidates


def test_chromium_offer_video_section() -> None:
    video = parse(fixture("chromium_offer_audio_video.sdp")).media[1]
    assert video.connection == Connection("IN", "IP4", "0.0.0.0")
    vp8 = video.codecs[0]
    assert (vp8.pt, vp8.name, vp8.clock_rate, vp8.channels) == (96, "VP8", 90000, None)
    assert vp8.rtcp_fb == ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"]
    assert video.codec(97) == Codec(97, "rtx", 90000, None, {"apt": "96"})
    h264 = video.codec(106)
    assert h264 is not None and h264.fmtp["profile-level-id"] == "42e01f"
    assert list(h264.fmtp) == ["level-asymmetry-allowed", "packetization-mode", "profile-level-id"]
    assert video.codec(118) == Codec(118, "ulpfec", 90000)
    assert [c.pt for c in video.codecs] == [int(f) for f in video.formats]
    assert video.ssrc_groups == [SsrcGroup("FID", [1739262840, 3046172913])]
    assert [s.ssrc for s in video.ssrcs] == [1739262840, 3046172913]
    ids = [e.id for e in video.header_extensions]
    assert ids == [14, 2, 13, 3, 5, 6, 7, 8, 4, 10, 11]


def test_chromium_simulcast_offer() -> None:
    desc = parse(fixture("chromium_offer_audio_video_simulcast.sdp"))
    video, app = desc.media[1], desc.media[2]
    assert [(r.id, r.direction) for r in video.rids] == [("q", "send"), ("h", "send"), ("f", "send")]
    assert video.simulcast == Simulcast(send=[[SimulcastStream("q")], [SimulcastStream("h")], [SimulcastStream("f")]])
    assert video.ssrcs == []
    assert (app.kind, app.proto, app.formats) == ("application", "UDP/DTLS/SCTP", ["webrtc-datachannel"])
    assert (app.sctp_port, app.max_message_size, app.mid) == (5000, 262144, "2")


@pytest.mark.parametrize("path", CHROMIUM, ids=lambda p: p.name)
def test_round_trip_is_exact_on_model(path: Path) -> None:
    text = path.read_text()
    desc = parse(text)
    out = serialize(desc)
    assert out.endswith("\r\n") and "\n" not in out.replace("\r\n", "")
    assert parse(out) == desc
    # Semantically equal: the same lines, only Chromium's "msid-semantic: WMS" spacing differs.
    original = sorted(line.replace("msid-semantic: ", "msid-semantic:") for line in text.splitlines())
    assert sorted(out.splitlines()) == original


@pytest.mark.parametrize("path", CHROMIUM, ids=lambda p: p.name)
def test_lf_line_endings_are_accepted(path: Path) -> None:
    text = path.read_text()
    assert parse(text.replace("\r\n", "\n")) == parse(text)


def test_static_payload_types_need_no_rtpmap() -> None:
    desc = parse("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nt=0 0\nm=audio 9 RTP/AVP 0 8 9\n")
    assert desc.media[0].codecs == [Codec(0, "PCMU", 8000), Codec(8, "PCMA", 8000), Codec(9, "G722", 8000)]
    assert parse(serialize(desc)) == desc


def test_rid_and_simulcast_forms() -> None:
    text = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:v\r\n"
        "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 VP8/90000\r\n"
        "a=rid:hi send pt=96,97;max-width=1280;max-height=720\r\n"
        "a=rid:lo send max-fps=15;depend\r\n"
        "a=simulcast:send hi,~mid;lo recv x\r\n"
    )
    video = parse(text).media[0]
    assert video.rids == [
        Rid("hi", "send", [96, 97], {"max-width": "1280", "max-height": "720"}),
        Rid("lo", "send", [], {"max-fps": "15", "depend": None}),
    ]
    assert video.simulcast == Simulcast(
        send=[[SimulcastStream("hi"), SimulcastStream("mid", paused=True)], [SimulcastStream("lo")]],
        recv=[[SimulcastStream("x")]],
    )
    out = serialize(parse(text))
    assert "a=rid:hi send pt=96,97;max-width=1280;max-height=720\r\n" in out
    assert "a=simulcast:send hi,~mid;lo recv x\r\n" in out


def test_unknown_attributes_and_lines_are_preserved_in_order() -> None:
    text = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\ni=a session\r\nb=AS:300\r\nt=0 0\r\n"
        "a=x-one:1\r\na=x-flag\r\na=x-two:2\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 112\r\nb=TIAS:64000\r\na=mid:0\r\na=x-media:z\r\n"
        "a=rtpmap:111 opus/48000/2\r\na=fmtp:112 x=1\r\na=rtcp-fb:* nack\r\na=sendonly\r\n"
    )
    desc = parse(text)
    assert desc.extra_lines == [("i", "a session")]
    assert desc.bandwidths == [Bandwidth("AS", 300)]
    assert desc.attributes == [Attribute("x-one", "1"), Attribute("x-flag"), Attribute("x-two", "2")]
    media = desc.media[0]
    assert media.bandwidths == [Bandwidth("TIAS", 64000)]
    # fmtp for a payload type without rtpmap is kept verbatim.
    assert media.attributes == [Attribute("x-media", "z"), Attribute("fmtp", "112 x=1")]
    assert media.rtcp_fb_all == ["nack"]
    assert media.rtcp_feedback(media.codecs[0]) == ["nack"]
    assert parse(serialize(desc)) == desc


def test_candidate_round_trip_and_trickle_form() -> None:
    line = (
        "candidate:842163049 1 udp 1677729535 203.0.113.7 62793 typ srflx raddr 10.0.0.2 rport 62793 "
        "generation 0 ufrag Kp2v network-id 3 network-cost 50 x-custom y"
    )
    cand = parse_candidate("a=" + line)
    assert (cand.type, cand.related_address, cand.related_port) == ("srflx", "10.0.0.2", 62793)
    assert (cand.ufrag, cand.network_id) == ("Kp2v", 3)
    assert cand.extensions == [("network-cost", "50"), ("x-custom", "y")]
    assert cand.to_sdp() == line
    assert parse_candidate(cand.to_sdp()) == cand
    tcp = parse_candidate("candidate:1 1 TCP 1 198.51.100.1 443 typ host tcptype passive")
    assert tcp.tcptype == "passive" and tcp.transport == "TCP"
    with pytest.raises(SdpParseError, match="typ"):
        parse_candidate("candidate:1 1 udp 1 198.51.100.1 443 host host")


HEAD = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", 1, "empty"),
        ("x=0\r\n", 1, "v=0"),
        ("v=1\r\n", 1, "v=0"),
        ("v=0\r\ns=-\r\nt=0 0\r\n", 3, "o="),
        ("v=0\r\no=- 1 1 IN IP4\r\ns=-\r\nt=0 0\r\n", 2, "6 fields"),
        ("v=0\r\no=- x 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", 2, "session id"),
        ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n", 3, "t="),
        (HEAD + "garbage\r\n", 5, "<type>=<value>"),
        (HEAD + "m=audio 99999 RTP/AVP 0\r\n", 5, "media port"),
        (HEAD + "m=audio 9 RTP/AVP\r\n", 5, "at least 4"),
        (HEAD + "m=audio 9 RTP/AVP opus\r\n", 5, "payload type"),
        (HEAD + "m=audio 9 RTP/AVP 0 0\r\n", 5, "twice"),
        (HEAD + "m=audio 9 RTP/AVP 96\r\na=rtpmap:97 opus/48000\r\n", 6, "does not list"),
        (HEAD + "m=audio 9 RTP/AVP 96\r\na=rtpmap:96 opus\r\n", 6, "malformed rtpmap"),
        (HEAD + "m=audio 9 RTP/AVP 96\r\na=rtpmap:96 opus/x\r\n", 6, "clock rate"),
        (HEAD + "m=audio 9 RTP/AVP 96\r\na=fmtp:x y\r\na=mid:0\r\n", 6, "payload type"),
        (HEAD + "m=audio 9 RTP/AVP 96\r\na=candidate:1 1 udp 1 h 1 typ\r\n", 6, "at least 8"),
        (HEAD + "m=audio 9 RTP/AVP 96\r\na=candidate:1 0 udp 1 h 1 typ host\r\n", 6, "component"),
        (HEAD + "m=audio 9 RTP/AVP 96\r\na=candidate:1 1 udp 1 h 1 typ host raddr\r\n", 6, "no value"),
        (HEAD + "m=audio 9 RTP/AVP 96\r\na=setup:server\r\n", 6, "setup"),
        (HEAD + "m=audio 9 RTP/AVP 96\r\na=extmap:0 urn:x\r\n", 6, "extmap id"),
        (HEAD + "m=audio 9 RTP/AVP 96\r\na=extmap:1/up urn:x\r\n", 6, "direction"),
        (HEAD + "m=audio 9 RTP/AVP 96\r\na=ssrc:12\r\n", 6, "RFC 5576"),
        (HEAD + "m=audio 9 RTP/AVP 96\r\na=ssrc:99999999999 cname:x\r\n", 6, "ssrc"),
        (HEAD + "m=video 9 RTP/AVP 96\r\na=rid:h sideways\r\n", 6, "send or recv"),
        (HEAD + "m=video 9 RTP/AVP 96\r\na=simulcast:send\r\n", 6, "simulcast"),
        (HEAD + "m=video 9 RTP/AVP 96\r\na=simulcast:send a;;b\r\n", 6, "empty rid"),
        (HEAD + "m=video 9 RTP/AVP 96\r\nt=0 0\r\n", 6, "media section"),
        (HEAD + "b=AS\r\n", 5, "b="),
        (HEAD + "a=fingerprint:sha-256\r\n", 5, "fingerprint"),
    ],
)
def test_malformed_input_names_line_and_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(SdpParseError) as info:
        parse(text)
    assert info.value.line_number == line
    assert reason in info.value.reason
    assert f"line {line}" in str(info.value)
    assert isinstance(info.value, ValueError)


# -- fuzzing ------------------------------------------------------------------------------


def _parse_or_reject(text: str) -> None:
    try:
        desc = parse(text)
    except SdpParseError:
        return
    assert parse(serialize(desc)) == desc


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_fuzz_arbitrary_text_raises_only_sdp_parse_error(text: str) -> None:
    _parse_or_reject(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("vosmtcab=:0123456789 /\r\n-.IPNa")), max_size=200))
def test_fuzz_sdp_alphabet_raises_only_sdp_parse_error(text: str) -> None:
    _parse_or_reject("v=0\r\n" + text)


_LINES = [line for path in CHROMIUM for line in path.read_text().splitlines()]


@st.composite
def _mutated_sdp(draw: st.DrawFn) -> str:
    lines = list(_LINES[: len(_LINES) // 2])
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        action = draw(st.sampled_from(["cut", "insert", "replace", "drop", "dup", "swap"]))
        pos = draw(st.integers(0, len(line)))
        if action == "cut":
            lines[index] = line[:pos]
        elif action == "insert":
            lines[index] = line[:pos] + draw(st.text(max_size=5)) + line[pos:]
        elif action == "replace" and line:
            char = draw(st.sampled_from(list(" :=/;,~0-9ax\t\x00é")))
            lines[index] = line[: max(pos - 1, 0)] + char + line[pos:]
        elif action == "drop":
            del lines[index]
        elif action == "dup":
            lines.insert(index, line)
        elif action == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        if not lines:
            lines = ["v=0"]
    return "\r\n".join(lines) + "\r\n"


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated_sdp())
def test_fuzz_mutated_chromium_lines_raise_only_sdp_parse_error(text: str) -> None:
    _parse_or_reject(text)


# -- generated models round-trip -----------------------------------------------------------------

_tok = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,7}", fullmatch=True)
_text = st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=12)
_opt_tok = st.none() | _tok
_u32 = st.integers(0, 2**32 - 1)
_port = st.integers(0, 65535)
_known_cand = {"raddr", "rport", "tcptype", "generation", "ufrag", "network-id"}
_fmtp = st.dictionaries(_tok, st.just("") | _tok, max_size=3)

_candidates = st.builds(
    Candidate,
    foundation=_tok,
    component=st.integers(1, 256),
    transport=st.sampled_from(["udp", "tcp", "UDP"]),
    priority=_u32,
    ip=_tok,
    port=_port,
    type=st.sampled_from(["host", "srflx", "prflx", "relay"]),
    related_address=_opt_tok,
    related_port=st.none() | _port,
    tcptype=st.none() | st.sampled_from(["active", "passive", "so"]),
    generation=st.none() | _u32,
    ufrag=_opt_tok,
    network_id=st.none() | _u32,
    extensions=st.lists(st.tuples(_tok.filter(lambda n: n not in _known_cand), _tok), max_size=2),
)
_fb = st.lists(st.lists(_tok, min_size=1, max_size=2).map(" ".join), max_size=3)
_simulcast_streams = st.lists(
    st.lists(st.builds(SimulcastStream, _tok, st.booleans()), min_size=1, max_size=2), max_size=3
)
_unknown_attrs = st.lists(st.builds(Attribute, _tok.map(lambda t: "x-" + t), st.none() | _text), max_size=3)


@st.composite
def _rtp_media(draw: st.DrawFn) -> MediaSection:
    pts = draw(st.lists(st.integers(0, 127), unique=True, max_size=4))
    codecs = [
        Codec(
            pt,
            draw(_tok.filter(lambda t: "/" not in t)),
            draw(st.integers(1, 2**32 - 1)),
            draw(st.none() | st.integers(1, 255)),
            draw(_fmtp),
            draw(_fb),
        )
        for pt in pts
    ]
    extra_pts = draw(st.lists(st.integers(35, 95).filter(lambda p: p not in pts), unique=True, max_size=2))
    formats = [str(p) for p in pts] + [str(p) for p in extra_pts]
    if not formats:
        formats = ["96"]
    simulcast = draw(st.none() | st.builds(Simulcast, _simulcast_streams, _simulcast_streams))
    if simulcast is not None and not (simulcast.send or simulcast.recv):
        simulcast = None
    return MediaSection(
        kind=draw(st.sampled_from(["audio", "video"])),
        port=draw(_port),
        proto=draw(st.sampled_from(["UDP/TLS/RTP/SAVPF", "RTP/AVP", "TCP/DTLS/RTP/SAVPF"])),
        formats=formats,
        port_count=draw(st.none() | st.integers(1, 4)),
        extra_lines=[("i", t) for t in draw(st.lists(_text, max_size=1))],
        connection=draw(st.none() | st.builds(Connection, _tok, _tok, _tok)),
        bandwidths=draw(st.lists(st.builds(Bandwidth, _tok, _u32), max_size=2)),
        rtcp=draw(st.none() | _text),
        candidates=draw(st.lists(_candidates, max_size=2)),
        end_of_candidates=draw(st.booleans()),
        ice_ufrag=draw(st.none() | _text),
        ice_pwd=draw(st.none() | _text),
        ice_options=draw(st.lists(_tok, max_size=2)),
        fingerprints=draw(st.lists(st.builds(Fingerprint, _tok, _tok), max_size=2)),
        setup=draw(st.none() | st.sampled_from(["actpass", "active", "passive"])),
        mid=draw(_opt_tok),
        header_extensions=draw(
            st.lists(
                st.builds(
                    HeaderExtension,
                    st.integers(1, 255),
                    _tok,
                    st.none() | st.sampled_from(["sendonly", "recvonly", "sendrecv", "inactive"]),
                    st.lists(_tok, max_size=2),
                ),
                max_size=3,
            )
        ),
        extmap_allow_mixed=draw(st.booleans()),
        direction=draw(st.none() | st.sampled_from(["sendrecv", "sendonly", "recvonly", "inactive"])),
        msids=draw(st.lists(st.builds(Msid, _tok, _opt_tok), max_size=2)),
        rtcp_mux=draw(st.booleans()),
        rtcp_rsize=draw(st.booleans()),
        codecs=codecs,
        rtcp_fb_all=draw(_fb),
        ssrc_groups=draw(st.lists(st.builds(SsrcGroup, _tok, st.lists(_u32, max_size=3)), max_size=2)),
        ssrcs=draw(
            st.lists(
                st.builds(Ssrc, _u32, st.dictionaries(_tok, st.none() | _tok, min_size=1, max_size=3)),
                unique_by=lambda s: s.ssrc,
                max_size=3,
            )
        ),
        rids=draw(
            st.lists(
                st.builds(
                    Rid,
                    _tok,
                    st.sampled_from(["send", "recv"]),
                    st.lists(st.integers(0, 127), max_size=3),
                    st.dictionaries(_tok.filter(lambda k: k != "pt"), st.none() | _tok, max_size=2),
                ),
                max_size=3,
            )
        ),
        simulcast=simulcast,
        attributes=draw(_unknown_attrs),
    )


_app_media = st.builds(
    MediaSection,
    kind=st.just("application"),
    port=_port,
    proto=st.just("UDP/DTLS/SCTP"),
    formats=st.lists(_tok, min_size=1, max_size=2),
    mid=_opt_tok,
    sctp_port=st.none() | _port,
    max_message_size=st.none() | _u32,
    attributes=_unknown_attrs,
)

_sessions = st.builds(
    SessionDescription,
    origin=st.builds(Origin, _tok, _u32, _u32, _tok, _tok, _tok),
    session_name=_text,
    extra_lines=st.lists(st.tuples(st.sampled_from("iuep"), _text), max_size=2),
    connection=st.none() | st.builds(Connection, _tok, _tok, _tok),
    bandwidths=st.lists(st.builds(Bandwidth, _tok, _u32), max_size=2),
    timing=st.lists(st.builds(Timing, _u32, _u32, st.lists(_text, max_size=1)), min_size=1, max_size=2),
    ice_lite=st.booleans(),
    ice_ufrag=st.none() | _text,
    ice_pwd=st.none() | _text,
    ice_options=st.lists(_tok, max_size=2),
    fingerprints=st.lists(st.builds(Fingerprint, _tok, _tok), max_size=2),
    setup=st.none() | st.sampled_from(["actpass", "active", "passive", "holdconn"]),
    groups=st.lists(st.builds(Group, _tok, st.lists(_tok, max_size=3)), max_size=2),
    extmap_allow_mixed=st.booleans(),
    msid_semantic=st.none() | st.builds(MsidSemantic, _tok, st.lists(_tok, max_size=2)),
    attributes=_unknown_attrs,
    media=st.lists(_rtp_media() | _app_media, max_size=3),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_sessions)
def test_generated_models_round_trip(desc: SessionDescription) -> None:
    text = serialize(desc)
    assert text.endswith("\r\n")
    assert parse(text) == desc
    assert parse(text.replace("\r\n", "\n")) == desc or any("\r" in line for line in text.split("\r\n"))
