"""SDP (RFC 8866) for WebRTC: a typed model, a strict parser and a serializer.

Theory of operation: ``parse`` walks the text line by line. Session-level lines fill a
``SessionDescription`` until the first ``m=`` line; each ``m=`` line opens a ``MediaSection``
that collects the lines up to the next one. Attributes the SFU needs are typed fields; any
other attribute is kept, in order, in ``attributes`` so that ``serialize`` writes it back.
Every error raised while reading untrusted text is an ``SdpParseError`` naming the line.

``serialize`` always writes CRLF line endings (RFC 8866 §5) in the order Chromium uses.
``parse(serialize(d)) == d`` holds for any description that ``parse`` produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DIRECTIONS",
    "Attribute",
    "Bandwidth",
    "Candidate",
    "Codec",
    "Connection",
    "Fingerprint",
    "Group",
    "HeaderExtension",
    "MediaSection",
    "Msid",
    "MsidSemantic",
    "Origin",
    "Rid",
    "SdpParseError",
    "SessionDescription",
    "Simulcast",
    "SimulcastStream",
    "Ssrc",
    "SsrcGroup",
    "Timing",
    "parse",
    "parse_candidate",
    "serialize",
]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")  # RFC 8866 §6.7
SETUP_ROLES = ("actpass", "active", "passive", "holdconn")  # RFC 4145 §4
MAX_U32 = 0xFFFFFFFF


class SdpParseError(ValueError):
    """The remote peer sent an SDP that cannot be read; ``line_number`` is 1-based."""

    def __init__(self, line_number: int, reason: str) -> None:
        super().__init__(f"SDP line {line_number}: {reason}")
        self.line_number = line_number
        self.reason = reason


class _Invalid(ValueError):
    """Raised by field readers; the parser adds the line number."""


# -- model ------------------------------------------------------------------------------


@dataclass(slots=True)
class Origin:
    """``o=`` (RFC 8866 §5.2)."""

    username: str = "-"
    session_id: int = 0
    session_version: int = 0
    net_type: str = "IN"
    addr_type: str = "IP4"
    address: str = "127.0.0.1"


@dataclass(slots=True)
class Connection:
    """``c=`` (RFC 8866 §5.7); ``address`` keeps any ``/ttl`` suffix."""

    net_type: str = "IN"
    addr_type: str = "IP4"
    address: str = "0.0.0.0"


@dataclass(slots=True)
class Timing:
    """``t=`` with its ``r=`` lines (RFC 8866 §5.9, §5.10)."""

    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Bandwidth:
    """``b=<type>:<value>`` (RFC 8866 §5.8), e.g. AS or TIAS (RFC 3890)."""

    type: str
    value: int


@dataclass(slots=True)
class Attribute:
    """An attribute this model has no field for, kept verbatim (RFC 8866 §5.13)."""

    name: str
    value: str | None = None


@dataclass(slots=True)
class Group:
    """``a=group`` (RFC 5888 §5), e.g. BUNDLE (RFC 8843 §7.1)."""

    semantics: str
    mids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MsidSemantic:
    """``a=msid-semantic`` (the pre-RFC 8830 WebRTC form, still sent by Chromium)."""

    semantics: str = "WMS"
    ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Fingerprint:
    """``a=fingerprint`` (RFC 8122 §5)."""

    algorithm: str
    value: str


@dataclass(slots=True)
class Candidate:
    """``a=candidate`` (RFC 8839 §5.1) with the extension attributes WebRTC uses."""

    foundation: str
    component: int
    transport: str
    priority: int
    ip: str
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    tcptype: str | None = None
    generation: int | None = None
    ufrag: str | None = None
    network_id: int | None = None
    extensions: list[tuple[str, str]] = field(default_factory=list)

    def to_sdp(self) -> str:
        """The attribute value, ``candidate:...``, as sent in SDP or in a trickle message."""
        parts = [
            f"candidate:{self.foundation}",
            str(self.component),
            self.transport,
            str(self.priority),
            self.ip,
            str(self.port),
            "typ",
            self.type,
        ]
        known: list[tuple[str, object]] = [
            ("raddr", self.related_address),
            ("rport", self.related_port),
            ("tcptype", self.tcptype),
            ("generation", self.generation),
            ("ufrag", self.ufrag),
            ("network-id", self.network_id),
        ]
        for name, value in known:
            if value is not None:
                parts += [name, str(value)]
        for name, text in self.extensions:
            parts += [name, text]
        return " ".join(parts)


@dataclass(slots=True)
class Codec:
    """One RTP payload format: ``a=rtpmap``, ``a=fmtp`` and ``a=rtcp-fb`` (RFC 8866 §6.6, RFC 4585 §4.2)."""

    pt: int
    name: str
    clock_rate: int
    channels: int | None = None
    fmtp: dict[str, str] = field(default_factory=dict)
    rtcp_fb: list[str] = field(default_factory=list)

    @property
    def mime_type(self) -> str:
        return self.name.lower()


@dataclass(slots=True)
class HeaderExtension:
    """``a=extmap`` (RFC 8285 §8)."""

    id: int
    uri: str
    direction: str | None = None
    attributes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Ssrc:
    """The ``a=ssrc`` lines of one SSRC (RFC 5576 §4.1), attributes in order."""

    ssrc: int
    attributes: dict[str, str | None] = field(default_factory=dict)

    @property
    def cname(self) -> str | None:
        return self.attributes.get("cname")

    @property
    def msid(self) -> str | None:
        return self.attributes.get("msid")


@dataclass(slots=True)
class SsrcGroup:
    """``a=ssrc-group`` (RFC 5576 §4.2): FID (RFC 4588 §8.2), SIM."""

    semantics: str
    ssrcs: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Msid:
    """``a=msid`` (RFC 8830 §2): a MediaStream id and an optional track id."""

    stream_id: str
    track_id: str | None = None


@dataclass(slots=True)
class Rid:
    """``a=rid`` (RFC 8851 §10): an RTP stream id with its payload types and restrictions."""

    id: str
    direction: str
    formats: list[int] = field(default_factory=list)
    params: dict[str, str | None] = field(default_factory=dict)


@dataclass(slots=True)
class SimulcastStream:
    """One rid in ``a=simulcast``; ``paused`` is the ``~`` prefix (RFC 8853 §5.1)."""

    rid: str
    paused: bool = False


@dataclass(slots=True)
class Simulcast:
    """``a=simulcast`` (RFC 8853 §5.1): streams in order, each a list of alternatives."""

    send: list[list[SimulcastStream]] = field(default_factory=list)
    recv: list[list[SimulcastStream]] = field(default_factory=list)


@dataclass(slots=True)
class MediaSection:
    """One ``m=`` section with the attributes WebRTC negotiates."""

    kind: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    extra_lines: list[tuple[str, str]] = field(default_factory=list)  # i=, k=
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    rtcp: str | None = None  # RFC 3605
    candidates: list[Candidate] = field(default_factory=list)
    end_of_candidates: bool = False  # RFC 8840 §8.2
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    ice_options: list[str] = field(default_factory=list)
    fingerprints: list[Fingerprint] = field(default_factory=list)
    setup: str | None = None
    mid: str | None = None  # RFC 5888 §4
    header_extensions: list[HeaderExtension] = field(default_factory=list)
    extmap_allow_mixed: bool = False  # RFC 8285 §6
    direction: str | None = None
    msids: list[Msid] = field(default_factory=list)
    rtcp_mux: bool = False  # RFC 5761 §5.1.3
    rtcp_rsize: bool = False  # RFC 5506 §5
    codecs: list[Codec] = field(default_factory=list)
    rtcp_fb_all: list[str] = field(default_factory=list)  # ``a=rtcp-fb:*``
    ssrc_groups: list[SsrcGroup] = field(default_factory=list)
    ssrcs: list[Ssrc] = field(default_factory=list)
    rids: list[Rid] = field(default_factory=list)
    simulcast: Simulcast | None = None
    sctp_port: int | None = None  # RFC 8841 §5
    max_message_size: int | None = None  # RFC 8841 §6
    attributes: list[Attribute] = field(default_factory=list)

    def codec(self, pt: int) -> Codec | None:
        return next((c for c in self.codecs if c.pt == pt), None)

    def rtcp_feedback(self, codec: Codec) -> list[str]:
        """The codec's feedback including ``a=rtcp-fb:*`` lines (RFC 4585 §4.2)."""
        return codec.rtcp_fb + [fb for fb in self.rtcp_fb_all if fb not in codec.rtcp_fb]


