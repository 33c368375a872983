"""RTP header extensions (RFC 8285) and the extension values the SFU reads or rewrites.

Two layers:

* Block codecs for tests and slow paths: :func:`parse_extensions` / :func:`build_extensions`
  turn a one-byte (profile ``0xBEDE``, RFC 8285 §4.2) or two-byte (profile ``0x100X``, §4.3)
  extension block into ``{id: value}`` and back.
* Hot-path helpers that work on the packet buffer itself, with ``offset`` pointing at the 4-byte
  extension header (profile + length) that follows the fixed header and CSRCs: :func:`find_ext`,
  :func:`find_ext_offset`, :func:`set_transport_seq`, :func:`set_abs_send_time`,
  :func:`remap_ext_ids`. They never reallocate the packet.

This module is self-contained (it does not import :mod:`hubbub.proto.rtp`) so that the RTP module
can use it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping

__all__ = [
    "ONE_BYTE_PROFILE",
    "TWO_BYTE_PROFILE",
    "URI_ABS_SEND_TIME",
    "URI_AUDIO_LEVEL",
    "URI_MID",
    "URI_REPAIRED_RID",
    "URI_RID",
    "URI_TRANSPORT_CC",
    "RtpExtensionError",
    "abs_send_time_from_seconds",
    "abs_send_time_to_seconds",
    "build_abs_send_time",
    "build_audio_level",
    "build_extension_block",
    "build_extensions",
    "build_sdes_id",
    "build_transport_seq",
    "extension_offset",
    "find_ext",
    "find_ext_offset",
    "make_id_map",
    "parse_abs_send_time",
    "parse_audio_level",
    "parse_extension_block",
    "parse_extensions",
    "parse_sdes_id",
    "parse_transport_seq",
    "remap_ext_ids",
    "set_abs_send_time",
    "set_ext_value",
    "set_transport_seq",
    "stamp_transport_seq",
]

ONE_BYTE_PROFILE = 0xBEDE  # RFC 8285 §4.2
TWO_BYTE_PROFILE = 0x1000  # RFC 8285 §4.3: 0x100 + 4 "appbits"

URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
URI_TRANSPORT_CC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
URI_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"

_U16 = struct.Struct("!H")
_HH = struct.Struct("!HH")


class RtpExtensionError(ValueError):
    """A header extension block or value is malformed (the remote peer's fault)."""


# --- block codecs (RFC 8285 §4) -------------------------------------------------------------


def parse_extensions(profile: int, data: bytes | bytearray | memoryview) -> dict[int, bytes]:
    """Parse the body of an extension block into ``{id: value}``.

    Padding bytes (0) are skipped (RFC 8285 §4.2/§4.3); in the one-byte form, ID 15 ends
    processing (§4.2). If an ID repeats, the first element wins, as :func:`find_ext` does.
    An unknown profile yields an empty mapping (RFC 3550 §5.3.1: the extension may be ignored).
    """
    out: dict[int, bytes] = {}
    find_ext_offset(data, 0, -1, None, out, len(data), profile)
    return out


def build_extensions(
    extensions: Mapping[int, bytes] | Iterable[tuple[int, bytes]], *, two_byte: bool | None = None
) -> tuple[int, bytes]:
    """Build an extension block body, padded to 32 bits; returns ``(profile, body)``.

    The one-byte form is chosen when every ID is 1..14 and every value 1..16 bytes
    (RFC 8285 §4.2), unless ``two_byte`` forces a choice.
    """
    items = list(extensions.items()) if isinstance(extensions, Mapping) else list(extensions)
    fits_one = all(1 <= i <= 14 and 1 <= len(v) <= 16 for i, v in items)
    if two_byte is None:
        two_byte = not fits_one
    elif not two_byte and not fits_one:
        raise ValueError("extensions do not fit the one-byte header form")
    out = bytearray()
    if two_byte:
        for ext_id, value in items:
            if not 1 <= ext_id <= 255 or len(value) > 255:
                raise ValueError(f"invalid two-byte extension id={ext_id} len={len(value)}")
            out += bytes((ext_id, len(value)))
            out += value
    else:
        for ext_id, value in items:
            out.append((ext_id << 4) | (len(value) - 1))
            out += value
    out += bytes(-len(out) % 4)
    return (TWO_BYTE_PROFILE if two_byte else ONE_BYTE_PROFILE), bytes(out)


def build_extension_block(
    extensions: Mapping[int, bytes] | Iterable[tuple[int, bytes]], *, two_byte: bool | None = None
) -> bytes:
    """Like :func:`build_extensions` with the 4-byte profile/length header (RFC 3550 §5.3.1)."""
    profile, body = build_extensions(extensions, two_byte=two_byte)
    return _HH.pack(profile, len(body) // 4) + body


def extension_offset(buf: bytes | bytearray | memoryview) -> int:
    """Offset of the extension header in an RTP packet, or -1 when the X bit is clear.

    The caller has validated the packet (e.g. with ``rtp.header_fields``).
    """
    b0 = buf[0]
    return 12 + (b0 & 0x0F) * 4 if b0 & 0x10 else -1


def parse_extension_block(buf: bytes | bytearray | memoryview, offset: int) -> dict[int, bytes]:
    """Parse the extension block whose 4-byte header starts at ``offset`` in ``buf``."""
    if offset < 0:
        raise RtpExtensionError("header extension block is truncated")
    out: dict[int, bytes] = {}
    find_ext_offset(buf, offset, -1, None, out)  # reads and checks the 4-byte header
    return out


# --- hot-path lookups and in-place rewrites ---------------------------------------------------


def find_ext_offset(
    buf: bytes | bytearray | memoryview,
    offset: int,
    ext_id: int,
    table: bytes | None = None,
    found: dict[int, bytes] | None = None,
    end: int = -1,
    profile: int = 0,
) -> int:
    """Offset of the value of extension ``ext_id`` in ``buf``, or -1 if absent.

    ``offset`` is the extension header's offset (:func:`extension_offset`); a negative one
    means "no extension" and yields -1. Truncated blocks raise :class:`RtpExtensionError`.
    The length is known for the fixed-size values this is used for (audio level 1 byte,
    transport-wide seq 2, abs-send-time 3); use :func:`find_ext` for variable ones.

    This is the module's one walk over the elements of a block (RFC 8285 §4.2 one-byte, §4.3
    two-byte): padding bytes are skipped, ID 15 ends a one-byte block, an element that runs past
    the block raises, and an unknown profile has no elements (RFC 3550 §5.3.1). The other
    arguments serve this module's other walkers: with ``table`` every element is renumbered in
    place (:func:`remap_ext_ids`; ``buf`` is then a bytearray), with ``found`` every element's
    first value is collected (:func:`parse_extensions`), and an ``end`` of 0 or more walks the bare
    body ``buf[offset:end]`` of a ``profile`` block instead of reading the 4-byte header at
    ``offset``. They are positional, and the lookup is the walk itself rather than a wrapper
    around it, because it runs per packet (audio level, transport-wide sequence numbers).
    """
    if end < 0:
        if offset < 0:
            return -1
        try:  # RFC 3550 §5.3.1: 16-bit profile, 16-bit length in 32-bit words
            profile, words = _HH.unpack_from(buf, offset)
        except struct.error:
            raise RtpExtensionError("header extension block is truncated") from None
        end = offset + 4 + words * 4
        if end > len(buf):
            raise RtpExtensionError("header extension block is truncated")
        offset += 4
    pos = offset
    out: bytearray = buf  # type: ignore[assignment]  # written only with a table (remap_ext_ids)
    if profile == 0xBEDE:  # ONE_BYTE_PROFILE
        while pos < end:
            b = buf[pos]
            if b == 0:
                pos += 1
                continue
            i = b >> 4
            if i == 15:
                return -1
            nxt = pos + 2 + (b & 0x0F)
            if nxt > end:
                raise RtpExtensionError("one-byte header extension element is truncated")
            if table is not None:
                new = table[i]
                if 1 <= new <= 14:
                    out[pos] = (new << 4) | (b & 0x0F)
                else:
                    out[pos:nxt] = bytes(nxt - pos)
            elif i == ext_id:
                return pos + 1
            elif found is not None and i not in found:
                found[i] = bytes(buf[pos + 1 : nxt])
            pos = nxt
    elif (profile & 0xFFF0) == 0x1000:  # TWO_BYTE_PROFILE
        while pos < end:
            i = buf[pos]
            if i == 0:
                pos += 1
                continue
            if pos + 2 > end:
                raise RtpExtensionError("two-byte header extension element is truncated")
            nxt = pos + 2 + buf[pos + 1]
            if nxt > end:
                raise RtpExtensionError("two-byte header extension element is truncated")
            if table is not None:
                new = table[i]
                if new:
                    out[pos] = new
                else:
                    out[pos:nxt] = bytes(nxt - pos)
            elif i == ext_id:
                return pos + 2
            elif found is not None and i not in found:
                found[i] = bytes(buf[pos + 2 : nxt])
            pos = nxt
    return -1


def find_ext(buf: bytes | bytearray | memoryview, offset: int, ext_id: int) -> memoryview | None:
    """The value of extension ``ext_id`` as a zero-copy view into ``buf``, or None.

    Same contract as :func:`find_ext_offset`, whose walk finds it.
    """
    start = find_ext_offset(buf, offset, ext_id)
    if start < 0:
        return None
    b = buf[start - 1]  # one-byte form: ID and length - 1; two-byte form: the length
    return memoryview(buf)[start : start + ((b & 0x0F) + 1 if buf[offset] == 0xBE else b)]


def set_ext_value(buf: bytearray, offset: int, ext_id: int, value: bytes) -> bool:
    """Overwrite the value of ``ext_id`` in place; it must keep its length. False if absent."""
    view = find_ext(buf, offset, ext_id)
    if view is None:
        return False
    if len(view) != len(value):
        raise ValueError(f"extension {ext_id} is {len(view)} bytes, new value is {len(value)}")
    view[:] = value
    return True


def set_transport_seq(buf: bytearray, offset: int, ext_id: int, seq: int) -> bool:
    """Write a transport-wide sequence number (16 bit) in place, e.g. per down-track."""
    pos = find_ext_offset(buf, offset, ext_id)
    if pos < 0 or pos + 2 > len(buf):
        return False
    _U16.pack_into(buf, pos, seq & 0xFFFF)
    return True


def stamp_transport_seq(packet: bytes, ext_id: int, seq: int) -> bytes | None:
    """``packet`` (a valid RTP packet) with transport-wide sequence number ``seq`` under
    ``ext_id``: written over the element when the packet has one, else added to its one-byte or
    two-byte block (a one-byte block is created when it has none). None when it cannot be: an
    unknown block profile, an ID the one-byte form cannot carry in a one-byte block, or an
    element of another length under ``ext_id``.
    Malformed blocks raise :class:`RtpExtensionError`. This is the Python twin of the native
    sender's stamp (hubbub/transport/native/fanout.c, ``stamp_twcc``); both grow the packet by
    4 bytes when they add the element to a block, 8 when they add a block."""
    value = _U16.pack(seq & 0xFFFF)
    b0 = packet[0]
    hlen = 12 + (b0 & 0x0F) * 4
    if not b0 & 0x10:
        if not 1 <= ext_id <= 14:
            return None
        block = _HH.pack(0xBEDE, 1) + bytes(((ext_id << 4) | 1,)) + value + b"\0"
        return bytes((b0 | 0x10,)) + packet[1:hlen] + block + packet[hlen:]
    pos = find_ext_offset(packet, hlen, ext_id)
    profile, words = _HH.unpack_from(packet, hlen)
    if pos >= 0:  # the element's length must be 2 (one-byte form: L is length - 1)
        if packet[pos - 1] != (((ext_id << 4) | 1) if profile == 0xBEDE else 2):
            return None
        return packet[:pos] + value + packet[pos + 2 :]
    end = hlen + 4 + words * 4
    if profile == 0xBEDE and 1 <= ext_id <= 14:
        element = bytes(((ext_id << 4) | 1,)) + value + b"\0"
    elif (profile & 0xFFF0) == 0x1000 and 1 <= ext_id <= 255:
        element = bytes((ext_id, 2)) + value
    else:
        return None
    return packet[:hlen] + _HH.pack(profile, words + 1) + packet[hlen + 4 : end] + element + packet[end:]


def set_abs_send_time(buf: bytearray, offset: int, ext_id: int, value: int) -> bool:
    """Write a 24-bit abs-send-time value in place (see :func:`abs_send_time_from_seconds`)."""
    pos = find_ext_offset(buf, offset, ext_id)
    if pos < 0 or pos + 3 > len(buf):
        return False
    buf[pos] = (value >> 16) & 0xFF
    buf[pos + 1] = (value >> 8) & 0xFF
    buf[pos + 2] = value & 0xFF
    return True


def make_id_map(mapping: Mapping[int, int], *, drop_unmapped: bool = True) -> bytes:
    """A 256-byte translation table for :func:`remap_ext_ids`: ``table[old] == new``.

    A new ID of 0 drops the element. Unmapped IDs are dropped or kept as they are.
    """
    table = bytearray(256) if drop_unmapped else bytearray(range(256))
    table[0] = 0
    for old, new in mapping.items():
        if not (1 <= old <= 255 and 0 <= new <= 255):
            raise ValueError(f"invalid extension id mapping {old} -> {new}")
        table[old] = new
    return bytes(table)


def remap_ext_ids(buf: bytearray, offset: int, table: bytes) -> None:
    """Translate extension IDs in place through ``table`` (from :func:`make_id_map`).

    An element mapped to 0 is blanked with padding bytes, which RFC 8285 §4.2/§4.3 allow
    between elements, so the packet keeps its length. In the one-byte form a new ID must be
    1..14: anything else blanks the element too.
    """
    find_ext_offset(buf, offset, -1, table)


# --- value codecs -----------------------------------------------------------------------------


def parse_audio_level(value: bytes | bytearray | memoryview) -> tuple[bool, int]:
    """RFC 6464 §3: ``(voice activity, level)`` with level in -dBov, 0 (loud) .. 127 (silent)."""
    if len(value) < 1:
        raise RtpExtensionError("audio level extension is empty")
    b = value[0]
    return bool(b & 0x80), b & 0x7F


def build_audio_level(voice: bool, level: int) -> bytes:
    """RFC 6464 §3 one-byte value: V bit then the level in -dBov (clamped to 0..127)."""
    return bytes(((0x80 if voice else 0) | max(0, min(127, level)),))


def parse_abs_send_time(value: bytes | bytearray | memoryview) -> int:
    """abs-send-time: 24-bit 6.18 fixed-point seconds (webrtc.org abs-send-time spec)."""
    if len(value) < 3:
        raise RtpExtensionError("abs-send-time extension is shorter than 3 bytes")
    return (value[0] << 16) | (value[1] << 8) | value[2]


def build_abs_send_time(value: int) -> bytes:
    return (value & 0xFFFFFF).to_bytes(3, "big")


def abs_send_time_from_seconds(seconds: float) -> int:
    """6.18 fixed point, wrapping every 64 s (the sender uses its NTP time, mod 64 s)."""
    return int(seconds * (1 << 18)) & 0xFFFFFF


def abs_send_time_to_seconds(value: int) -> float:
    return (value & 0xFFFFFF) / (1 << 18)


def parse_transport_seq(value: bytes | bytearray | memoryview) -> int:
    """Transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2)."""
    if len(value) < 2:
        raise RtpExtensionError("transport-wide sequence extension is shorter than 2 bytes")
    return (value[0] << 8) | value[1]


def build_transport_seq(seq: int) -> bytes:
    return _U16.pack(seq & 0xFFFF)


def parse_sdes_id(value: bytes | bytearray | memoryview) -> str:
    """sdes:mid (RFC 8843 §15.2), rtp-stream-id and repaired-rtp-stream-id (RFC 8852 §3).

    The values are tokens of ASCII characters; non-ASCII is rejected.
    """
    if len(value) < 1:
        raise RtpExtensionError("SDES identifier extension is empty")
    try:
        return bytes(value).decode("ascii")
    except UnicodeDecodeError as exc:
        raise RtpExtensionError("SDES identifier is not ASCII") from exc


def build_sdes_id(ident: str) -> bytes:
    data = ident.encode("ascii")
    if not 1 <= len(data) <= 255:
        raise ValueError("SDES identifier must be 1..255 bytes")
    return data
