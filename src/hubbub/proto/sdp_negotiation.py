"""Offer/answer mechanics (RFC 3264, RFC 8829): codec matching, answer rules, the parts of
a remote description a peer connection needs.

Pure helpers from which a media server builds its own answers and offers: which codecs of an
offer match a capability (RFC 6184, RFC 7587, VP9 payload rules), an answered m= line's
direction (RFC 3264 §6.1), a rejected or removed line (RFC 3264 §6, RFC 8829 §5.2.2), answered
rids and simulcast (RFC 8851, RFC 8853), the SSRC plan of an m= line (RFC 5576) and the
remote ICE/DTLS parameters (RFC 8839, RFC 8122). What a server accepts and offers is its
policy and lives with it (``hubbub.sfu.negotiation``).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hubbub.proto.sdp import (
    Candidate,
    Codec,
    Fingerprint,
    MediaSection,
    Msid,
    Origin,
    Rid,
    SessionDescription,
    Simulcast,
)

__all__ = [
    "RTP_PROTOS",
    "CodecCapability",
    "NegotiatedMedia",
    "NegotiationError",
    "TransportParameters",
    "answer_codec",
    "answer_direction",
    "answer_rids",
    "choose_codecs",
    "codec_list",
    "codec_matches",
    "h264_profile",
    "is_rtx",
    "media_msid",
    "new_origin",
    "rejected_section",
    "removed_section",
    "ssrc_plan",
    "transport_parameters",
]

RTP_PROTOS = ("UDP/TLS/RTP/SAVPF", "TCP/DTLS/RTP/SAVPF")  # RFC 5764 §8, RFC 7850


class NegotiationError(ValueError):
    """The remote description cannot be answered or accepted; the message says why."""


@dataclass(frozen=True, slots=True)
class CodecCapability:
    """A codec the SFU can forward.

    ``fmtp`` must match the offer where the codec's rules say so (see ``codec_matches``) and is what
    the answer carries; ``echo_fmtp`` names parameters copied from the offer when present.
    """

    kind: str
    name: str
    clock_rate: int
    channels: int | None = None
    fmtp: tuple[tuple[str, str], ...] = ()
    echo_fmtp: tuple[str, ...] = ()
    rtcp_fb: tuple[str, ...] = ()

    def param(self, key: str) -> str | None:
        return dict(self.fmtp).get(key)


@dataclass(frozen=True, slots=True)
class NegotiatedMedia:
    """What one m= line settled on, from the SFU's side."""

    mid: str
    kind: str
    direction: str  # the SFU's direction: recvonly (publisher), sendonly (subscriber) or inactive
    codecs: tuple[Codec, ...] = ()  # media codecs in preference order, RTX excluded
    rtx: Mapping[int, int] = field(default_factory=dict)  # media PT -> RTX PT
    extensions: Mapping[str, int] = field(default_factory=dict)  # URI -> extmap id
    ssrcs: tuple[int, ...] = ()  # media SSRCs in order (SIM order when present)
    rtx_ssrcs: Mapping[int, int] = field(default_factory=dict)  # media SSRC -> RTX SSRC (FID)
    cname: str | None = None
    msid: Msid | None = None
    rids: tuple[Rid, ...] = ()
    simulcast: Simulcast | None = None
    rtcp_rsize: bool = False


@dataclass(frozen=True, slots=True)
class TransportParameters:
    """The remote peer's ICE credentials and DTLS identity for the bundled transport."""

    ice_ufrag: str
    ice_pwd: str
    fingerprints: tuple[Fingerprint, ...]
    setup: str | None
    candidates: tuple[Candidate, ...]


# RFC 6184 §8.1 profile-level-id: profile_idc, profile-iop, level_idc. Patterns follow
# RFC 6184 Table 5 for the profiles WebRTC uses ("x" = any bit).
_H264_PROFILES: tuple[tuple[int, str, str], ...] = (
    (0x42, "x1xx0000", "constrained-baseline"),
    (0x4D, "1xxx0000", "constrained-baseline"),
    (0x58, "11xx0000", "constrained-baseline"),
    (0x42, "x0xx0000", "baseline"),
    (0x58, "10xx0000", "baseline"),
    (0x4D, "0x0x0000", "main"),
    (0x64, "00000000", "high"),
    (0x64, "00001100", "constrained-high"),
    (0xF4, "00000000", "high-444"),
)