@dataclass(slots=True)
class SessionDescription:
    """A whole SDP: session-level fields and the media sections in order."""

    origin: Origin = field(default_factory=Origin)
    session_name: str = "-"
    version: int = 0
    extra_lines: list[tuple[str, str]] = field(default_factory=list)  # i= u= e= p= z= k=
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    timing: list[Timing] = field(default_factory=lambda: [Timing()])
    ice_lite: bool = False  # RFC 8839 §5.3
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    ice_options: list[str] = field(default_factory=list)
    fingerprints: list[Fingerprint] = field(default_factory=list)
    setup: str | None = None
    groups: list[Group] = field(default_factory=list)
    extmap_allow_mixed: bool = False
    msid_semantic: MsidSemantic | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaSection] = field(default_factory=list)

    def bundle_group(self) -> Group | None:
        return next((g for g in self.groups if g.semantics == "BUNDLE"), None)


# -- field readers (raise _Invalid) --------------------------------------------------------


def _int(token: str, what: str, low: int = 0, high: int = MAX_U32) -> int:
    if not (token.isascii() and token.isdigit()) or len(token) > 20:
        raise _Invalid(f"{what} must be a decimal number, got {token!r}")
    value = int(token)
    if not low <= value <= high:
        raise _Invalid(f"{what} {value} is out of range {low}..{high}")
    return value


