"""SDP (RFC 8866) for WebRTC: a typed model, a strict parser and a serializer.

Theory of operation: ``parse`` walks the text line by line. Session-level lines fill a
``SessionDescription`` until the first ``m=`` line; each ``m=`` line opens a ``MediaSection``
that collects the lines up to the next one. Attributes the SFU needs are typed fields; any
other attribute is kept, in order, in ``attributes`` so that ``serialize`` writes it back.
Every error raised while reading untrusted text is an ``SdpParseError`` naming the line.

``serialize`` always writes CRLF line endings (RFC 8866 §5) in the order Chromium uses.
``parse(serialize(d)) == d`` holds for any description that ``parse`` produced.

This package's public face is the names below. Inside it: :mod:`.model` (the dataclasses),
:mod:`.fields` (the shared field grammar), :mod:`.codecs` (rtpmap, fmtp, rtcp-fb),
:mod:`.attributes` (candidate, extmap, ssrc, ssrc-group, rid, simulcast), :mod:`.parser` and
:mod:`.serializer`.
"""

from __future__ import annotations

from hubbub.proto.sdp.model import (
    DIRECTIONS,
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
)
from hubbub.proto.sdp.parser import parse, parse_candidate
from hubbub.proto.sdp.serializer import serialize

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
