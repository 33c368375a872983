"""The SDP parser: untrusted text in, a ``SessionDescription`` out or an ``SdpParseError`` naming the line.

``parse`` walks the text line by line. Session-level lines fill a ``SessionDescription`` until the
first ``m=`` line; each ``m=`` line opens a ``MediaSection`` that collects the lines up to the next
one. ``a=fmtp`` and ``a=rtcp-fb`` wait until the section closes, when every ``a=rtpmap`` is known.
"""

from __future__ import annotations

from hubbub.proto.sdp.attributes import (
    read_candidate,
    read_extmap,
    read_rid,
    read_simulcast,
    read_ssrc,
    read_ssrc_group,
)
from hubbub.proto.sdp.codecs import add_static_codecs, read_codec_attribute, read_rtpmap
from hubbub.proto.sdp.fields import InvalidField, read_int, split_fields
from hubbub.proto.sdp.model import (
    DIRECTIONS,
    SETUP_ROLES,
    Attribute,
    Bandwidth,
    Candidate,
    Connection,
    Fingerprint,
    Group,
    MediaSection,
    Msid,
    MsidSemantic,
    Origin,
    SdpParseError,
    SessionDescription,
    Timing,
)

__all__ = ["parse", "parse_candidate"]

_SESSION_TYPES = frozenset("vosiuepcbtrzka")
_MEDIA_TYPES = frozenset("icbka")
_FLAG_ATTRIBUTES = frozenset(("rtcp-mux", "rtcp-rsize", "end-of-candidates", "ice-lite", "extmap-allow-mixed"))


