"""RTCP feedback messages (RFC 4585 §6, RFC 5104 §4.3, REMB, transport-wide CC).

Import these from :mod:`hubbub.proto.rtcp`, which re-exports them next to the reports and the
compound-packet iterator. This module also holds what every RTCP packet shares: the common
header (RFC 3550 §6.4.1) and :class:`RtcpParseError`.

Every message is a frozen dataclass whose ``parse`` takes one whole RTCP packet (header
included) and whose ``__bytes__`` gives one back.

Feedback header (RFC 4585 §6.1)::

    |V=2|P|   FMT   |       PT      |          length               |
    |                  SSRC of packet sender                        |
    |                  SSRC of media source                         |
    :            Feedback Control Information (FCI)                 :
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "PT_PSFB",
    "PT_RTPFB",
    "Fir",
    "GenericNack",
    "Pli",
    "Remb",
    "RtcpParseError",
    "TransportCc",
    "nack_pairs_from_seqs",
    "pack_rtcp",
    "unpack_rtcp",
]

PT_RTPFB = 205  # RFC 4585 §6.1 transport-layer feedback
PT_PSFB = 206  # RFC 4585 §6.1 payload-specific feedback
FMT_NACK = 1  # RFC 4585 §6.2.1
FMT_TWCC = 15  # draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1
FMT_PLI = 1  # RFC 4585 §6.3.1
FMT_FIR = 4  # RFC 5104 §4.3.1
FMT_AFB = 15  # RFC 4585 §6.4 application layer feedback (REMB)

_HDR = struct.Struct("!BBH")
_II = struct.Struct("!II")
_HH = struct.Struct("!HH")
_TWCC_HEAD = struct.Struct("!IIHHI")


class RtcpParseError(ValueError):
    """An RTCP packet is malformed (the remote peer's fault)."""


def unpack_rtcp(data: bytes, pt: int) -> tuple[int, bytes]:
    """Check one RTCP packet's common header (RFC 3550 §6.4.1); return ``(count, body)``.

    The length field must cover ``data`` exactly; padding (P bit, RFC 3550 §6.4.1) is removed.
    """
    if len(data) < 4:
        raise RtcpParseError("RTCP packet is shorter than 4 bytes")
    b0, ptv, words = _HDR.unpack_from(data)
    if b0 & 0xC0 != 0x80:
        raise RtcpParseError("RTCP version is not 2")
    if ptv != pt:
        raise RtcpParseError(f"RTCP packet type is {ptv}, expected {pt}")
    if 4 + words * 4 != len(data):
        raise RtcpParseError("RTCP length field does not match the packet")
    body = data[4:]
    if b0 & 0x20:
        pad = body[-1] if body else 0
        if pad == 0 or pad > len(body):
            raise RtcpParseError("RTCP padding length is invalid")
        body = body[:-pad]
    return b0 & 0x1F, body


def pack_rtcp(pt: int, count: int, body: bytes) -> bytes:
    """Prefix ``body`` with the common header; pad to 32 bits with the P bit if needed."""
    if not 0 <= count <= 31:
        raise ValueError("RTCP count/format must be 0..31")
    pad = -len(body) % 4
    if pad:
        body = body + bytes(pad - 1) + bytes((pad,))
    words = len(body) // 4
    if words > 0xFFFF:
        raise ValueError("RTCP packet is too long")
    return _HDR.pack(0x80 | (0x20 if pad else 0) | count, pt, words) + body


def _feedback_ssrcs(body: bytes) -> tuple[int, int]:
    if len(body) < 8:
        raise RtcpParseError("RTCP feedback packet is shorter than its two SSRCs")
    s, m = _II.unpack_from(body)
    return s, m


# --- RFC 4585 §6.2.1 Generic NACK ----------------------------------------------------------------


def nack_pairs_from_seqs(seqs: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Pack lost sequence numbers, in ascending (wrap-aware) order, into (PID, BLP) pairs.

    BLP bit i means PID + i + 1 is lost too (RFC 4585 §6.2.1).
    """
    pairs: list[tuple[int, int]] = []
    pid = -1
    blp = 0
    for s in seqs:
        s &= 0xFFFF
        if pid >= 0:
            d = (s - pid - 1) & 0xFFFF
            if d < 16:
                blp |= 1 << d
                continue
            if s == pid:
                continue
            pairs.append((pid, blp))
        pid = s
        blp = 0
    if pid >= 0:
        pairs.append((pid, blp))
    return tuple(pairs)


@dataclass(frozen=True, slots=True)
class GenericNack:
    """RTPFB FMT=1: lost packets as (PID, BLP) pairs (RFC 4585 §6.2.1)."""

    sender_ssrc: int
    media_ssrc: int
    pairs: tuple[tuple[int, int], ...]

    @classmethod
    def from_sequences(cls, sender_ssrc: int, media_ssrc: int, seqs: Iterable[int]) -> GenericNack:
        return cls(sender_ssrc, media_ssrc, nack_pairs_from_seqs(seqs))

    def lost_sequences(self) -> list[int]:
        out: list[int] = []
        for pid, blp in self.pairs:
            out.append(pid)
            i = 0
            while blp:
                if blp & 1:
                    out.append((pid + i + 1) & 0xFFFF)
                blp >>= 1
                i += 1
        return out

    @classmethod
    def parse(cls, data: bytes) -> GenericNack:
        fmt, body = unpack_rtcp(data, PT_RTPFB)
        if fmt != FMT_NACK:
            raise RtcpParseError("not a generic NACK")
        s, m = _feedback_ssrcs(body)
        if len(body) % 4:
            raise RtcpParseError("generic NACK FCI is not a multiple of 4 bytes")
        return cls(s, m, tuple(_HH.iter_unpack(body[8:])))

    def __bytes__(self) -> bytes:
        fci = b"".join(_HH.pack(pid, blp) for pid, blp in self.pairs)
        return pack_rtcp(PT_RTPFB, FMT_NACK, _II.pack(self.sender_ssrc, self.media_ssrc) + fci)


# --- RFC 4585 §6.3.1 Picture Loss Indication --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pli:
    """PSFB FMT=1: a keyframe request with no FCI (RFC 4585 §6.3.1)."""

    sender_ssrc: int
    media_ssrc: int

    @classmethod
    def parse(cls, data: bytes) -> Pli:
        fmt, body = unpack_rtcp(data, PT_PSFB)
        if fmt != FMT_PLI:
            raise RtcpParseError("not a PLI")
        s, m = _feedback_ssrcs(body)
        return cls(s, m)

    def __bytes__(self) -> bytes:
        return pack_rtcp(PT_PSFB, FMT_PLI, _II.pack(self.sender_ssrc, self.media_ssrc))


# --- RFC 5104 §4.3.1 Full Intra Request ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fir:
    """PSFB FMT=4: ``entries`` are (SSRC, command sequence number) FCIs (RFC 5104 §4.3.1).

    The media source SSRC of the common header is unused and SHALL be 0 (§4.3.1.2).
    """

    sender_ssrc: int
    entries: tuple[tuple[int, int], ...]
    media_ssrc: int = 0

    @classmethod
    def parse(cls, data: bytes) -> Fir:
        fmt, body = unpack_rtcp(data, PT_PSFB)
        if fmt != FMT_FIR:
            raise RtcpParseError("not a FIR")
        s, m = _feedback_ssrcs(body)
        if (len(body) - 8) % 8:
            raise RtcpParseError("FIR FCI is not a multiple of 8 bytes")
        entries = tuple((ssrc, word >> 24) for ssrc, word in _II.iter_unpack(body[8:]))
        return cls(s, entries, m)

    def __bytes__(self) -> bytes:
        fci = b"".join(_II.pack(ssrc, (seq & 0xFF) << 24) for ssrc, seq in self.entries)
        return pack_rtcp(PT_PSFB, FMT_FIR, _II.pack(self.sender_ssrc, self.media_ssrc) + fci)


# --- draft-alvestrand-rmcat-remb-03 §2.2 Receiver Estimated Maximum Bitrate ---------------------


@dataclass(frozen=True, slots=True)
class Remb:
    """PSFB FMT=15 "REMB": bitrate = mantissa (18 bit) << exponent (6 bit), in bit/s.

    ``__bytes__`` rounds the bitrate down to what the mantissa can hold.
    """

    sender_ssrc: int
    bitrate: int
    ssrcs: tuple[int, ...]
    media_ssrc: int = 0

    @classmethod
    def parse(cls, data: bytes) -> Remb:
        fmt, body = unpack_rtcp(data, PT_PSFB)
        if fmt != FMT_AFB or body[8:12] != b"REMB":
            raise RtcpParseError("not a REMB")
        s, m = _feedback_ssrcs(body)
        if len(body) < 16:
            raise RtcpParseError("REMB is truncated")
        num, word = body[12], int.from_bytes(body[13:16], "big")
        if len(body) < 16 + 4 * num:
            raise RtcpParseError("REMB SSRC list is truncated")
        ssrcs = struct.unpack_from(f"!{num}I", body, 16)
        return cls(s, (word & 0x3FFFF) << (word >> 18), tuple(ssrcs), m)

    def __bytes__(self) -> bytes:
        if self.bitrate < 0 or len(self.ssrcs) > 255:
            raise ValueError("invalid REMB bitrate or SSRC count")
        mantissa, exponent = self.bitrate, 0
        while mantissa > 0x3FFFF:
            mantissa >>= 1
            exponent += 1
        if exponent > 63:
            raise ValueError("REMB bitrate is too large")
        body = (
            _II.pack(self.sender_ssrc, self.media_ssrc)
            + b"REMB"
            + bytes((len(self.ssrcs),))
            + ((exponent << 18) | mantissa).to_bytes(3, "big")
            + b"".join(x.to_bytes(4, "big") for x in self.ssrcs)
        )
        return pack_rtcp(PT_PSFB, FMT_AFB, body)


# --- draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1 -------------------------------------
#
#   |      base sequence number     |      packet status count      |
#   |                 reference time                | fb pkt. count |
#   |          packet chunk         |         packet chunk          |  ...
#   |         recv delta            |  recv delta   | zero padding  |  ...
#
# Packet status symbols (§3.1.1): 0 not received, 1 received with a small delta (1 byte,
# 0..63.75 ms), 2 received with a large or negative delta (2 bytes, signed), 3 reserved.
# Deltas count 250 us ticks; the reference time counts 64 ms.

TWCC_TICK_US = 250
TWCC_REFERENCE_US = 64_000


def _encode_chunks(statuses: tuple[int, ...]) -> bytes:
    """Deterministic chunking: run-length (§3.1.3) for long runs, else status vectors (§3.1.4)."""
    out = bytearray()
    n = len(statuses)
    i = 0
    while i < n:
        s = statuses[i]
        run = 1
        while i + run < n and statuses[i + run] == s and run < 0x1FFF:
            run += 1
        window = statuses[i : i + 14]
        if run >= 14 or i + run == n:
            word = (s << 13) | run
            i += run
        elif max(window) <= 1:  # one-bit status vector: 14 symbols of "received small" or not
            word = 0x8000
            for j, sym in enumerate(window):
                word |= sym << (13 - j)
            i += len(window)
        elif run >= 7:
            word = (s << 13) | run
            i += run
        else:  # two-bit status vector: 7 symbols
            word = 0xC000
            for j, sym in enumerate(statuses[i : i + 7]):
                word |= sym << (12 - 2 * j)
            i += min(7, n - i)
        out += word.to_bytes(2, "big")
    return bytes(out)


@dataclass(frozen=True, slots=True)
class TransportCc:
    """RTPFB FMT=15 transport-wide congestion control feedback.

    ``statuses[i]`` is the symbol for sequence ``base_seq + i``; ``deltas`` hold one receive
    delta (250 us ticks) per symbol 1 or 2, in order. ``reference_time`` is signed 24-bit in
    64 ms units. Use :meth:`from_arrivals` to build one and :meth:`packet_results` to read it.
    """

    sender_ssrc: int
    media_ssrc: int
    base_seq: int
    reference_time: int
    fb_count: int
    statuses: tuple[int, ...]
    deltas: tuple[int, ...]

    @classmethod
    def from_arrivals(
        cls, sender_ssrc: int, media_ssrc: int, arrivals: Mapping[int, int | None], fb_count: int
    ) -> TransportCc:
        """Feedback for packets keyed by extended (unwrapped) transport sequence number.

        Values are arrival times in microseconds, or None for packets known to be lost.
        Sequence numbers missing between the lowest and highest key are reported lost too.
        The first arrival sets the reference time (floored to 64 ms); each delta is rounded to
        250 us against the previous *reported* time, so errors never accumulate.
        """
        if not arrivals:
            raise ValueError("no packets to report")
        first, last = min(arrivals), max(arrivals)
        if last - first >= 0xFFFF:
            raise ValueError("too many packets for one feedback message")
        received = [t for t in arrivals.values() if t is not None]
        if not received:
            raise ValueError("a feedback message needs at least one received packet")
        ref = next(arrivals[s] for s in sorted(arrivals) if arrivals[s] is not None)
        assert ref is not None
        reference = ref // TWCC_REFERENCE_US
        prev = reference * TWCC_REFERENCE_US
        statuses: list[int] = []
        deltas: list[int] = []
        for seq in range(first, last + 1):
            t = arrivals.get(seq)
            if t is None:
                statuses.append(0)
                continue
            ticks = round((t - prev) / TWCC_TICK_US)
            if not -0x8000 <= ticks <= 0x7FFF:
                raise ValueError("receive delta does not fit 16 bits; split the feedback")
            statuses.append(1 if 0 <= ticks <= 0xFF else 2)
            deltas.append(ticks)
            prev += ticks * TWCC_TICK_US
        ref24 = ((reference + 0x800000) & 0xFFFFFF) - 0x800000
        return cls(sender_ssrc, media_ssrc, first & 0xFFFF, ref24, fb_count & 0xFF, tuple(statuses), tuple(deltas))

    def packet_results(self) -> list[tuple[int, int | None]]:
        """``(seq, arrival time in us or None)`` for every reported packet, in order."""
        out: list[tuple[int, int | None]] = []
        t = self.reference_time * TWCC_REFERENCE_US
        it = iter(self.deltas)
        for i, s in enumerate(self.statuses):
            seq = (self.base_seq + i) & 0xFFFF
            if s in (1, 2):
                t += next(it) * TWCC_TICK_US
                out.append((seq, t))
            else:
                out.append((seq, None))
        return out

    @classmethod
    def parse(cls, data: bytes) -> TransportCc:
        fmt, body = unpack_rtcp(data, PT_RTPFB)
        if fmt != FMT_TWCC:
            raise RtcpParseError("not a transport-wide CC feedback")
        n = len(body)
        if n < 16:
            raise RtcpParseError("transport-wide CC feedback is truncated")
        s, m, base, count, ref_fb = _TWCC_HEAD.unpack_from(body)
        ref = ref_fb >> 8
        if ref & 0x800000:
            ref -= 0x1000000
        statuses: list[int] = []
        pos = 16
        while len(statuses) < count:
            if pos + 2 > n:
                raise RtcpParseError("transport-wide CC packet chunks are truncated")
            word = (body[pos] << 8) | body[pos + 1]
            pos += 2
            left = count - len(statuses)
            if not word & 0x8000:  # §3.1.3 run length chunk
                statuses.extend([(word >> 13) & 0x03] * min(word & 0x1FFF, left))
            elif not word & 0x4000:  # §3.1.4 status vector, 14 one-bit symbols
                statuses.extend((word >> (13 - j)) & 0x01 for j in range(min(14, left)))
            else:  # §3.1.4 status vector, 7 two-bit symbols
                statuses.extend((word >> (12 - 2 * j)) & 0x03 for j in range(min(7, left)))
        deltas: list[int] = []
        for sym in statuses:
            if sym == 1:
                if pos + 1 > n:
                    raise RtcpParseError("transport-wide CC receive deltas are truncated")
                deltas.append(body[pos])
                pos += 1
            elif sym == 2:
                if pos + 2 > n:
                    raise RtcpParseError("transport-wide CC receive deltas are truncated")
                deltas.append(int.from_bytes(body[pos : pos + 2], "big", signed=True))
                pos += 2
        if n - pos > 3:
            raise RtcpParseError("transport-wide CC feedback has trailing bytes")
        return cls(s, m, base, ref, ref_fb & 0xFF, tuple(statuses), tuple(deltas))

    def __bytes__(self) -> bytes:
        if len(self.statuses) > 0xFFFF:
            raise ValueError("too many packet statuses")
        out = bytearray(
            _TWCC_HEAD.pack(
                self.sender_ssrc,
                self.media_ssrc,
                self.base_seq,
                len(self.statuses),
                ((self.reference_time & 0xFFFFFF) << 8) | self.fb_count,
            )
        )
        out += _encode_chunks(self.statuses)
        it = iter(self.deltas)
        try:
            for sym in self.statuses:
                if sym == 1:
                    d = next(it)
                    if not 0 <= d <= 0xFF:
                        raise ValueError(f"small receive delta {d} out of range")
                    out.append(d)
                elif sym == 2:
                    out += next(it).to_bytes(2, "big", signed=True)
        except StopIteration:
            raise ValueError("fewer deltas than received packets") from None
        if next(it, None) is not None:
            raise ValueError("more deltas than received packets")
        return pack_rtcp(PT_RTPFB, FMT_TWCC, bytes(out))
