"""The SFU's two peer connections per participant: what it accepts and offers (RFC 3264, RFC 8829).

Theory of operation. The *publisher* connection is offered by the client: the SFU answers
every m= line in place (RFC 3264 §6), keeps the offer's payload types and extmap ids so that
ingested packets need no rewriting, and rejects what it cannot forward with port 0. Each
accepted line accepts exactly one media codec (the SFU's first preference among those offered)
and its RTX: the offerer may send with any format the answer lists (RFC 3264 §7), and a subscriber
is offered one codec per track, so a second accepted codec would be one nobody receives. The
*subscriber* connection is offered by the SFU: one sendonly m= line per forwarded track;
on renegotiation m= lines never move (RFC 8829 §5.2.2), a removed track leaves a rejected
(port 0, inactive) line, and a later track of the same kind recycles such a line under a
fresh mid. The SFU is ICE-lite (RFC 8445 §2.5), always the DTLS server (RFC 8842 §5) and
bundles everything on one transport with RTCP multiplexing (RFC 8843, RFC 5761).

The protocol mechanics (codec matching, answer rules, SSRC plans) are in
``hubbub.proto.sdp_negotiation``; this module holds the SFU's choices. Everything here is
pure: descriptions in, descriptions and ``NegotiatedMedia`` out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hubbub.proto.cc.publisher import FB_REMB, FB_TRANSPORT_CC, served_feedback
from hubbub.proto.rtp_ext import URI_TRANSPORT_CC
from hubbub.proto.sdp import (
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
    SessionDescription,
    Ssrc,
    SsrcGroup,
)
from hubbub.proto.sdp_negotiation import (
    RTP_PROTOS,
    CodecCapability,
    NegotiatedMedia,
    NegotiationError,
    answer_direction,
    answer_rids,
    choose_codecs,
    codec_list,
    is_rtx,
    media_msid,
    new_origin,
    rejected_section,
    removed_section,
    ssrc_plan,
    transport_parameters,
)

__all__ = [
    "SERVER_CODECS",
    "SERVER_EXTENSIONS",
    "SUBSCRIBER_TRANSPORT_CC_ID",
    "OutgoingTrack",
    "answer_publisher_offer",
    "build_subscriber_offer",
    "parse_subscriber_answer",
    "red_codec",
    "red_payload_types",
    "simulcast_layers",
    "subscriber_codecs",
    "subscriber_transport_cc",
]

_RATE_FB = (FB_TRANSPORT_CC, FB_REMB)
PUBLISHER_START_KBPS = 1500  # x-google-start-bitrate in the answer to a transport-cc publisher
SUBSCRIBER_TRANSPORT_CC_ID = 3  # the extension ID of transport-wide CC on subscriber connections (libwebrtc's own)
VIDEO_FEEDBACK = ("nack", "nack pli", "ccm fir", "goog-remb", "transport-cc")


SERVER_EXTENSIONS: tuple[str, ...] = (
    "urn:ietf:params:rtp-hdrext:sdes:mid",  # RFC 8843 §15.2
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",  # RFC 6464
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",  # RFC 8852 §3.1
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",  # RFC 8852 §3.2
)


SERVER_CODECS: tuple[CodecCapability, ...] = (
    # RFC 7587 §7: opus is always 48000/2; usedtx only if the sender offers it.
    CodecCapability(
        "audio", "opus", 48000, 2, (("minptime", "10"), ("useinbandfec", "1")), ("usedtx",), ("transport-cc",)
    ),
    CodecCapability("video", "VP8", 90000, rtcp_fb=VIDEO_FEEDBACK),
    CodecCapability("video", "VP9", 90000, fmtp=(("profile-id", "0"),), rtcp_fb=VIDEO_FEEDBACK),
    # RFC 6184 §8.2.2: H.264 matches on profile and packetization-mode, never on level.
    CodecCapability(
        "video",
        "H264",
        90000,
        fmtp=(("packetization-mode", "1"), ("profile-level-id", "42e01f")),
        echo_fmtp=("level-asymmetry-allowed", "profile-level-id"),
        rtcp_fb=VIDEO_FEEDBACK,
    ),
    CodecCapability(
        "video",
        "H264",
        90000,
        fmtp=(("packetization-mode", "1"), ("profile-level-id", "42001f")),
        echo_fmtp=("level-asymmetry-allowed", "profile-level-id"),
        rtcp_fb=VIDEO_FEEDBACK,
    ),
)


@dataclass(frozen=True, slots=True)
class OutgoingTrack:
    """One down-track in a subscriber offer; ``rtx_pt`` is the RTX payload type for ``codecs[0]``."""

    mid: str
    kind: str
    codecs: tuple[Codec, ...]
    ssrc: int
    cname: str
    stream_id: str
    track_id: str
    rtx_pt: int | None = None
    rtx_ssrc: int | None = None
    extensions: Mapping[str, int] = field(default_factory=dict)


def _transport(
    media: MediaSection,
    *,
    ice_ufrag: str,
    ice_pwd: str,
    fingerprint: tuple[str, str],
    setup: str,
    candidates: Sequence[Candidate],
) -> None:
    """Write the SFU's ICE-lite transport into an m= line (RFC 8839 §5, RFC 8122 §5)."""
    media.ice_ufrag, media.ice_pwd = ice_ufrag, ice_pwd
    media.ice_options = []
    media.fingerprints = [Fingerprint(*fingerprint)]
    media.setup = setup
    media.rtcp_mux = "RTP/" in media.proto  # RFC 8843 §9.1 / RFC 5761: one port for RTP and RTCP
    if media.port == 0:
        media.connection = Connection(address="0.0.0.0")
        return
    media.candidates = [dataclasses.replace(c, extensions=list(c.extensions)) for c in candidates]
    media.end_of_candidates = True  # RFC 8840 §8.2: ICE-lite gathers nothing more
    default = next((c for c in candidates if c.transport.lower() == "udp"), None)
    if default is not None:  # RFC 8839 §4.2.1.2: c=/m= carry the default candidate
        media.port = default.port
        media.connection = Connection(addr_type="IP6" if ":" in default.ip else "IP4", address=default.ip)
    else:
        media.port = 9
        media.connection = Connection(address="0.0.0.0")