class _Parser:
    def __init__(self) -> None:
        self.desc = SessionDescription(timing=[])
        self.media: MediaSection | None = None
        self.deferred: list[tuple[int, str, str]] = []  # fmtp / rtcp-fb need every rtpmap first
        self.seen: set[str] = set()

    def run(self, text: str) -> SessionDescription:
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        number = 0
        for number, raw in enumerate(lines, start=1):
            line = raw[:-1] if raw.endswith("\r") else raw
            if not line and number > 1:
                continue  # tolerate blank lines between lines
            try:
                self.line(number, line)
            except SdpParseError:
                raise
            except (InvalidField, ValueError, IndexError, KeyError) as exc:
                raise SdpParseError(number, str(exc) or type(exc).__name__) from None
        try:
            self.close_media()
        except SdpParseError:
            raise
        except (InvalidField, ValueError, IndexError, KeyError) as exc:
            raise SdpParseError(number, str(exc) or type(exc).__name__) from None
        for required in "os":
            if required not in self.seen:
                raise SdpParseError(number, f"missing required {required}= line (RFC 8866 §5)")
        if not self.desc.timing:
            raise SdpParseError(number, "missing required t= line (RFC 8866 §5.9)")
        return self.desc

    def line(self, number: int, line: str) -> None:
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise InvalidField(f"expected '<type>=<value>', got {line[:40]!r}")
        kind, value = line[0], line[2:]
        if number == 1:
            if kind != "v" or value != "0":
                raise InvalidField("an SDP must start with 'v=0' (RFC 8866 §5.1)")
            self.seen.add("v")
            return
        if kind == "m":
            self.close_media()
            self.media = self.media_line(value)
            self.desc.media.append(self.media)
            return
        if self.media is None:
            if kind not in _SESSION_TYPES or kind == "v":
                raise InvalidField(f"'{kind}=' is not a session-level line")
            self.session_line(kind, value)
        else:
            if kind not in _MEDIA_TYPES:
                raise InvalidField(f"'{kind}=' is not allowed in a media section (RFC 8866 §5)")
            self.media_field(number, kind, value)

    def session_line(self, kind: str, value: str) -> None:
        desc = self.desc
        if kind in "os" and kind in self.seen:
            raise InvalidField(f"duplicate {kind}= line")
        self.seen.add(kind)
        if kind == "o":
            t = split_fields(value, "o=", 6)
            if len(t) != 6:
                raise InvalidField(f"o= needs 6 fields, got {len(t)}")
            desc.origin = Origin(
                t[0],
                read_int(t[1], "session id", 0, 2**64),
                read_int(t[2], "session version", 0, 2**64),
                t[3],
                t[4],
                t[5],
            )
        elif kind == "s":
            desc.session_name = value
        elif kind == "c":
            desc.connection = _connection(value)
        elif kind == "b":
            desc.bandwidths.append(_bandwidth(value))
        elif kind == "t":
            t = split_fields(value, "t=", 2)
            desc.timing.append(Timing(read_int(t[0], "start time", 0, 2**64), read_int(t[1], "stop time", 0, 2**64)))
        elif kind == "r":
            if not desc.timing:
                raise InvalidField("r= must follow a t= line (RFC 8866 §5.10)")
            desc.timing[-1].repeats.append(value)
        elif kind == "a":
            self.session_attribute(value)
        else:
            desc.extra_lines.append((kind, value))

    def session_attribute(self, text: str) -> None:
        desc = self.desc
        name, value = _attribute(text)
        if name in ("ice-ufrag", "ice-pwd", "ice-options", "fingerprint", "setup"):
            _transport_attribute(desc, name, value)
        elif name == "ice-lite":
            desc.ice_lite = True
        elif name == "extmap-allow-mixed":
            desc.extmap_allow_mixed = True
        elif name == "group" and value is not None:
            t = split_fields(value, "a=group", 1)
            desc.groups.append(Group(t[0], t[1:]))
        elif name == "msid-semantic" and value is not None:
            t = split_fields(value, "a=msid-semantic", 1)
            desc.msid_semantic = MsidSemantic(t[0], t[1:])
        else:
            desc.attributes.append(Attribute(name, value))

    def media_line(self, value: str) -> MediaSection:
        t = split_fields(value, "m=", 4)
        port_text, slash, count = t[1].partition("/")
        port = read_int(port_text, "media port", 0, 65535)
        port_count = read_int(count, "port count", 1, 65535) if slash else None
        formats = t[3:]
        if "RTP/" in t[2]:
            formats = [str(read_int(fmt, "RTP payload type", 0, 127)) for fmt in formats]
            if len(set(formats)) != len(formats):
                raise InvalidField("an RTP payload type is listed twice on the m= line")
        return MediaSection(kind=t[0], port=port, proto=t[2], formats=formats, port_count=port_count)

    def media_field(self, number: int, kind: str, value: str) -> None:
        media = self.media
        assert media is not None
        if kind == "c":
            media.connection = _connection(value)
        elif kind == "b":
            media.bandwidths.append(_bandwidth(value))
        elif kind == "a":
            name, attr_value = _attribute(value)
            if name in ("fmtp", "rtcp-fb"):
                self.deferred.append((number, name, attr_value or ""))
            else:
                _media_attribute(media, name, attr_value)
        else:
            media.extra_lines.append((kind, value))

    def close_media(self) -> None:
        media = self.media
        if media is None:
            return
        rtp = "RTP/" in media.proto
        if rtp:
            add_static_codecs(media)
            order = {fmt: i for i, fmt in enumerate(media.formats)}
            media.codecs.sort(key=lambda c: order[str(c.pt)])
        for number, name, value in self.deferred:
            try:
                if not rtp or not read_codec_attribute(media, name, value):
                    media.attributes.append(Attribute(name, value))
            except InvalidField as exc:
                raise SdpParseError(number, str(exc)) from None
        self.deferred = []
        self.media = None


def _attribute(text: str) -> tuple[str, str | None]:
    name, colon, value = text.partition(":")
    if not name or " " in name:
        raise InvalidField(f"malformed attribute name {name!r}")
    return name, (value if colon else None)


def _connection(value: str) -> Connection:
    t = split_fields(value, "c=", 3)
    if len(t) != 3:
        raise InvalidField(f"c= needs 3 fields, got {len(t)}")
    return Connection(t[0], t[1], t[2])