def _split(value: str, what: str, minimum: int) -> list[str]:
    tokens = value.split()
    if len(tokens) < minimum:
        raise _Invalid(f"{what} needs at least {minimum} fields, got {len(tokens)}")
    return tokens


def _candidate(value: str) -> Candidate:
    if not value.startswith("candidate:"):
        raise _Invalid("a candidate must start with 'candidate:'")
    tokens = _split(value[len("candidate:") :], "candidate", 8)
    if tokens[6] != "typ":
        raise _Invalid(f"expected 'typ' as the seventh candidate field, got {tokens[6]!r}")
    cand = Candidate(
        foundation=tokens[0],
        component=_int(tokens[1], "candidate component", 1, 256),
        transport=tokens[2],
        priority=_int(tokens[3], "candidate priority"),
        ip=tokens[4],
        port=_int(tokens[5], "candidate port", 0, 65535),
        type=tokens[7],
    )
    rest = tokens[8:]
    if len(rest) % 2:
        raise _Invalid(f"candidate extension {rest[-1]!r} has no value")
    for name, text in zip(rest[::2], rest[1::2], strict=True):
        if name == "raddr":
            cand.related_address = text
        elif name == "rport":
            cand.related_port = _int(text, "candidate rport", 0, 65535)
        elif name == "tcptype":
            cand.tcptype = text
        elif name == "generation":
            cand.generation = _int(text, "candidate generation")
        elif name == "ufrag":
            cand.ufrag = text
        elif name == "network-id":
            cand.network_id = _int(text, "candidate network-id")
        else:
            cand.extensions.append((name, text))
    return cand


def parse_candidate(text: str) -> Candidate:
    """Read one candidate as found in SDP (``a=candidate:...``) or in a trickle message."""
    value = text.strip()
    if value.startswith("a="):
        value = value[2:]
    try:
        return _candidate(value)
    except _Invalid as exc:
        raise SdpParseError(1, str(exc)) from None


def _params(text: str) -> dict[str, str | None]:
    """``key[=value];...`` as in RFC 8851 rid-param lists."""
    params: dict[str, str | None] = {}
    for piece in text.split(";"):
        key, eq, val = piece.strip().partition("=")
        key = key.strip()
        if not key:
            if eq or val:
                raise _Invalid(f"parameter {piece!r} has no name")
            continue
        params[key] = val.strip() if eq else None
    return params