def _session(origin: Origin, groups: list[Group], media: list[MediaSection]) -> SessionDescription:
    return SessionDescription(
        origin=origin,
        ice_lite=True,  # RFC 8445 §5.3: the SFU is a lite agent
        groups=groups,
        msid_semantic=MsidSemantic("WMS", ["*"]),
        media=media,
    )


def answer_publisher_offer(
    offer: SessionDescription,
    *,
    ice_ufrag: str,
    ice_pwd: str,
    fingerprint: tuple[str, str],
    candidates: list[Candidate],
    codecs: Sequence[CodecCapability] = SERVER_CODECS,
    extensions: Sequence[str] = SERVER_EXTENSIONS,
    data_channel: bool = False,
    refused: Collection[str] = (),
    red: bool = False,
) -> tuple[SessionDescription, list[NegotiatedMedia]]:
    """Answer a publisher's offer; return the answer and what each accepted m= line carries.

    m= lines whose mid is in ``refused`` (e.g. media the participant may not publish) are
    rejected with port 0 (RFC 3264 §6) and carry nothing. With ``red``, an audio line that
    offers RED over the chosen codec (:func:`red_codec`) is answered with RED first, so that
    libwebrtc sends it (it sends with the answer's first codec), then the codec itself.
    """
    remote = transport_parameters(offer)
    if remote.setup == "passive":  # RFC 8842 §5.3: the SFU is always the DTLS server
        raise NegotiationError("offer says a=setup:passive but the SFU must be the DTLS server")
    bundle = offer.bundle_group()
    answered: list[MediaSection] = []
    negotiated: list[NegotiatedMedia] = []
    for index, offered in enumerate(offer.media):
        if offered.mid is None:
            raise NegotiationError(f"m= line {index} has no a=mid (RFC 8843 §7.2.1 needs one)")
        if offered.mid in refused:
            section, media = rejected_section(offered), None
        else:
            section, media = _answer_section(offered, bundle, codecs, extensions, data_channel, red)
        _transport(
            section,
            ice_ufrag=ice_ufrag,
            ice_pwd=ice_pwd,
            fingerprint=fingerprint,
            setup="passive",
            candidates=candidates,
        )
        answered.append(section)
        if media is not None:
            negotiated.append(media)
    accepted = [m.mid for m in answered if m.port != 0 and m.mid is not None]
    if bundle is not None:  # RFC 8843 §7.3.1: keep the offerer's order; its first mid tags the transport
        accepted = [mid for mid in bundle.mids if mid in accepted]
    elif len(accepted) > 1:
        raise NegotiationError("offer has no BUNDLE group; the SFU needs max-bundle (RFC 8843)")
    groups = [Group("BUNDLE", accepted)] if accepted and bundle is not None else []
    answer = _session(new_origin(), groups, answered)
    answer.extmap_allow_mixed = offer.extmap_allow_mixed  # RFC 8285 §6
    answer.msid_semantic = MsidSemantic("WMS", [])
    return answer, negotiated