def _bandwidth(value: str) -> Bandwidth:
    bwtype, colon, amount = value.partition(":")
    if not colon or not bwtype or " " in bwtype:
        raise InvalidField("b= must be '<type>:<value>' (RFC 8866 §5.8)")
    return Bandwidth(bwtype, read_int(amount, "bandwidth", 0, 2**64))


def _transport_attribute(target: SessionDescription | MediaSection, name: str, value: str | None) -> None:
    if value is None:
        raise InvalidField(f"a={name} needs a value")
    if name == "ice-ufrag":
        target.ice_ufrag = value
    elif name == "ice-pwd":
        target.ice_pwd = value
    elif name == "ice-options":
        target.ice_options = value.split()
    elif name == "fingerprint":
        t = split_fields(value, "a=fingerprint", 2)
        if len(t) != 2:
            raise InvalidField("a=fingerprint needs '<algorithm> <hex>' (RFC 8122 §5)")
        target.fingerprints.append(Fingerprint(t[0], t[1]))
    else:
        if value not in SETUP_ROLES:
            raise InvalidField(f"a=setup must be one of {', '.join(SETUP_ROLES)} (RFC 4145 §4)")
        target.setup = value


def _media_attribute(media: MediaSection, name: str, value: str | None) -> None:
    if name in DIRECTIONS and value is None:
        media.direction = name
    elif name in _FLAG_ATTRIBUTES and value is None and name != "ice-lite":
        if name == "rtcp-mux":
            media.rtcp_mux = True
        elif name == "rtcp-rsize":
            media.rtcp_rsize = True
        elif name == "end-of-candidates":
            media.end_of_candidates = True
        else:
            media.extmap_allow_mixed = True
    elif value is None:
        media.attributes.append(Attribute(name, None))
    elif name in ("ice-ufrag", "ice-pwd", "ice-options", "fingerprint", "setup"):
        _transport_attribute(media, name, value)
    elif name == "candidate":
        media.candidates.append(read_candidate(f"candidate:{value}"))
    elif name == "mid":
        if not value:
            raise InvalidField("a=mid is empty")
        media.mid = value
    elif name == "rtcp":
        media.rtcp = value
    elif name == "rtpmap":
        read_rtpmap(media, value)
    elif name == "extmap":
        read_extmap(media, value)
    elif name == "msid":
        t = split_fields(value, "a=msid", 1)
        if len(t) > 2:
            raise InvalidField("a=msid has at most a stream id and a track id (RFC 8830 §2)")
        media.msids.append(Msid(t[0], t[1] if len(t) == 2 else None))
    elif name == "ssrc":
        read_ssrc(media, value)
    elif name == "ssrc-group":
        read_ssrc_group(media, value)
    elif name == "rid":
        media.rids.append(read_rid(value))
    elif name == "simulcast":
        media.simulcast = read_simulcast(value)
    elif name == "sctp-port":
        media.sctp_port = read_int(value.strip(), "sctp-port", 0, 65535)
    elif name == "max-message-size":
        media.max_message_size = read_int(value.strip(), "max-message-size", 0, 2**64)
    else:
        media.attributes.append(Attribute(name, value))


def parse(text: str) -> SessionDescription:
    """Parse an SDP (CRLF or LF line endings); raise ``SdpParseError`` if it is malformed."""
    if not isinstance(text, str):
        raise SdpParseError(0, f"SDP must be text, got {type(text).__name__}")
    if not text.strip():
        raise SdpParseError(1, "empty SDP")
    return _Parser().run(text)


def parse_candidate(text: str) -> Candidate:
    """Read one candidate as found in SDP (``a=candidate:...``) or in a trickle message."""
    value = text.strip()
    if value.startswith("a="):
        value = value[2:]
    try:
        return read_candidate(value)
    except InvalidField as exc:
        raise SdpParseError(1, str(exc)) from None
