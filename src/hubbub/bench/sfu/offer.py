"""The SDP of the simulated peers: publisher offers, answers to a server's offers, its transport."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from hubbub.bench.sfu.peer import Address, SimPeer, StreamSpec
from hubbub.proto import sdp

__all__ = [
    "AUDIO_LEVEL_ID",
    "AUDIO_LEVEL_URI",
    "AUDIO_PT",
    "VIDEO_PT",
    "RemoteTransport",
    "answer_offer",
    "publisher_offer",
    "remote_transport",
]

AUDIO_PT, VIDEO_PT = 111, 96
AUDIO_LEVEL_ID = 1
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
PROTO = "UDP/TLS/RTP/SAVPF"


def _transport(media: sdp.MediaSection, peer: SimPeer, fingerprint: tuple[str, str], setup: str) -> None:
    media.ice_ufrag, media.ice_pwd = peer.ice_ufrag, peer.ice_pwd
    media.fingerprints = [sdp.Fingerprint(*fingerprint)]
    media.setup = setup
    media.rtcp_mux = True
    media.port = peer.port
    media.connection = sdp.Connection(address="127.0.0.1")
    media.candidates = [peer.candidate()]
    media.end_of_candidates = True


def _session(media: list[sdp.MediaSection]) -> sdp.SessionDescription:
    mids = [m.mid for m in media if m.port != 0 and m.mid is not None]
    return sdp.SessionDescription(
        origin=sdp.Origin(session_id=secrets.randbits(62), session_version=1),
        groups=[sdp.Group("BUNDLE", mids)] if mids else [],
        msid_semantic=sdp.MsidSemantic("WMS", ["*"]),
        media=media,
    )


def publisher_offer(
    peer: SimPeer, streams: Sequence[StreamSpec], fingerprint: tuple[str, str], label: str, setup: str = "actpass"
) -> str:
    """A sendonly offer, one m-line per stream, with ``a=ssrc`` and ``a=msid <label> <cid>``."""
    sections = []
    for index, stream in enumerate(streams):
        if stream.kind == "audio":
            codec = sdp.Codec(AUDIO_PT, "opus", 48000, 2, {"minptime": "10", "useinbandfec": "1"})
            exts = [sdp.HeaderExtension(AUDIO_LEVEL_ID, AUDIO_LEVEL_URI)]
        else:
            codec = sdp.Codec(VIDEO_PT, "VP8", 90000, None, {}, ["goog-remb", "ccm fir", "nack", "nack pli"])
            exts = []
        media = sdp.MediaSection(stream.kind, 9, PROTO, [str(codec.pt)], mid=str(index), direction="sendonly")
        media.codecs = [codec]
        media.header_extensions = exts
        media.rtcp_rsize = True
        media.msids = [sdp.Msid(label, stream.cid)]
        media.ssrcs = [sdp.Ssrc(stream.ssrc, {"cname": label, "msid": f"{label} {stream.cid}"})]
        _transport(media, peer, fingerprint, setup)
        sections.append(media)
    return sdp.serialize(_session(sections))


def answer_offer(text: str, peer: SimPeer, fingerprint: tuple[str, str], setup: str = "active") -> str:
    """Answer a server's offer: every sendonly m-line recvonly with all its codecs, others rejected."""
    offer = sdp.parse(text)
    sections = []
    for off in offer.media:
        usable = off.port != 0 and off.kind in ("audio", "video") and off.direction in ("sendonly", "sendrecv")
        media = sdp.MediaSection(off.kind, 9, off.proto, list(off.formats), mid=off.mid)
        media.codecs = [
            sdp.Codec(c.pt, c.name, c.clock_rate, c.channels, dict(c.fmtp), list(c.rtcp_fb)) for c in off.codecs
        ]
        if not usable:
            media.port = 0
            media.direction = "inactive"
            media.rtcp_mux = off.rtcp_mux
            if off.kind == "application":
                media.codecs = []
                media.sctp_port = off.sctp_port
            sections.append(media)
            continue
        media.direction = "recvonly"
        media.header_extensions = [sdp.HeaderExtension(e.id, e.uri) for e in off.header_extensions]
        media.rtcp_rsize = off.rtcp_rsize
        _transport(media, peer, fingerprint, setup)
        sections.append(media)
    return sdp.serialize(_session(sections))


@dataclass(frozen=True, slots=True)
class RemoteTransport:
    address: Address
    ufrag: str
    pwd: str
    fingerprints: tuple[tuple[str, str], ...]
    setup: str
    ice_lite: bool


def remote_transport(text: str) -> RemoteTransport:
    """ICE/DTLS parameters and the first IPv4 UDP candidate of a server's offer or answer."""
    desc = sdp.parse(text)
    tagged = next((m for m in desc.media if m.port != 0), None)
    if tagged is None:
        raise ValueError("the description accepts no media")
    ufrag = tagged.ice_ufrag or desc.ice_ufrag
    pwd = tagged.ice_pwd or desc.ice_pwd
    fingerprints = tuple((f.algorithm, f.value) for f in (tagged.fingerprints or desc.fingerprints))
    candidates = [c for m in desc.media for c in m.candidates if c.transport.lower() == "udp" and ":" not in c.ip]
    if not ufrag or not pwd or not fingerprints:
        raise ValueError("the description lacks ICE credentials or a fingerprint")
    if not candidates:
        raise ValueError("the description offers no IPv4 UDP candidate")
    best = max(candidates, key=lambda c: (c.ip.startswith("127."), c.priority))
    return RemoteTransport(
        (best.ip, best.port), ufrag, pwd, fingerprints, tagged.setup or desc.setup or "actpass", desc.ice_lite
    )