def _answer_section(
    offered: MediaSection,
    bundle: Group | None,
    caps: Sequence[CodecCapability],
    uris: Sequence[str],
    data_channel: bool,
    red: bool = False,
) -> tuple[MediaSection, NegotiatedMedia | None]:
    assert offered.mid is not None
    if offered.port == 0 or (bundle is not None and offered.mid not in bundle.mids):
        return rejected_section(offered), None
    if offered.kind == "application":
        if not data_channel or offered.proto not in ("UDP/DTLS/SCTP", "TCP/DTLS/SCTP"):
            return rejected_section(offered), None
        section = MediaSection("application", 9, offered.proto, list(offered.formats), mid=offered.mid)
        section.sctp_port, section.max_message_size = 5000, 262144  # RFC 8841 §5, §6
        return section, NegotiatedMedia(offered.mid, "application", "sendrecv")
    if offered.kind not in ("audio", "video") or offered.proto not in RTP_PROTOS or not offered.rtcp_mux:
        return rejected_section(offered), None
    chosen, rtx = choose_codecs(offered, caps)
    if not chosen:
        return rejected_section(offered), None
    # One media codec per line: every payload type the answer accepts must be forwardable.
    chosen = chosen[:1]
    rtx = {pt: r for pt, r in rtx.items() if pt == chosen[0].pt}
    wrapper = red_codec(offered, chosen[0]) if red and offered.kind == "audio" else None
    if wrapper is not None:  # RED's blocks are all of the chosen codec: still one codec forwarded
        chosen = [wrapper, *chosen]
    direction = answer_direction(offered.direction)
    section = MediaSection(offered.kind, 9, offered.proto, [], mid=offered.mid, direction=direction)
    section.codecs = codec_list(chosen, rtx)
    section.formats = [str(c.pt) for c in section.codecs]
    section.rtcp_rsize = offered.rtcp_rsize  # RFC 5506 §5: only if offered
    section.extmap_allow_mixed = offered.extmap_allow_mixed
    section.header_extensions = [
        HeaderExtension(e.id, e.uri, "recvonly" if e.direction == "sendonly" else None)
        for e in offered.header_extensions
        if e.uri in uris and e.direction in (None, "sendonly", "sendrecv")
    ]
    # Rate feedback: only the kind this connection is served (proto.cc.publisher), transport-cc
    # where the offer has its extension, else REMB over abs-send-time.
    unserved = {FB_TRANSPORT_CC, FB_REMB} - {served_feedback([e.uri for e in section.header_extensions])}
    for codec in section.codecs:
        codec.rtcp_fb = [f for f in codec.rtcp_fb if f not in unserved]
        if offered.kind == "video" and FB_TRANSPORT_CC not in unserved and not is_rtx(codec):
            # libwebrtc starts its estimate (and sizes the first frames) at 300 kbit/s and climbs
            # from there; the transport-wide feedback served here lets it start higher.
            codec.fmtp = {**codec.fmtp, "x-google-start-bitrate": str(PUBLISHER_START_KBPS)}
    section.rids, section.simulcast = answer_rids(offered, {c.pt for c in section.codecs})
    ssrcs, rtx_ssrcs = ssrc_plan(offered)
    cname = next((s.cname for s in offered.ssrcs if s.cname), None)
    media = NegotiatedMedia(
        mid=offered.mid,
        kind=offered.kind,
        direction=direction,
        codecs=tuple(chosen),
        rtx=rtx,
        extensions={e.uri: e.id for e in section.header_extensions},
        ssrcs=ssrcs,
        rtx_ssrcs=rtx_ssrcs,
        cname=cname,
        msid=media_msid(offered),
        # the offer's send rids that the answer receives (RFC 8853 §5.3), for routing
        rids=tuple(r for r in offered.rids if r.id in {a.id for a in section.rids}),
        simulcast=offered.simulcast if section.simulcast is not None else None,
        rtcp_rsize=section.rtcp_rsize,
    )
    return section, media


