"""The attributes that name RTP streams and their extensions, read and written back.

``a=candidate`` (RFC 8839 §5.1), ``a=extmap`` (RFC 8285 §8), ``a=ssrc`` and ``a=ssrc-group``
(RFC 5576 §4), ``a=rid`` (RFC 8851 §10) and ``a=simulcast`` (RFC 8853 §5.1).
"""

from __future__ import annotations

from hubbub.proto.sdp.fields import InvalidField, params_text, read_int, read_params, split_fields
from hubbub.proto.sdp.model import (
    DIRECTIONS,
    Candidate,
    HeaderExtension,
    MediaSection,
    Rid,
    Simulcast,
    SimulcastStream,
    Ssrc,
    SsrcGroup,
)

__all__ = [
    "extmap_lines",
    "read_candidate",
    "read_extmap",
    "read_rid",
    "read_simulcast",
    "read_ssrc",
    "read_ssrc_group",
    "rid_lines",
    "simulcast_lines",
    "ssrc_lines",
]


def read_candidate(value: str) -> Candidate:
    if not value.startswith("candidate:"):
        raise InvalidField("a candidate must start with 'candidate:'")
    tokens = split_fields(value[len("candidate:") :], "candidate", 8)
    if tokens[6] != "typ":
        raise InvalidField(f"expected 'typ' as the seventh candidate field, got {tokens[6]!r}")
    cand = Candidate(
        foundation=tokens[0],
        component=read_int(tokens[1], "candidate component", 1, 256),
        transport=tokens[2],
        priority=read_int(tokens[3], "candidate priority"),
        ip=tokens[4],
        port=read_int(tokens[5], "candidate port", 0, 65535),
        type=tokens[7],
    )
    rest = tokens[8:]
    if len(rest) % 2:
        raise InvalidField(f"candidate extension {rest[-1]!r} has no value")
    for name, text in zip(rest[::2], rest[1::2], strict=True):
        if name == "raddr":
            cand.related_address = text
        elif name == "rport":
            cand.related_port = read_int(text, "candidate rport", 0, 65535)
        elif name == "tcptype":
            cand.tcptype = text
        elif name == "generation":
            cand.generation = read_int(text, "candidate generation")
        elif name == "ufrag":
            cand.ufrag = text
        elif name == "network-id":
            cand.network_id = read_int(text, "candidate network-id")
        else:
            cand.extensions.append((name, text))
    return cand


def read_extmap(media: MediaSection, value: str) -> None:
    # RFC 8285 §8: a=extmap:<value>["/"<direction>] <URI> <extensionattributes>
    t = split_fields(value, "a=extmap", 2)
    ident, slash, direction = t[0].partition("/")
    if slash and direction not in DIRECTIONS:
        raise InvalidField(f"extmap direction must be one of {', '.join(DIRECTIONS)}")
    ext = HeaderExtension(read_int(ident, "extmap id", 1, 4351), t[1], direction if slash else None, t[2:])
    media.header_extensions.append(ext)


def read_ssrc(media: MediaSection, value: str) -> None:
    # RFC 5576 §4.1: a=ssrc:<ssrc-id> <attribute>[:<value>]
    ident, _, rest = value.partition(" ")
    ssrc = read_int(ident, "ssrc")
    name, colon, text = rest.strip().partition(":")
    if not name or " " in name:
        raise InvalidField("a=ssrc needs '<ssrc> <attribute>[:<value>]' (RFC 5576 §4.1)")
    entry = next((s for s in media.ssrcs if s.ssrc == ssrc), None)
    if entry is None:
        entry = Ssrc(ssrc)
        media.ssrcs.append(entry)
    entry.attributes[name] = text if colon else None


def read_ssrc_group(media: MediaSection, value: str) -> None:
    # RFC 5576 §4.2: a=ssrc-group:<semantics> *(SP ssrc-id)
    t = split_fields(value, "a=ssrc-group", 1)
    media.ssrc_groups.append(SsrcGroup(t[0], [read_int(s, "ssrc") for s in t[1:]]))


def read_rid(value: str) -> Rid:
    tokens = value.split(None, 2)
    if len(tokens) < 2:
        raise InvalidField("a=rid needs an id and a direction (RFC 8851 §10)")
    if tokens[1] not in ("send", "recv"):
        raise InvalidField(f"rid direction must be send or recv, got {tokens[1]!r}")
    rid = Rid(id=tokens[0], direction=tokens[1])
    if len(tokens) == 3:
        params = read_params(tokens[2])
        if "pt" in params:
            pts = params.pop("pt") or ""
            rid.formats = [read_int(p.strip(), "rid payload type", 0, 127) for p in pts.split(",")]
        rid.params = params
    return rid


def read_simulcast(value: str) -> Simulcast:
    tokens = value.split()
    if not tokens or len(tokens) % 2:
        raise InvalidField("a=simulcast needs 'send' or 'recv' followed by a stream list (RFC 8853 §5.1)")
    sim = Simulcast()
    for direction, streams in zip(tokens[::2], tokens[1::2], strict=True):
        if direction not in ("send", "recv"):
            raise InvalidField(f"simulcast direction must be send or recv, got {direction!r}")
        parsed: list[list[SimulcastStream]] = []
        for alternatives in streams.split(";"):
            alts = []
            for rid in alternatives.split(","):
                rid = rid.removeprefix("rid=")
                paused = rid.startswith("~")
                rid = rid.removeprefix("~")
                if not rid:
                    raise InvalidField(f"empty rid in simulcast stream list {streams!r}")
                alts.append(SimulcastStream(rid, paused))
            parsed.append(alts)
        (sim.send if direction == "send" else sim.recv).extend(parsed)
    return sim


def extmap_lines(media: MediaSection) -> list[str]:
    lines = []
    for e in media.header_extensions:
        ident = f"{e.id}/{e.direction}" if e.direction else str(e.id)
        lines.append(" ".join([f"a=extmap:{ident}", e.uri, *e.attributes]))
    return lines


def ssrc_lines(media: MediaSection) -> list[str]:
    lines = [f"a=ssrc-group:{' '.join([g.semantics, *map(str, g.ssrcs)])}" for g in media.ssrc_groups]
    for s in media.ssrcs:
        lines += [f"a=ssrc:{s.ssrc} {k}" + (f":{v}" if v is not None else "") for k, v in s.attributes.items()]
    return lines


def rid_lines(media: MediaSection) -> list[str]:
    lines = []
    for r in media.rids:
        params = dict(r.params)
        text = params_text(params)
        if r.formats:
            pts = "pt=" + ",".join(map(str, r.formats))
            text = f"{pts};{text}" if text else pts
        lines.append(f"a=rid:{r.id} {r.direction}" + (f" {text}" if text else ""))
    return lines


def streams_text(streams: list[list[SimulcastStream]]) -> str:
    return ";".join(",".join(("~" if s.paused else "") + s.rid for s in alts) for alts in streams)


def simulcast_lines(media: MediaSection) -> list[str]:
    sim = media.simulcast
    if sim is None:
        return []
    parts = [f"{d} {streams_text(s)}" for d, s in (("send", sim.send), ("recv", sim.recv)) if s]
    return [f"a=simulcast:{' '.join(parts)}"]
