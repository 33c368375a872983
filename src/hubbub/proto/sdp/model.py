"""The SDP model: a typed ``SessionDescription`` with its ``MediaSection``s (RFC 8866, WebRTC's attributes)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DIRECTIONS",
    "MAX_U32",
    "SETUP_ROLES",
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
