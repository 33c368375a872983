"""The SDP serializer: CRLF line endings (RFC 8866 §5), lines in the order Chromium writes them."""

from __future__ import annotations

from hubbub.proto.sdp.attributes import extmap_lines, rid_lines, simulcast_lines, ssrc_lines
from hubbub.proto.sdp.codecs import codec_lines
from hubbub.proto.sdp.model import MediaSection, SessionDescription

__all__ = ["serialize"]


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
    lines += extmap_lines(m)
    if m.extmap_allow_mixed:
        lines.append("a=extmap-allow-mixed")
    if m.direction is not None:
        lines.append(f"a={m.direction}")
    lines += [f"a=msid:{s.stream_id}" + (f" {s.track_id}" if s.track_id is not None else "") for s in m.msids]
    if m.rtcp_mux:
        lines.append("a=rtcp-mux")
    if m.rtcp_rsize:
        lines.append("a=rtcp-rsize")
    lines += codec_lines(m)
    lines += ssrc_lines(m)
    lines += rid_lines(m)
    lines += simulcast_lines(m)
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