def _fmtp(text: str) -> dict[str, str]:
    """RFC 8866 §6.15 format parameters; a bare token (``0-15``) keeps an empty value."""
    return {k: (v or "") for k, v in _params(text).items()}


def _rid(value: str) -> Rid:
    tokens = value.split(None, 2)
    if len(tokens) < 2:
        raise _Invalid("a=rid needs an id and a direction (RFC 8851 §10)")
    if tokens[1] not in ("send", "recv"):
        raise _Invalid(f"rid direction must be send or recv, got {tokens[1]!r}")
    rid = Rid(id=tokens[0], direction=tokens[1])
    if len(tokens) == 3:
        params = _params(tokens[2])
        if "pt" in params:
            pts = params.pop("pt") or ""
            rid.formats = [_int(p.strip(), "rid payload type", 0, 127) for p in pts.split(",")]
        rid.params = params
    return rid


def _simulcast(value: str) -> Simulcast:
    tokens = value.split()
    if not tokens or len(tokens) % 2:
        raise _Invalid("a=simulcast needs 'send' or 'recv' followed by a stream list (RFC 8853 §5.1)")
    sim = Simulcast()
    for direction, streams in zip(tokens[::2], tokens[1::2], strict=True):
        if direction not in ("send", "recv"):
            raise _Invalid(f"simulcast direction must be send or recv, got {direction!r}")
        parsed: list[list[SimulcastStream]] = []
        for alternatives in streams.split(";"):
            alts = []
            for rid in alternatives.split(","):
                rid = rid.removeprefix("rid=")
                paused = rid.startswith("~")
                rid = rid.removeprefix("~")
                if not rid:
                    raise _Invalid(f"empty rid in simulcast stream list {streams!r}")
                alts.append(SimulcastStream(rid, paused))
            parsed.append(alts)
        (sim.send if direction == "send" else sim.recv).extend(parsed)
    return sim