def h264_profile(profile_level_id: str) -> str | None:
    """The H.264 profile named by a profile-level-id (RFC 6184 §8.1), ignoring the level."""
    if len(profile_level_id) != 6:
        return None
    try:
        idc, iop = int(profile_level_id[0:2], 16), int(profile_level_id[2:4], 16)
    except ValueError:
        return None
    for want_idc, pattern, name in _H264_PROFILES:
        bits = f"{iop:08b}"
        if idc == want_idc and all(p in ("x", b) for p, b in zip(pattern, bits, strict=True)):
            return name
    return None


def codec_matches(cap: CodecCapability, codec: Codec) -> bool:
    if cap.name.lower() != codec.name.lower() or cap.clock_rate != codec.clock_rate:
        return False
    if cap.channels is not None and (codec.channels or 1) != cap.channels:
        return False
    name = cap.name.lower()
    if name == "vp9":  # draft-ietf-payload-vp9 §6: profile-id defaults to 0
        return codec.fmtp.get("profile-id", "0") == (cap.param("profile-id") or "0")
    if name == "h264":
        mode = codec.fmtp.get("packetization-mode", "0")  # RFC 6184 §8.1 default
        offered = h264_profile(codec.fmtp.get("profile-level-id", "42001f"))  # §8.1 default
        wanted = h264_profile(cap.param("profile-level-id") or "42001f")
        return mode == (cap.param("packetization-mode") or "0") and offered == wanted
    return True


def answer_codec(cap: CodecCapability, offered: Codec, feedback: list[str]) -> Codec:
    fmtp = dict(cap.fmtp)
    for key in cap.echo_fmtp:
        if key in offered.fmtp:
            fmtp[key] = offered.fmtp[key]
    fb = [f for f in cap.rtcp_fb if f in feedback]
    return Codec(offered.pt, offered.name, offered.clock_rate, offered.channels, fmtp, fb)


def is_rtx(codec: Codec) -> bool:
    return codec.name.lower() == "rtx"


def choose_codecs(media: MediaSection, caps: Sequence[CodecCapability]) -> tuple[list[Codec], dict[int, int]]:
    """Common codecs in the SFU's preference order, each followed by its RTX (RFC 4588 §8.6)."""
    chosen: list[Codec] = []
    for cap in caps:
        if cap.kind != media.kind:
            continue
        for offered in media.codecs:
            if codec_matches(cap, offered) and all(c.pt != offered.pt for c in chosen):
                chosen.append(answer_codec(cap, offered, media.rtcp_feedback(offered)))
    rtx: dict[int, int] = {}
    for offered in media.codecs:
        apt = offered.fmtp.get("apt", "")
        base = next((c for c in chosen if str(c.pt) == apt), None)
        if is_rtx(offered) and base is not None and offered.clock_rate == base.clock_rate:
            rtx.setdefault(base.pt, offered.pt)
    return chosen, rtx


def codec_list(chosen: Sequence[Codec], rtx: Mapping[int, int]) -> list[Codec]:
    codecs: list[Codec] = []
    for codec in chosen:
        codecs.append(dataclasses.replace(codec, fmtp=dict(codec.fmtp), rtcp_fb=list(codec.rtcp_fb)))
        if codec.pt in rtx:
            codecs.append(Codec(rtx[codec.pt], "rtx", codec.clock_rate, None, {"apt": str(codec.pt)}))
    return codecs


def answer_direction(direction: str | None) -> str:
    """RFC 3264 §6.1: the answer's direction for a one-way forwarder that never echoes back."""
    return {"sendonly": "recvonly", "sendrecv": "recvonly", None: "recvonly"}.get(direction, "inactive")


