"""Payload formats: ``a=rtpmap``, ``a=fmtp`` and ``a=rtcp-fb`` read into ``Codec`` and written back.

RFC 8866 §6.6 (rtpmap), §6.15 (fmtp), RFC 4585 §4.2 (rtcp-fb), RFC 3551 §6 (static payload types).
"""

from __future__ import annotations

from hubbub.proto.sdp.fields import InvalidField, read_int, read_params, split_fields
from hubbub.proto.sdp.model import MAX_U32, Codec, MediaSection

__all__ = ["add_static_codecs", "codec_lines", "fmtp_text", "read_codec_attribute", "read_fmtp", "read_rtpmap"]


def read_fmtp(text: str) -> dict[str, str]:
    """RFC 8866 §6.15 format parameters; a bare token (``0-15``) keeps an empty value."""
    return {k: (v or "") for k, v in read_params(text).items()}


def fmtp_text(fmtp: dict[str, str]) -> str:
    return ";".join(f"{k}={v}" if v else k for k, v in fmtp.items())


def read_rtpmap(media: MediaSection, value: str) -> None:
    # RFC 8866 §6.6: a=rtpmap:<payload type> <encoding name>/<clock rate>[/<parameters>]
    t = split_fields(value, "a=rtpmap", 2)
    if len(t) != 2:
        raise InvalidField("a=rtpmap needs '<pt> <name>/<clock>[/<channels>]'")
    pt = read_int(t[0], "rtpmap payload type", 0, 127)
    if "RTP/" not in media.proto or str(pt) not in media.formats:
        raise InvalidField(f"a=rtpmap for payload type {pt} that the m= line does not list")
    if media.codec(pt) is not None:
        raise InvalidField(f"duplicate a=rtpmap for payload type {pt}")
    bits = t[1].split("/")
    if len(bits) not in (2, 3) or not bits[0]:
        raise InvalidField(f"malformed rtpmap encoding {t[1]!r}")
    channels = read_int(bits[2], "channel count", 1, 255) if len(bits) == 3 else None
    media.codecs.append(Codec(pt, bits[0], read_int(bits[1], "clock rate", 1, MAX_U32), channels))


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


def add_static_codecs(media: MediaSection) -> None:
    for fmt in media.formats:
        pt = int(fmt)
        if pt in _STATIC_PT and media.codec(pt) is None:
            name, clock, channels = _STATIC_PT[pt]
            media.codecs.append(Codec(pt, name, clock, channels))


def read_codec_attribute(media: MediaSection, name: str, value: str) -> bool:
    """Apply a=fmtp / a=rtcp-fb; False when it names no known codec (kept verbatim)."""
    target, _, rest = value.partition(" ")
    if name == "rtcp-fb" and target == "*":
        media.rtcp_fb_all.append(_feedback_type(rest))
        return True
    if not (target.isascii() and target.isdigit()):
        raise InvalidField(f"a={name} needs a payload type, got {target!r}")
    codec = media.codec(read_int(target, f"{name} payload type", 0, 127))
    if codec is None:
        return False
    if name == "fmtp":
        codec.fmtp.update(read_fmtp(rest))
    else:
        codec.rtcp_fb.append(_feedback_type(rest))
    return True


def _feedback_type(rest: str) -> str:
    fb = " ".join(rest.split())
    if not fb:
        raise InvalidField("a=rtcp-fb needs a feedback type (RFC 4585 §4.2)")
    return fb


def codec_lines(media: MediaSection) -> list[str]:
    lines = [f"a=rtcp-fb:* {fb}" for fb in media.rtcp_fb_all]
    for c in media.codecs:
        channels = f"/{c.channels}" if c.channels is not None else ""
        lines.append(f"a=rtpmap:{c.pt} {c.name}/{c.clock_rate}{channels}")
        lines += [f"a=rtcp-fb:{c.pt} {fb}" for fb in c.rtcp_fb]
        if c.fmtp:
            lines.append(f"a=fmtp:{c.pt} {fmtp_text(c.fmtp)}")
    return lines
