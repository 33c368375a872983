"""RTP (RFC 3550 §5.1) for the SFU: demultiplexing, header reads and rewrites on raw bytes.

The forwarding path never builds packet objects: :func:`header_fields` reads the fixed header
with one ``struct`` call and :func:`rewrite` / :func:`rewrite_into` patch SSRC, sequence
number, timestamp and payload type with ``pack_into`` on a ``bytearray``. :class:`RtpPacket`
is the symmetric ``parse``/``__bytes__`` form for tests and slow paths (RTX, probing, tools).

Fixed header (RFC 3550 §5.1)::

     0                   1                   2                   3
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    |                           timestamp                           |
    |           synchronization source (SSRC) identifier            |
    |            contributing source (CSRC) identifiers             |  CC x 32 bit
    |  defined by profile (0xBEDE..)|           length (words)      |  if X
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from hubbub.proto import rtp_ext

__all__ = [
    "RTP_HEADER_SIZE",
    "RtpPacket",
    "RtpParseError",
    "SeqUnwrapper",
    "TimestampUnwrapper",
    "h264_is_keyframe",
    "header_fields",
    "is_rtcp",
    "is_rtp_or_rtcp",
    "payload_offset",
    "rewrite",
    "rewrite_into",
    "rtx_unwrap",
    "rtx_wrap",
    "seq_diff",
    "ts_diff",
    "vp8_descriptor",
    "vp8_fields",
    "vp8_is_keyframe",
    "vp9_is_keyframe",
]

RTP_HEADER_SIZE = 12

_FIXED = struct.Struct("!BBHII")
_SEQ_TS_SSRC = struct.Struct("!HII")
_PT_SEQ_TS_SSRC = struct.Struct("!BHII")
_U16 = struct.Struct("!H")


class RtpParseError(ValueError):
    """An RTP packet or payload descriptor is malformed (the remote peer's fault)."""


# --- demultiplexing (RFC 7983 §7, RFC 5761 §4) -------------------------------------------------


def is_rtp_or_rtcp(data: bytes | bytearray | memoryview) -> bool:
    """RFC 7983 §7: a first byte of 128..191 is RTP or RTCP (vs STUN 0..3, DTLS 20..63)."""
    return len(data) >= 1 and 128 <= data[0] <= 191


def is_rtcp(data: bytes | bytearray | memoryview) -> bool:
    """RFC 5761 §4: on a muxed port, a second byte of 192..223 (RTCP packet types) is RTCP."""
    return len(data) >= 2 and 192 <= data[1] <= 223


# --- hot path ---------------------------------------------------------------------------------


def header_fields(buf: bytes | bytearray | memoryview) -> tuple[int, int, int, int, int, bool, int]:
    """Validate an RTP packet and read ``(pt, seq, ts, ssrc, header_len, marker, padding_len)``.

    ``header_len`` covers the CSRCs and the header extension, so the payload is
    ``buf[header_len:len(buf) - padding_len]``. Raises :class:`RtpParseError`.
    """
    n = len(buf)
    if n < 12:
        raise RtpParseError("RTP packet is shorter than 12 bytes")
    b0, b1, seq, ts, ssrc = _FIXED.unpack_from(buf)
    if b0 & 0xC0 != 0x80:
        raise RtpParseError("RTP version is not 2")
    hlen = 12 + (b0 & 0x0F) * 4
    if b0 & 0x10:  # RFC 3550 §5.3.1 header extension
        if hlen + 4 > n:
            raise RtpParseError("RTP header extension is truncated")
        hlen += 4 + ((buf[hlen + 2] << 8) | buf[hlen + 3]) * 4
    if hlen > n:
        raise RtpParseError("RTP header is truncated")
    pad = 0
    if b0 & 0x20:  # RFC 3550 §5.1 padding: the last octet counts the padding octets
        pad = buf[n - 1]
        if pad == 0 or hlen + pad > n:
            raise RtpParseError("RTP padding length is invalid")
    return b1 & 0x7F, seq, ts, ssrc, hlen, bool(b1 & 0x80), pad


def payload_offset(buf: bytes | bytearray | memoryview) -> int:
    """Offset of the payload (after CSRCs and extension). Raises :class:`RtpParseError`."""
    return header_fields(buf)[4]


def rewrite(
    buf: bytes | bytearray | memoryview,
    ssrc: int,
    seq: int,
    ts: int,
    pt: int | None = None,
    ext_ids: bytes | None = None,
) -> bytearray:
    """A copy of ``buf`` with new SSRC, sequence number, timestamp and optionally payload type.

    The marker bit is kept. ``ext_ids`` is a table from :func:`rtp_ext.make_id_map` that
    renumbers header extensions for the receiving peer's negotiated IDs. The packet is assumed
    valid (checked once by :func:`header_fields` on receipt); only its length is checked here.
    """
    if len(buf) < 12:
        raise RtpParseError("RTP packet is shorter than 12 bytes")
    out = bytearray(buf)
    if pt is None:
        _SEQ_TS_SSRC.pack_into(out, 2, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    else:
        _PT_SEQ_TS_SSRC.pack_into(out, 1, (out[1] & 0x80) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    if ext_ids is not None and out[0] & 0x10:
        rtp_ext.remap_ext_ids(out, 12 + (out[0] & 0x0F) * 4, ext_ids)
    return out


def rewrite_into(out: bytearray, ssrc: int, seq: int, ts: int, pt: int | None = None) -> None:
    """In-place variant of :func:`rewrite` for a buffer the caller already owns."""
    if len(out) < 12:
        raise RtpParseError("RTP packet is shorter than 12 bytes")
    if pt is None:
        _SEQ_TS_SSRC.pack_into(out, 2, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    else:
        _PT_SEQ_TS_SSRC.pack_into(out, 1, (out[1] & 0x80) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)


# --- RTX (RFC 4588 §4) -------------------------------------------------------------------------


def rtx_wrap(buf: bytes | bytearray | memoryview, rtx_ssrc: int, rtx_seq: int, rtx_pt: int) -> bytes:
    """Wrap an original packet for retransmission on the RTX stream (RFC 4588 §4).

    The RTX payload is the original sequence number (OSN, 16 bit) followed by the original
    payload; CSRCs, extensions, marker and timestamp are kept, the original padding is dropped.
    """
    _pt, seq, ts, _ssrc, hlen, _m, pad = header_fields(buf)
    n = len(buf)
    out = bytearray(n - pad + 2)
    out[:hlen] = buf[:hlen]
    out[0] &= 0xDF  # clear P: the padding was not copied
    _PT_SEQ_TS_SSRC.pack_into(out, 1, (out[1] & 0x80) | rtx_pt, rtx_seq & 0xFFFF, ts, rtx_ssrc)
    _U16.pack_into(out, hlen, seq)
    out[hlen + 2 :] = buf[hlen : n - pad]
    return bytes(out)


def rtx_unwrap(buf: bytes | bytearray | memoryview, ssrc: int, pt: int) -> bytes:
    """Recover the original packet from an RTX packet (RFC 4588 §4).

    Raises :class:`RtpParseError` when there is no OSN (e.g. padding-only probe packets).
    """
    _pt, _seq, ts, _ssrc, hlen, _m, pad = header_fields(buf)
    n = len(buf)
    if n - pad - hlen < 2:
        raise RtpParseError("RTX packet has no original sequence number")
    osn = (buf[hlen] << 8) | buf[hlen + 1]
    out = bytearray(n - pad - 2)
    out[:hlen] = buf[:hlen]
    out[0] &= 0xDF
    _PT_SEQ_TS_SSRC.pack_into(out, 1, (out[1] & 0x80) | pt, osn, ts, ssrc)
    out[hlen:] = buf[hlen + 2 : n - pad]
    return bytes(out)


# --- sequence numbers and timestamps (RFC 3550 Appendix A.1) -----------------------------------


def seq_diff(a: int, b: int) -> int:
    """``a - b`` for 16-bit sequence numbers, in -32768..32767 (positive: ``a`` is newer)."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def ts_diff(a: int, b: int) -> int:
    """``a - b`` for 32-bit RTP timestamps, in -2^31..2^31-1."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000


class _Unwrapper:
    """Extends a wrapping counter to an unbounded one, taking the nearest candidate each time.

    The first value is returned as is; a value older than the first may come out negative.
    ``unwrap(x) & mask == x`` always holds.
    """

    __slots__ = ("_half", "_last", "_mask")
    _BITS = 16

    def __init__(self) -> None:
        self._mask = (1 << self._BITS) - 1
        self._half = 1 << (self._BITS - 1)
        self._last: int | None = None

    @property
    def last(self) -> int | None:
        """The most recently returned extended value."""
        return self._last

    def unwrap(self, value: int) -> int:
        last = self._last
        ext = value & self._mask if last is None else last + ((value - last + self._half & self._mask) - self._half)
        self._last = ext
        return ext


class SeqUnwrapper(_Unwrapper):
    """16-bit RTP sequence number -> extended sequence number."""

    __slots__ = ()
    _BITS = 16


class TimestampUnwrapper(_Unwrapper):
    """32-bit RTP timestamp -> extended timestamp."""

    __slots__ = ()
    _BITS = 32


# --- packet object for tests and slow paths ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """An RTP packet (RFC 3550 §5.1). ``extension`` is None when the X bit is clear.

    ``padding_size`` counts the padding octets including the final count octet; when it is
    non-zero the P bit is set and ``__bytes__`` writes zeros followed by the count.
    """

    pt: int
    seq: int
    ts: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension_profile: int = 0
    extension: bytes | None = None
    padding_size: int = 0
    version: int = 2

    @property
    def padding(self) -> bool:
        return self.padding_size > 0

    @classmethod
    def parse(cls, buf: bytes | bytearray | memoryview) -> RtpPacket:
        pt, seq, ts, ssrc, hlen, marker, pad = header_fields(buf)
        b0 = buf[0]
        cc = b0 & 0x0F
        csrcs = struct.unpack_from(f"!{cc}I", buf, 12) if cc else ()
        profile = 0
        ext: bytes | None = None
        if b0 & 0x10:
            off = 12 + cc * 4
            profile = (buf[off] << 8) | buf[off + 1]
            ext = bytes(buf[off + 4 : hlen])
        return cls(
            pt=pt,
            seq=seq,
            ts=ts,
            ssrc=ssrc,
            payload=bytes(buf[hlen : len(buf) - pad]),
            marker=marker,
            csrcs=tuple(csrcs),
            extension_profile=profile,
            extension=ext,
            padding_size=pad,
        )

    def __bytes__(self) -> bytes:
        if len(self.csrcs) > 15:
            raise ValueError("at most 15 CSRCs")
        if not 0 <= self.padding_size <= 255:
            raise ValueError("padding size must be 0..255")
        has_ext = self.extension is not None
        out = bytearray(
            _FIXED.pack(
                (self.version << 6) | (0x20 if self.padding_size else 0) | (0x10 if has_ext else 0) | len(self.csrcs),
                (0x80 if self.marker else 0) | self.pt,
                self.seq,
                self.ts,
                self.ssrc,
            )
        )
        for csrc in self.csrcs:
            out += csrc.to_bytes(4, "big")
        if self.extension is not None:
            if len(self.extension) % 4:
                raise ValueError("header extension must be a multiple of 4 bytes")
            out += struct.pack("!HH", self.extension_profile, len(self.extension) // 4)
            out += self.extension
        out += self.payload
        if self.padding_size:
            out += bytes(self.padding_size - 1)
            out.append(self.padding_size)
        return bytes(out)

    def extensions(self) -> dict[int, bytes]:
        """The header extensions as ``{id: value}`` (RFC 8285)."""
        if self.extension is None:
            return {}
        return rtp_ext.parse_extensions(self.extension_profile, self.extension)

    def with_extensions(self, extensions: dict[int, bytes], *, two_byte: bool | None = None) -> RtpPacket:
        """A copy carrying ``extensions`` (RFC 8285), or no extension block if empty."""
        if not extensions:
            return replace(self, extension_profile=0, extension=None)
        profile, body = rtp_ext.build_extensions(extensions, two_byte=two_byte)
        return replace(self, extension_profile=profile, extension=body)


# --- codec payload inspection -------------------------------------------------------------------
# Opus needs nothing: every packet decodes on its own.


def vp8_fields(payload: bytes | bytearray | memoryview) -> tuple[int, int, int, int, bool, int, int] | None:
    """RFC 7741 §4.2 payload descriptor, every field: ``(first octet, picture_id, tl0picidx, tid,
    sync (Y), keyidx, size)``, or None when it is truncated. Absent optional fields are -1;
    ``size`` is the descriptor length, where the VP8 payload begins. The one walk over a
    descriptor: :func:`vp8_descriptor` and ``hubbub.sfu.vp8.parse`` read through it."""
    n = len(payload)
    if n < 1:
        return None
    b0 = payload[0]
    picture_id = tl0 = tid = keyidx = -1
    sync = False
    pos = 1
    if b0 & 0x80:  # X: extended control bits
        if n < 2:
            return None
        x = payload[1]
        pos = 2
        if x & 0x80:  # I: picture ID, 7 or 15 bits (M)
            if pos >= n:
                return None
            if payload[pos] & 0x80:
                if pos + 2 > n:
                    return None
                picture_id = ((payload[pos] & 0x7F) << 8) | payload[pos + 1]
                pos += 2
            else:
                picture_id = payload[pos]
                pos += 1
        if x & 0x40:  # L: TL0PICIDX
            if pos >= n:
                return None
            tl0 = payload[pos]
            pos += 1
        if x & 0x30:  # T and/or K: one octet TID|Y|KEYIDX
            if pos >= n:
                return None
            t = payload[pos]
            if x & 0x20:
                tid = t >> 6
                sync = bool(t & 0x20)
            if x & 0x10:
                keyidx = t & 0x1F
            pos += 1
    return b0, picture_id, tl0, tid, sync, keyidx, pos


def vp8_descriptor(payload: bytes | bytearray | memoryview) -> tuple[int, int, int, bool, int]:
    """RFC 7741 §4.2 payload descriptor: ``(picture_id, tl0picidx, tid, start, size)``.

    Absent optional fields are -1. ``start`` is the S bit (start of a VP8 partition);
    ``size`` is the descriptor length, where the VP8 payload begins.
    Raises :class:`RtpParseError` when the descriptor is truncated or the payload empty.
    """
    fields = vp8_fields(payload)
    if fields is None:
        raise RtpParseError("VP8 payload is empty" if not payload else "VP8 descriptor is truncated")
    b0, picture_id, tl0, tid, _sync, _keyidx, size = fields
    return picture_id, tl0, tid, bool(b0 & 0x10), size


def vp8_is_keyframe(payload: bytes | bytearray | memoryview) -> bool:
    """True for the first packet of a VP8 key frame (RFC 7741 §4.3: S=1, PID=0, P=0)."""
    try:
        _pic, _tl0, _tid, start, size = vp8_descriptor(payload)
    except RtpParseError:
        return False
    # The VP8 payload header follows only at the start of partition 0.
    return start and (payload[0] & 0x07) == 0 and size < len(payload) and not payload[size] & 0x01


def vp9_is_keyframe(payload: bytes | bytearray | memoryview) -> bool:
    """True for the first packet of a VP9 key picture (RFC 9628 §4.2).

    P=0 (not inter-picture predicted) and B=1 (start of a frame), on spatial layer 0 when
    layer indices are present. The scalability structure (V) usually rides along but is not
    required here.
    """
    n = len(payload)
    if n < 1:
        return False
    b0 = payload[0]
    if b0 & 0x40 or not b0 & 0x08:
        return False
    if not b0 & 0x20:  # L: no layer indices, a single spatial layer
        return True
    pos = 1
    if b0 & 0x80:  # I: picture ID, 7 or 15 bits (M)
        if pos >= n:
            return False
        pos += 2 if payload[pos] & 0x80 else 1
    if pos >= n:
        return False
    return (payload[pos] >> 1) & 0x07 == 0  # SID


_H264_KEY_NALS = (5, 7)  # RFC 6184 §1.3 / H.264 Table 7-1: IDR slice, SPS


def h264_is_keyframe(payload: bytes | bytearray | memoryview) -> bool:
    """True when the payload starts an H.264 key frame (RFC 6184 §5.6-§5.8).

    Single NAL unit of type 5 (IDR) or 7 (SPS); STAP-A/STAP-B holding one; FU-A/FU-B
    start fragment of one.
    """
    n = len(payload)
    if n < 1:
        return False
    nal = payload[0] & 0x1F
    if 1 <= nal <= 23:
        return nal in _H264_KEY_NALS
    if nal in (24, 25):  # STAP-A, STAP-B (the latter has a 16-bit DON first)
        pos = 1 if nal == 24 else 3
        while pos + 2 < n:
            size = (payload[pos] << 8) | payload[pos + 1]
            if size and (payload[pos + 2] & 0x1F) in _H264_KEY_NALS:
                return True
            pos += 2 + size
        return False
    if nal in (28, 29):  # FU-A, FU-B: FU header S|E|R|Type
        return n >= 2 and bool(payload[1] & 0x80) and (payload[1] & 0x1F) in _H264_KEY_NALS
    return False