# -- parser -------------------------------------------------------------------------------

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
            except (_Invalid, ValueError, IndexError, KeyError) as exc:
                raise SdpParseError(number, str(exc) or type(exc).__name__) from None
        try:
            self.close_media()
        except SdpParseError:
            raise
        except (_Invalid, ValueError, IndexError, KeyError) as exc:
            raise SdpParseError(number, str(exc) or type(exc).__name__) from None
        for required in "os":
            if required not in self.seen:
                raise SdpParseError(number, f"missing required {required}= line (RFC 8866 §5)")
        if not self.desc.timing:
            raise SdpParseError(number, "missing required t= line (RFC 8866 §5.9)")
        return self.desc

    def line(self, number: int, line: str) -> None:
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise _Invalid(f"expected '<type>=<value>', got {line[:40]!r}")
        kind, value = line[0], line[2:]
        if number == 1:
            if kind != "v" or value != "0":
                raise _Invalid("an SDP must start with 'v=0' (RFC 8866 §5.1)")
            self.seen.add("v")
            return
        if kind == "m":
            self.close_media()
            self.media = self.media_line(value)
            self.desc.media.append(self.media)
            return
        if self.media is None:
            if kind not in _SESSION_TYPES or kind == "v":
                raise _Invalid(f"'{kind}=' is not a session-level line")
            self.session_line(kind, value)
        else:
            if kind not in _MEDIA_TYPES:
                raise _Invalid(f"'{kind}=' is not allowed in a media section (RFC 8866 §5)")
            self.media_field(number, kind, value)

    def session_line(self, kind: str, value: str) -> None:
        desc = self.desc
        if kind in "os" and kind in self.seen:
            raise _Invalid(f"duplicate {kind}= line")
        self.seen.add(kind)
        if kind == "o":
            t = _split(value, "o=", 6)
            if len(t) != 6:
                raise _Invalid(f"o= needs 6 fields, got {len(t)}")
            desc.origin = Origin(
                t[0],
                _int(t[1], "session id", 0, 2**64),
                _int(t[2], "session version", 0, 2**64),
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
            t = _split(value, "t=", 2)
            desc.timing.append(Timing(_int(t[0], "start time", 0, 2**64), _int(t[1], "stop time", 0, 2**64)))
        elif kind == "r":
            if not desc.timing:
                raise _Invalid("r= must follow a t= line (RFC 8866 §5.10)")
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
            t = _split(value, "a=group", 1)
            desc.groups.append(Group(t[0], t[1:]))
        elif name == "msid-semantic" and value is not None:
            t = _split(value, "a=msid-semantic", 1)
            desc.msid_semantic = MsidSemantic(t[0], t[1:])
        else:
            desc.attributes.append(Attribute(name, value))

    def media_line(self, value: str) -> MediaSection:
        t = _split(value, "m=", 4)
        port_text, slash, count = t[1].partition("/")
        port = _int(port_text, "media port", 0, 65535)
        port_count = _int(count, "port count", 1, 65535) if slash else None
        formats = t[3:]
        if "RTP/" in t[2]:
            formats = [str(_int(fmt, "RTP payload type", 0, 127)) for fmt in formats]
            if len(set(formats)) != len(formats):
                raise _Invalid("an RTP payload type is listed twice on the m= line")
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
            _add_static_codecs(media)
            order = {fmt: i for i, fmt in enumerate(media.formats)}
            media.codecs.sort(key=lambda c: order[str(c.pt)])
        for number, name, value in self.deferred:
            try:
                if not rtp or not _codec_attribute(media, name, value):
                    media.attributes.append(Attribute(name, value))
            except _Invalid as exc:
                raise SdpParseError(number, str(exc)) from None
        self.deferred = []
        self.media = None


def _attribute(text: str) -> tuple[str, str | None]:
    name, colon, value = text.partition(":")
    if not name or " " in name:
        raise _Invalid(f"malformed attribute name {name!r}")
    return name, (value if colon else None)


def _connection(value: str) -> Connection:
    t = _split(value, "c=", 3)
    if len(t) != 3:
        raise _Invalid(f"c= needs 3 fields, got {len(t)}")
    return Connection(t[0], t[1], t[2])


def _bandwidth(value: str) -> Bandwidth:
    bwtype, colon, amount = value.partition(":")
    if not colon or not bwtype or " " in bwtype:
        raise _Invalid("b= must be '<type>:<value>' (RFC 8866 §5.8)")
    return Bandwidth(bwtype, _int(amount, "bandwidth", 0, 2**64))


def _transport_attribute(target: SessionDescription | MediaSection, name: str, value: str | None) -> None:
    if value is None:
        raise _Invalid(f"a={name} needs a value")
    if name == "ice-ufrag":
        target.ice_ufrag = value
    elif name == "ice-pwd":
        target.ice_pwd = value
    elif name == "ice-options":
        target.ice_options = value.split()
    elif name == "fingerprint":
        t = _split(value, "a=fingerprint", 2)
        if len(t) != 2:
            raise _Invalid("a=fingerprint needs '<algorithm> <hex>' (RFC 8122 §5)")
        target.fingerprints.append(Fingerprint(t[0], t[1]))
    else:
        if value not in SETUP_ROLES:
            raise _Invalid(f"a=setup must be one of {', '.join(SETUP_ROLES)} (RFC 4145 §4)")
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
        media.candidates.append(_candidate(f"candidate:{value}"))
    elif name == "mid":
        if not value:
            raise _Invalid("a=mid is empty")
        media.mid = value
    elif name == "rtcp":
        media.rtcp = value
    elif name == "rtpmap":
        _rtpmap(media, value)
    elif name == "extmap":
        _extmap(media, value)
    elif name == "msid":
        t = _split(value, "a=msid", 1)
        if len(t) > 2:
            raise _Invalid("a=msid has at most a stream id and a track id (RFC 8830 §2)")
        media.msids.append(Msid(t[0], t[1] if len(t) == 2 else None))
    elif name == "ssrc":
        _ssrc(media, value)
    elif name == "ssrc-group":
        t = _split(value, "a=ssrc-group", 1)
        media.ssrc_groups.append(SsrcGroup(t[0], [_int(s, "ssrc") for s in t[1:]]))
    elif name == "rid":
        media.rids.append(_rid(value))
    elif name == "simulcast":
        media.simulcast = _simulcast(value)
    elif name == "sctp-port":
        media.sctp_port = _int(value.strip(), "sctp-port", 0, 65535)
    elif name == "max-message-size":
        media.max_message_size = _int(value.strip(), "max-message-size", 0, 2**64)
    else:
        media.attributes.append(Attribute(name, value))


def _rtpmap(media: MediaSection, value: str) -> None:
    # RFC 8866 §6.6: a=rtpmap:<payload type> <encoding name>/<clock rate>[/<parameters>]
    t = _split(value, "a=rtpmap", 2)
    if len(t) != 2:
        raise _Invalid("a=rtpmap needs '<pt> <name>/<clock>[/<channels>]'")
    pt = _int(t[0], "rtpmap payload type", 0, 127)
    if "RTP/" not in media.proto or str(pt) not in media.formats:
        raise _Invalid(f"a=rtpmap for payload type {pt} that the m= line does not list")
    if media.codec(pt) is not None:
        raise _Invalid(f"duplicate a=rtpmap for payload type {pt}")
    bits = t[1].split("/")
    if len(bits) not in (2, 3) or not bits[0]:
        raise _Invalid(f"malformed rtpmap encoding {t[1]!r}")
    channels = _int(bits[2], "channel count", 1, 255) if len(bits) == 3 else None
    media.codecs.append(Codec(pt, bits[0], _int(bits[1], "clock rate", 1, MAX_U32), channels))


def _extmap(media: MediaSection, value: str) -> None:
    # RFC 8285 §8: a=extmap:<value>["/"<direction>] <URI> <extensionattributes>
    t = _split(value, "a=extmap", 2)
    ident, slash, direction = t[0].partition("/")
    if slash and direction not in DIRECTIONS:
        raise _Invalid(f"extmap direction must be one of {', '.join(DIRECTIONS)}")
    ext = HeaderExtension(_int(ident, "extmap id", 1, 4351), t[1], direction if slash else None, t[2:])
    media.header_extensions.append(ext)


def _ssrc(media: MediaSection, value: str) -> None:
    # RFC 5576 §4.1: a=ssrc:<ssrc-id> <attribute>[:<value>]
    ident, _, rest = value.partition(" ")
    ssrc = _int(ident, "ssrc")
    name, colon, text = rest.strip().partition(":")
    if not name or " " in name:
        raise _Invalid("a=ssrc needs '<ssrc> <attribute>[:<value>]' (RFC 5576 §4.1)")
    entry = next((s for s in media.ssrcs if s.ssrc == ssrc), None)
    if entry is None:
        entry = Ssrc(ssrc)
        media.ssrcs.append(entry)
    entry.attributes[name] = text if colon else None


# RFC 3551 §6: static payload types that need no a=rtpmap.
_STATIC_PT: dict[int, tuple[str, int, int | None]] = {
    0: ("PCMU", 8000, None), 3: ("GSM", 8000, None), 4: ("G723", 8000, None),
    5: ("DVI4", 8000, None), 6: ("DVI4", 16000, None), 7: ("LPC", 8000, None),
    8: ("PCMA", 8000, None), 9: ("G722", 8000, None), 10: ("L16", 44100, 2),
    11: ("L16", 44100, None), 12: ("QCELP", 8000, None), 13: ("CN", 8000, None),
    14: ("MPA", 90000, None), 15: ("G728", 8000, None), 16: ("DVI4", 11025, None),
    17: ("DVI4", 22050, None), 18: ("G729", 8000, None), 25: ("CelB", 90000, None),
    26: ("JPEG", 90000, None), 28: ("nv", 90000, None), 31: ("H261", 90000, None),
    32: ("MPV", 90000, None), 33: ("MP2T", 90000, None), 34: ("H263", 90000, None),
}  # fmt: skip


def _add_static_codecs(media: MediaSection) -> None:
    for fmt in media.formats:
        pt = int(fmt)
        if pt in _STATIC_PT and media.codec(pt) is None:
            name, clock, channels = _STATIC_PT[pt]
            media.codecs.append(Codec(pt, name, clock, channels))


def _codec_attribute(media: MediaSection, name: str, value: str) -> bool:
    """Apply a=fmtp / a=rtcp-fb; False when it names no known codec (kept verbatim)."""
    target, _, rest = value.partition(" ")
    if name == "rtcp-fb" and target == "*":
        fb = " ".join(rest.split())
        if not fb:
            raise _Invalid("a=rtcp-fb needs a feedback type (RFC 4585 §4.2)")
        media.rtcp_fb_all.append(fb)
        return True
    if not (target.isascii() and target.isdigit()):
        raise _Invalid(f"a={name} needs a payload type, got {target!r}")
    codec = media.codec(_int(target, f"{name} payload type", 0, 127))
    if codec is None:
        return False
    if name == "fmtp":
        codec.fmtp.update(_fmtp(rest))
    else:
        fb = " ".join(rest.split())
        if not fb:
            raise _Invalid("a=rtcp-fb needs a feedback type (RFC 4585 §4.2)")
        codec.rtcp_fb.append(fb)
    return True


def parse(text: str) -> SessionDescription:
    """Parse an SDP (CRLF or LF line endings); raise ``SdpParseError`` if it is malformed."""
    if not isinstance(text, str):
        raise SdpParseError(0, f"SDP must be text, got {type(text).__name__}")
    if not text.strip():
        raise SdpParseError(1, "empty SDP")
    return _Parser().run(text)


# -- serializer ---------------------------------------------------------------------------


def _params_text(params: dict[str, str | None]) -> str:
    return ";".join(k if v is None else f"{k}={v}" for k, v in params.items())


def _fmtp_text(fmtp: dict[str, str]) -> str:
    return ";".join(f"{k}={v}" if v else k for k, v in fmtp.items())


def _attr(name: str, value: str | None) -> str:
    return f"a={name}" if value is None else f"a={name}:{value}"


def _transport_lines(target: SessionDescription | MediaSection) -> list[str]:
    lines = []
    if target.ice_ufrag is not None:
        lines.append(f"a=ice-ufrag:{target.ice_ufrag}")
    if target.ice_pwd is not None:
        lines.append(f"a=ice-pwd:{target.ice_pwd}")
    if target.ice_options:
        lines.append(f"a=ice-options:{' '.join(target.ice_options)}")
    lines += [f"a=fingerprint:{f.algorithm} {f.value}" for f in target.fingerprints]
    if target.setup is not None:
        lines.append(f"a=setup:{target.setup}")
    return lines


def _streams_text(streams: list[list[SimulcastStream]]) -> str:
    return ";".join(",".join(("~" if s.paused else "") + s.rid for s in alts) for alts in streams)


def _codec_lines(media: MediaSection) -> list[str]:
    lines = [f"a=rtcp-fb:* {fb}" for fb in media.rtcp_fb_all]
    for c in media.codecs:
        channels = f"/{c.channels}" if c.channels is not None else ""
        lines.append(f"a=rtpmap:{c.pt} {c.name}/{c.clock_rate}{channels}")
        lines += [f"a=rtcp-fb:{c.pt} {fb}" for fb in c.rtcp_fb]
        if c.fmtp:
            lines.append(f"a=fmtp:{c.pt} {_fmtp_text(c.fmtp)}")
    return lines


def _media_lines(m: MediaSection) -> list[str]:
    port = f"{m.port}/{m.port_count}" if m.port_count is not None else str(m.port)
    lines = [f"m={m.kind} {port} {m.proto} {' '.join(m.formats)}"]
    lines += [f"{k}={v}" for k, v in m.extra_lines if k == "i"]
    if m.connection is not None:
        c = m.connection
        lines.append(f"c={c.net_type} {c.addr_type} {c.address}")
    lines += [f"b={b.type}:{b.value}" for b in m.bandwidths]
    lines += [f"{k}={v}" for k, v in m.extra_lines if k != "i"]
    if m.rtcp is not None:
        lines.append(f"a=rtcp:{m.rtcp}")
    lines += [f"a={c.to_sdp()}" for c in m.candidates]
    if m.end_of_candidates:
        lines.append("a=end-of-candidates")
    lines += _transport_lines(m)
    if m.mid is not None:
        lines.append(f"a=mid:{m.mid}")
    for e in m.header_extensions:
        ident = f"{e.id}/{e.direction}" if e.direction else str(e.id)
        lines.append(" ".join([f"a=extmap:{ident}", e.uri, *e.attributes]))
    if m.extmap_allow_mixed:
        lines.append("a=extmap-allow-mixed")
    if m.direction is not None:
        lines.append(f"a={m.direction}")
    lines += [f"a=msid:{s.stream_id}" + (f" {s.track_id}" if s.track_id is not None else "") for s in m.msids]
    if m.rtcp_mux:
        lines.append("a=rtcp-mux")
    if m.rtcp_rsize:
        lines.append("a=rtcp-rsize")
    lines += _codec_lines(m)
    lines += [f"a=ssrc-group:{' '.join([g.semantics, *map(str, g.ssrcs)])}" for g in m.ssrc_groups]
    for s in m.ssrcs:
        lines += [f"a=ssrc:{s.ssrc} {k}" + (f":{v}" if v is not None else "") for k, v in s.attributes.items()]
    for r in m.rids:
        params = dict(r.params)
        text = _params_text(params)
        if r.formats:
            pts = "pt=" + ",".join(map(str, r.formats))
            text = f"{pts};{text}" if text else pts
        lines.append(f"a=rid:{r.id} {r.direction}" + (f" {text}" if text else ""))
    if m.simulcast is not None:
        parts = [f"{d} {_streams_text(s)}" for d, s in (("send", m.simulcast.send), ("recv", m.simulcast.recv)) if s]
        lines.append(f"a=simulcast:{' '.join(parts)}")
    if m.sctp_port is not None:
        lines.append(f"a=sctp-port:{m.sctp_port}")
    if m.max_message_size is not None:
        lines.append(f"a=max-message-size:{m.max_message_size}")
    lines += [_attr(a.name, a.value) for a in m.attributes]
    return lines


def serialize(desc: SessionDescription) -> str:
    """Write an SDP with CRLF line endings (RFC 8866 §5)."""
    o = desc.origin
    lines = [
        f"v={desc.version}",
        f"o={o.username} {o.session_id} {o.session_version} {o.net_type} {o.addr_type} {o.address}",
        f"s={desc.session_name}",
    ]
    lines += [f"{k}={v}" for k, v in desc.extra_lines if k in "iuep"]
    if desc.connection is not None:
        c = desc.connection
        lines.append(f"c={c.net_type} {c.addr_type} {c.address}")
    lines += [f"b={b.type}:{b.value}" for b in desc.bandwidths]
    for t in desc.timing:
        lines.append(f"t={t.start} {t.stop}")
        lines += [f"r={r}" for r in t.repeats]
    lines += [f"{k}={v}" for k, v in desc.extra_lines if k not in "iuep"]
    if desc.ice_lite:
        lines.append("a=ice-lite")
    lines += _transport_lines(desc)
    lines += [f"a=group:{' '.join([g.semantics, *g.mids])}" for g in desc.groups]
    if desc.extmap_allow_mixed:
        lines.append("a=extmap-allow-mixed")
    if desc.msid_semantic is not None:
        ms = desc.msid_semantic
        lines.append(f"a=msid-semantic:{' '.join([ms.semantics, *ms.ids])}")
    lines += [_attr(a.name, a.value) for a in desc.attributes]
    for m in desc.media:
        lines += _media_lines(m)
    return "\r\n".join(lines) + "\r\n"