def red_codec(offered: MediaSection, primary: Codec) -> Codec | None:
    """The offer's ``red/48000/2`` whose fmtp names only ``primary``'s payload type (RFC 2198 §5,
    Chromium's ``a=fmtp:63 111/111``), as the answer carries it; None if there is none."""
    for codec in offered.codecs:
        if codec.name.lower() != "red" or codec.clock_rate != primary.clock_rate:
            continue
        if codec.channels not in (None, primary.channels):
            continue
        blocks = [pt for key in codec.fmtp for pt in key.split("/")] if len(codec.fmtp) == 1 else []
        if blocks and all(pt == str(primary.pt) for pt in blocks):
            return Codec(codec.pt, codec.name, codec.clock_rate, codec.channels, dict(codec.fmtp), [])
    return None


def red_payload_types(media: NegotiatedMedia) -> tuple[int, int] | None:
    """(RED payload type, its blocks' payload type) of a line that negotiated RED, else None."""
    red = next((c for c in media.codecs if c.name.lower() == "red"), None)
    if red is None:
        return None
    blocks = {pt for key in red.fmtp for pt in key.split("/")}
    primary = next((c for c in media.codecs if c is not red and {str(c.pt)} == blocks), None)
    return (red.pt, primary.pt) if primary is not None else None


def subscriber_codecs(media: NegotiatedMedia) -> tuple[Codec, ...]:
    """The codecs a subscriber is offered for a published line: RED then its blocks' codec when
    the publisher sends RED (a subscriber that answers without RED gets the primary blocks
    unwrapped, ``DownTrack.set_red_unwrap``), else the line's one codec."""
    pts = red_payload_types(media)
    if pts is None:
        return media.codecs[:1]
    by_pt = {c.pt: c for c in media.codecs}
    return (by_pt[pts[0]], by_pt[pts[1]])


# Rid names that say their resolution (the Web SDK's, and LiveKit's): quarter, half, full.
_RID_ORDER = {"q": 0, "h": 1, "f": 2}


def simulcast_layers(media: NegotiatedMedia) -> tuple[str, ...]:
    """The rids of an answered simulcast line (RFC 8853 §5.1), lowest resolution first; () for none.

    The first alternative of each stream in ``a=simulcast`` order (paused ones too: they may
    start later), or every ``a=rid`` without a simulcast line. Rids named q/h/f are put in
    that order; others by their ``max-width``/``max-height`` restrictions (RFC 8851 §5) when
    every one has them, else the offer's order, which the Web SDK and Chromium's default
    encodings give lowest first.
    """
    if media.kind != "video":
        return ()
    if media.simulcast is not None and media.simulcast.send:
        rids = [alts[0].rid for alts in media.simulcast.send if alts]
    else:
        rids = [r.id for r in media.rids if r.direction == "send"]
    known = {r.id: r for r in media.rids}
    rids = [r for r in dict.fromkeys(rids) if not media.rids or r in known]
    if all(r in _RID_ORDER for r in rids):
        return tuple(sorted(rids, key=_RID_ORDER.__getitem__))

    def area(rid: str) -> int | None:
        params = known[rid].params if rid in known else {}
        w, h = params.get("max-width"), params.get("max-height")
        return int(w) * int(h) if w and h and w.isdigit() and h.isdigit() else None

    sizes = [area(r) for r in rids]
    if all(a is not None for a in sizes):
        return tuple(r for _a, r in sorted(zip(sizes, rids, strict=True), key=lambda x: x[0] or 0))
    return tuple(rids)


