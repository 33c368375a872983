"""The modules inside proto/sdp: each reader and the writer of the same lines agree, errors stay InvalidField."""

from __future__ import annotations

import pytest

from hubbub.proto import sdp
from hubbub.proto.sdp import attributes, codecs, fields, model, parser, serializer


def _video() -> model.MediaSection:
    return model.MediaSection("video", 9, "UDP/TLS/RTP/SAVPF", ["96", "97", "0"])


def test_the_package_face_is_the_modules_names() -> None:
    assert sdp.parse is parser.parse and sdp.parse_candidate is parser.parse_candidate
    assert sdp.serialize is serializer.serialize
    for name in sdp.__all__:
        if name not in ("parse", "parse_candidate", "serialize"):
            assert getattr(sdp, name) is getattr(model, name), name


def test_field_grammar() -> None:
    assert fields.read_int("4294967295", "ssrc") == model.MAX_U32
    assert fields.split_fields("a  b c", "x", 2) == ["a", "b", "c"]
    params = fields.read_params("max-width=1280; max-fps=30;depend")
    assert params == {"max-width": "1280", "max-fps": "30", "depend": None}
    assert fields.params_text(params) == "max-width=1280;max-fps=30;depend"
    for bad in ("-1", "1e3", "٣", "99999999999999999999999"):
        with pytest.raises(fields.InvalidField):
            fields.read_int(bad, "ssrc")
    with pytest.raises(fields.InvalidField):
        fields.split_fields("a", "a=rid", 2)
    with pytest.raises(fields.InvalidField):
        fields.read_params("=1")


def test_codecs_read_and_write_the_same_lines() -> None:
    media = _video()
    codecs.read_rtpmap(media, "96 VP8/90000")
    codecs.read_rtpmap(media, "97 rtx/90000")
    codecs.add_static_codecs(media)
    assert codecs.read_codec_attribute(media, "rtcp-fb", "96 nack  pli")
    assert codecs.read_codec_attribute(media, "rtcp-fb", "* transport-cc")
    assert codecs.read_codec_attribute(media, "fmtp", "97 apt=96")
    assert not codecs.read_codec_attribute(media, "fmtp", "98 apt=96")  # no such codec: kept verbatim
    assert codecs.codec_lines(media) == [
        "a=rtcp-fb:* transport-cc",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 nack pli",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
        "a=rtpmap:0 PCMU/8000",
    ]
    assert codecs.read_fmtp("0-15;x=1") == {"0-15": "", "x": "1"}
    assert codecs.fmtp_text({"0-15": "", "x": "1"}) == "0-15;x=1"
    for value in ("96 VP8/90000", "98 VP9/90000", "96 VP8"):
        with pytest.raises(fields.InvalidField):
            codecs.read_rtpmap(media, value)  # duplicate, not on the m= line, no clock rate


def test_attributes_read_and_write_the_same_lines() -> None:
    media = _video()
    lines = [
        ("extmap", "4/sendonly urn:ietf:params:rtp-hdrext:sdes:mid"),
        ("ssrc-group", "FID 1 2"),
        ("ssrc", "1 cname:abc"),
        ("ssrc", "1 label"),
        ("ssrc", "2 cname:abc"),
        ("rid", "h send pt=96,97;max-width=1280"),
        ("rid", "l send"),
        ("simulcast", "send h;~l"),
    ]
    for name, value in lines:
        if name == "extmap":
            attributes.read_extmap(media, value)
        elif name == "ssrc-group":
            attributes.read_ssrc_group(media, value)
        elif name == "ssrc":
            attributes.read_ssrc(media, value)
        elif name == "rid":
            media.rids.append(attributes.read_rid(value))
        else:
            media.simulcast = attributes.read_simulcast(value)
    written = (
        attributes.extmap_lines(media)
        + attributes.ssrc_lines(media)
        + attributes.rid_lines(media)
        + attributes.simulcast_lines(media)
    )
    assert written == [f"a={name}:{value}" for name, value in lines]
    assert attributes.simulcast_lines(_video()) == []
    cand = attributes.read_candidate("candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host generation 0")
    assert cand.to_sdp() == "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host generation 0"
    for read, value in (
        (attributes.read_rid, "h sideways"),
        (attributes.read_simulcast, "send"),
        (attributes.read_simulcast, "send h;;l"),
        (attributes.read_candidate, "candidate:1 1 udp 1 10.0.0.1 5000 host x"),
    ):
        with pytest.raises(fields.InvalidField):
            read(value)
    with pytest.raises(fields.InvalidField):
        attributes.read_extmap(media, "4/sideways urn:x")


def test_parser_turns_field_errors_into_line_numbers() -> None:
    text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rid:h sideways\r\n"
    with pytest.raises(sdp.SdpParseError) as info:
        parser.parse(text)
    assert info.value.line_number == 6
    with pytest.raises(sdp.SdpParseError) as info:
        parser.parse_candidate("candidate:1 1 udp 1 10.0.0.1 99999 typ host")
    assert info.value.line_number == 1