def ssrc_plan(media: MediaSection) -> tuple[tuple[int, ...], dict[int, int]]:
    """Media SSRCs (SIM order if grouped) and their RTX SSRCs from FID groups (RFC 5576 §4.2)."""
    rtx = {g.ssrcs[0]: g.ssrcs[1] for g in media.ssrc_groups if g.semantics == "FID" and len(g.ssrcs) == 2}
    repair = set(rtx.values())
    sim = next((g.ssrcs for g in media.ssrc_groups if g.semantics == "SIM"), None)
    ordered = sim if sim is not None else [s.ssrc for s in media.ssrcs]
    return tuple(s for s in ordered if s not in repair), rtx


def media_msid(media: MediaSection) -> Msid | None:
    if media.msids:
        return media.msids[0]
    for ssrc in media.ssrcs:  # pre-RFC 8830 form: a=ssrc:<id> msid:<stream> <track>
        if ssrc.msid:
            stream, _, track = ssrc.msid.partition(" ")
            return Msid(stream, track or None)
    return None


def new_origin() -> Origin:
    # RFC 8866 §5.2: a numeric session id, RFC 8829 §5.2.1 suggests 62 random bits.
    return Origin(session_id=secrets.randbits(62), session_version=1)


def transport_parameters(desc: SessionDescription) -> TransportParameters:
    """The remote ICE/DTLS parameters of the bundled transport (first accepted m= line)."""
    bundle = desc.bundle_group()
    tagged = next(
        (m for m in desc.media if m.port != 0 and (bundle is None or m.mid in bundle.mids)),
        desc.media[0] if desc.media else None,
    )
    if tagged is None:
        raise NegotiationError("the description has no media section")
    ufrag = tagged.ice_ufrag or desc.ice_ufrag
    pwd = tagged.ice_pwd or desc.ice_pwd
    if not ufrag or not pwd:
        raise NegotiationError("ICE ufrag/pwd missing (RFC 8839 §5.4)")
    fingerprints = tuple(tagged.fingerprints or desc.fingerprints)
    if not fingerprints:
        raise NegotiationError("DTLS fingerprint missing (RFC 8122 §5)")
    return TransportParameters(ufrag, pwd, fingerprints, tagged.setup or desc.setup, tuple(tagged.candidates))


def rejected_section(offered: MediaSection) -> MediaSection:
    """RFC 3264 §6 / RFC 8829 §5.3.1: a rejected line keeps kind, proto and formats, port 0."""
    section = MediaSection(offered.kind, 0, offered.proto, list(offered.formats), mid=offered.mid)
    section.direction = "inactive" if "RTP/" in offered.proto else None
    section.codecs = [dataclasses.replace(c, fmtp=dict(c.fmtp), rtcp_fb=[]) for c in offered.codecs[:1]]
    if section.codecs:
        section.formats = [str(section.codecs[0].pt)]
    return section


def answer_rids(offered: MediaSection, accepted: set[int]) -> tuple[list[Rid], Simulcast | None]:
    """RFC 8851 §7 / RFC 8853 §5.3: reverse each send rid, drop PTs not accepted, and drop
    rids left with none; the simulcast line lists the rids that remain."""
    rids: list[Rid] = []
    for rid in offered.rids:
        formats = [pt for pt in rid.formats if pt in accepted]
        if rid.direction == "send" and (formats or not rid.formats):
            rids.append(Rid(rid.id, "recv", formats, dict(rid.params)))
    if offered.simulcast is None or not offered.simulcast.send:
        return rids, None
    kept = {r.id for r in rids} if offered.rids else None
    streams = [[s for s in alts if kept is None or s.rid in kept] for alts in offered.simulcast.send]
    streams = [alts for alts in streams if alts]
    return rids, Simulcast(recv=streams) if streams else None


def removed_section(previous: MediaSection) -> MediaSection:
    """RFC 8829 §5.2.2: a stopped transceiver's line stays, rejected, with its mid and codecs."""
    section = MediaSection(previous.kind, 0, previous.proto, list(previous.formats), mid=previous.mid)
    section.direction = "inactive"
    section.codecs = [dataclasses.replace(c, fmtp=dict(c.fmtp), rtcp_fb=list(c.rtcp_fb)) for c in previous.codecs]
    return section