def build_subscriber_offer(
    tracks: list[OutgoingTrack],
    *,
    ice_ufrag: str,
    ice_pwd: str,
    fingerprint: tuple[str, str],
    candidates: list[Candidate],
    previous: SessionDescription | None = None,
) -> SessionDescription:
    """The SFU's offer to a subscriber, keeping every m= line of ``previous`` in place."""
    by_mid = {t.mid: t for t in tracks}
    if len(by_mid) != len(tracks):
        raise ValueError("two outgoing tracks share a mid")
    old = previous.media if previous is not None else []
    old_mids = {m.mid for m in old}
    waiting = [t for t in tracks if t.mid not in old_mids]
    sections: list[MediaSection] = []
    for section in old:
        track = by_mid.get(section.mid or "")
        if track is not None and section.port != 0:
            if track.kind != section.kind:
                raise ValueError(f"mid {track.mid} was {section.kind}, cannot carry {track.kind}")
            sections.append(_track_section(track, section.proto))
            continue
        if track is not None:
            raise ValueError(f"mid {track.mid} belongs to a removed track; a new track needs a fresh mid")
        recycler = next((t for t in waiting if t.kind == section.kind), None) if section.port == 0 else None
        if recycler is not None:  # RFC 8829 §5.2.2: a rejected m= line may be recycled
            waiting.remove(recycler)
            sections.append(_track_section(recycler, section.proto))
        else:
            sections.append(removed_section(section))
    sections += [_track_section(t, RTP_PROTOS[0]) for t in waiting]
    for section in sections:
        _transport(
            section,
            ice_ufrag=ice_ufrag,
            ice_pwd=ice_pwd,
            fingerprint=fingerprint,
            setup="actpass",  # RFC 8842 §5.2: offers say actpass; the client must answer active
            candidates=candidates,
        )
    if previous is not None:  # RFC 8866 §5.2: same session id, a higher version
        origin = dataclasses.replace(previous.origin, session_version=previous.origin.session_version + 1)
    else:
        origin = new_origin()
    active = [m.mid for m in sections if m.port != 0 and m.mid is not None]
    return _session(origin, [Group("BUNDLE", active)] if active else [], sections)


def _track_section(track: OutgoingTrack, proto: str) -> MediaSection:
    if track.kind not in ("audio", "video") or not track.codecs:
        raise ValueError(f"track {track.mid} needs an audio or video kind and at least one codec")
    section = MediaSection(track.kind, 9, proto, [], mid=track.mid, direction="sendonly")
    rtx = {track.codecs[0].pt: track.rtx_pt} if track.rtx_pt is not None else {}
    # Rate feedback from a subscriber is transport-wide CC only (the send-side estimate of the
    # connection, hubbub.transport.congestion); REMB is not offered.
    # Every packet on the connection carries a transport-wide sequence number, audio too.
    section.codecs = [
        c
        if is_rtx(c)
        else dataclasses.replace(c, rtcp_fb=[*(f for f in c.rtcp_fb if f not in _RATE_FB), FB_TRANSPORT_CC])
        for c in codec_list(track.codecs, rtx)
    ]
    section.formats = [str(c.pt) for c in section.codecs]
    section.rtcp_rsize = True
    extensions = {URI_TRANSPORT_CC: SUBSCRIBER_TRANSPORT_CC_ID, **track.extensions}
    section.header_extensions = [HeaderExtension(ident, uri) for uri, ident in extensions.items()]
    section.msids = [Msid(track.stream_id, track.track_id)]  # RFC 8830 §2
    msid = f"{track.stream_id} {track.track_id}"
    section.ssrcs = [Ssrc(track.ssrc, {"cname": track.cname, "msid": msid})]  # RFC 5576 §4.1
    if track.rtx_ssrc is not None and track.rtx_pt is not None:
        section.ssrc_groups = [SsrcGroup("FID", [track.ssrc, track.rtx_ssrc])]  # RFC 4588 §8.2
        section.ssrcs.append(Ssrc(track.rtx_ssrc, {"cname": track.cname, "msid": msid}))
    return section


def parse_subscriber_answer(answer: SessionDescription, offer: SessionDescription) -> dict[str, NegotiatedMedia]:
    """Check a subscriber's answer against the SFU's offer (RFC 3264 §6, RFC 8829 §5.3)."""
    if len(answer.media) != len(offer.media):
        raise NegotiationError(f"answer has {len(answer.media)} m= lines, the offer had {len(offer.media)}")
    result: dict[str, NegotiatedMedia] = {}
    for index, (ans, off) in enumerate(zip(answer.media, offer.media, strict=True)):
        if ans.kind != off.kind or ans.mid != off.mid or off.mid is None:
            raise NegotiationError(f"m= line {index} is {ans.kind}/{ans.mid}, offered {off.kind}/{off.mid}")
        if off.port == 0 or ans.port == 0 or ans.direction == "inactive":
            result[off.mid] = NegotiatedMedia(off.mid, off.kind, "inactive")
            continue
        if ans.direction != "recvonly":  # RFC 3264 §6.1: a sendonly offer allows recvonly or inactive
            raise NegotiationError(f"m= line {index}: answer direction {ans.direction or 'sendrecv'}")
        setup = ans.setup or answer.setup
        if setup != "active":  # RFC 8842 §5.3: the SFU offered actpass and is the DTLS server
            raise NegotiationError(f"m= line {index}: answer must say a=setup:active, got {setup}")
        if not ans.rtcp_mux:
            raise NegotiationError(f"m= line {index}: answer refused rtcp-mux (RFC 5761 §5.1.3)")
        result[off.mid] = _accepted(index, ans, off)
    return result


def _accepted(index: int, ans: MediaSection, off: MediaSection) -> NegotiatedMedia:
    assert off.mid is not None
    chosen: list[Codec] = []
    rtx: dict[int, int] = {}
    for codec in ans.codecs:
        mine = off.codec(codec.pt)
        if mine is None or mine.name.lower() != codec.name.lower() or mine.clock_rate != codec.clock_rate:
            raise NegotiationError(f"m= line {index}: answer has codec {codec.pt} {codec.name} not offered")
        if is_rtx(codec):
            rtx[int(mine.fmtp.get("apt", "-1"))] = codec.pt
        else:
            chosen.append(mine)
    if not chosen:
        raise NegotiationError(f"m= line {index}: answer accepts no codec")
    offered_ext = {(e.id, e.uri) for e in off.header_extensions}
    for ext in ans.header_extensions:
        if (ext.id, ext.uri) not in offered_ext:
            raise NegotiationError(f"m= line {index}: answer has extmap {ext.id} {ext.uri} not offered")
    ssrcs, rtx_ssrcs = ssrc_plan(off)
    return NegotiatedMedia(
        mid=off.mid,
        kind=off.kind,
        direction="sendonly",
        codecs=tuple(chosen),
        rtx={pt: r for pt, r in rtx.items() if any(c.pt == pt for c in chosen)},
        extensions={e.uri: e.id for e in ans.header_extensions},
        ssrcs=ssrcs,
        rtx_ssrcs=rtx_ssrcs,
        cname=next((s.cname for s in off.ssrcs if s.cname), None),
        msid=media_msid(off),
        rtcp_rsize=ans.rtcp_rsize and off.rtcp_rsize,
    )


def subscriber_transport_cc(negotiated: Iterable[NegotiatedMedia]) -> int | None:
    """The transport-wide CC extension ID a subscriber's answer accepted, None if it accepted none
    (aiortc: the connection then runs without a send-side estimate). One ID for the connection:
    the offer uses :data:`SUBSCRIBER_TRANSPORT_CC_ID` on every m-line of the bundle."""
    for media in negotiated:
        ext_id = media.extensions.get(URI_TRANSPORT_CC)
        if ext_id is not None and any(FB_TRANSPORT_CC in c.rtcp_fb for c in media.codecs):
            return ext_id
    return None
