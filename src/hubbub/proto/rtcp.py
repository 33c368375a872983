"""RTCP (RFC 3550 §6): compound packets, sender/receiver reports, SDES, BYE, NTP time.

:func:`iter_rtcp` walks a compound packet and yields one frozen dataclass per packet; types it
does not know come back as :class:`Unknown` with their bytes kept. The feedback messages
(NACK, PLI, FIR, REMB, transport-wide CC) live in :mod:`hubbub.proto.rtcp_feedback` and are
re-exported here, so this module is the one to import.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from hubbub.proto.rtcp_feedback import (
    FMT_AFB,
    FMT_FIR,
    FMT_NACK,
    FMT_PLI,
    FMT_TWCC,
    PT_PSFB,
    PT_RTPFB,
    Fir,
    GenericNack,
    Pli,
    Remb,
    RtcpParseError,
    TransportCc,
    nack_pairs_from_seqs,
    pack_rtcp,
    unpack_rtcp,
)

__all__ = [
    "NTP_UNIX_OFFSET",
    "PT_APP",
    "PT_BYE",
    "PT_PSFB",
    "PT_RR",
    "PT_RTPFB",
    "PT_SDES",
    "PT_SR",
    "SDES_CNAME",
    "AnyRtcp",
    "Bye",
    "Fir",
    "GenericNack",
    "Pli",
    "ReceiverReport",
    "Remb",
    "ReportBlock",
    "RtcpParseError",
    "Sdes",
    "SdesChunk",
    "SenderReport",
    "TransportCc",
    "Unknown",
    "build_compound",
    "iter_rtcp",
    "iter_rtcp_raw",
    "nack_pairs_from_seqs",
    "ntp_from_unix",
    "ntp_middle32",
    "ntp_to_unix",
    "parse_rtcp",
]

PT_SR = 200  # RFC 3550 §6.4.1
PT_RR = 201  # RFC 3550 §6.4.2
PT_SDES = 202  # RFC 3550 §6.5
PT_BYE = 203  # RFC 3550 §6.6
PT_APP = 204  # RFC 3550 §6.7
SDES_CNAME = 1  # RFC 3550 §6.5.1

NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01

_HDR = struct.Struct("!BBH")
_BLOCK = struct.Struct("!IIIIII")
_SENDER_INFO = struct.Struct("!IIIIII")


# --- NTP timestamps (RFC 3550 §4) ------------------------------------------------------------------


def ntp_from_unix(t: float) -> tuple[int, int]:
    """Unix time in seconds -> 64-bit NTP ``(seconds, fraction)`` (seconds wrap at 2^32)."""
    sec = int(t // 1)
    frac = int((t - sec) * (1 << 32))
    return (sec + NTP_UNIX_OFFSET) & 0xFFFFFFFF, min(frac, 0xFFFFFFFF)


def ntp_to_unix(sec: int, frac: int) -> float:
    """64-bit NTP ``(seconds, fraction)`` -> Unix time, in NTP era 0."""
    return sec - NTP_UNIX_OFFSET + frac / (1 << 32)


def ntp_middle32(sec: int, frac: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR of a report block (RFC 3550 §6.4.1)."""
    return ((sec & 0xFFFF) << 16) | (frac >> 16)


# --- report blocks and reports (RFC 3550 §6.4) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1).

    ``packets_lost`` is the signed 24-bit cumulative count; ``lsr`` the middle 32 bits of the
    last SR's NTP time; ``dlsr`` the delay since then in 1/65536 s.
    """

    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_seq: int
    jitter: int
    lsr: int
    dlsr: int

    SIZE = 24

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> ReportBlock:
        if offset + 24 > len(data):
            raise RtcpParseError("RTCP report block is truncated")
        ssrc, word, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        lost = word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        return cls(ssrc, word >> 24, lost, highest, jitter, lsr, dlsr)

    def __bytes__(self) -> bytes:
        if not -0x800000 <= self.packets_lost <= 0x7FFFFF:
            raise ValueError("cumulative packets lost must fit signed 24 bits; clamp it first")
        word = (self.fraction_lost << 24) | (self.packets_lost & 0xFFFFFF)
        return _BLOCK.pack(self.ssrc, word, self.highest_seq, self.jitter, self.lsr, self.dlsr)


def _parse_blocks(body: bytes, pos: int, count: int) -> tuple[tuple[ReportBlock, ...], bytes]:
    end = pos + 24 * count
    if end > len(body):
        raise RtcpParseError("RTCP report blocks are truncated")
    blocks = tuple(ReportBlock.parse(body, pos + 24 * i) for i in range(count))
    return blocks, body[end:]


def _check_blocks(reports: tuple[ReportBlock, ...], extension: bytes) -> None:
    if len(reports) > 31:
        raise ValueError("at most 31 report blocks per packet")
    if len(extension) % 4:
        raise ValueError("profile-specific extension must be a multiple of 4 bytes")


@dataclass(frozen=True, slots=True)
class SenderReport:
    """SR (RFC 3550 §6.4.1). ``extension`` is the profile-specific extension, usually empty."""

    ssrc: int
    ntp_sec: int
    ntp_frac: int
    rtp_ts: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    @property
    def ntp_timestamp(self) -> int:
        return (self.ntp_sec << 32) | self.ntp_frac

    @property
    def lsr(self) -> int:
        """What a receiver puts in LSR when it reports on this SR."""
        return ntp_middle32(self.ntp_sec, self.ntp_frac)

    @classmethod
    def parse(cls, data: bytes) -> SenderReport:
        count, body = unpack_rtcp(data, PT_SR)
        if len(body) < 24:
            raise RtcpParseError("RTCP sender report is truncated")
        ssrc, ntp_sec, ntp_frac, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body)
        reports, ext = _parse_blocks(body, 24, count)
        return cls(ssrc, ntp_sec, ntp_frac, rtp_ts, packets, octets, reports, ext)

    def __bytes__(self) -> bytes:
        _check_blocks(self.reports, self.extension)
        info = _SENDER_INFO.pack(
            self.ssrc, self.ntp_sec, self.ntp_frac, self.rtp_ts, self.packet_count, self.octet_count
        )
        body = info + b"".join(bytes(r) for r in self.reports) + self.extension
        return pack_rtcp(PT_SR, len(self.reports), body)


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RR (RFC 3550 §6.4.2)."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> ReceiverReport:
        count, body = unpack_rtcp(data, PT_RR)
        if len(body) < 4:
            raise RtcpParseError("RTCP receiver report is truncated")
        reports, ext = _parse_blocks(body, 4, count)
        return cls(int.from_bytes(body[:4], "big"), reports, ext)

    def __bytes__(self) -> bytes:
        _check_blocks(self.reports, self.extension)
        body = self.ssrc.to_bytes(4, "big") + b"".join(bytes(r) for r in self.reports) + self.extension
        return pack_rtcp(PT_RR, len(self.reports), body)


# --- SDES (RFC 3550 §6.5) and BYE (§6.6) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """One SSRC and its items ``(type, value)``; type 1 is CNAME (RFC 3550 §6.5.1)."""

    ssrc: int
    items: tuple[tuple[int, bytes], ...] = ()

    @property
    def cname(self) -> str | None:
        for kind, value in self.items:
            if kind == SDES_CNAME:
                return value.decode("utf-8", "replace")
        return None


@dataclass(frozen=True, slots=True)
class Sdes:
    """SDES (RFC 3550 §6.5): one chunk per source."""

    chunks: tuple[SdesChunk, ...]

    @classmethod
    def with_cname(cls, ssrc: int, cname: str) -> Sdes:
        return cls((SdesChunk(ssrc, ((SDES_CNAME, cname.encode()),)),))

    @classmethod
    def parse(cls, data: bytes) -> Sdes:
        count, body = unpack_rtcp(data, PT_SDES)
        n = len(body)
        pos = 0
        chunks: list[SdesChunk] = []
        for _ in range(count):
            if pos + 4 > n:
                raise RtcpParseError("RTCP SDES chunk is truncated")
            ssrc = int.from_bytes(body[pos : pos + 4], "big")
            pos += 4
            items: list[tuple[int, bytes]] = []
            while True:
                if pos >= n:
                    raise RtcpParseError("RTCP SDES item list is not terminated")
                kind = body[pos]
                if kind == 0:  # null item ends the list; the chunk ends on a 32-bit boundary
                    pos = (pos + 4) & ~3
                    break
                if pos + 2 > n or pos + 2 + body[pos + 1] > n:
                    raise RtcpParseError("RTCP SDES item is truncated")
                end = pos + 2 + body[pos + 1]
                items.append((kind, body[pos + 2 : end]))
                pos = end
            chunks.append(SdesChunk(ssrc, tuple(items)))
        return cls(tuple(chunks))

    def __bytes__(self) -> bytes:
        if len(self.chunks) > 31:
            raise ValueError("at most 31 SDES chunks per packet")
        out = bytearray()
        for chunk in self.chunks:
            out += chunk.ssrc.to_bytes(4, "big")
            for kind, value in chunk.items:
                if not 1 <= kind <= 255 or len(value) > 255:
                    raise ValueError("invalid SDES item")
                out += bytes((kind, len(value)))
                out += value
            out.append(0)
            out += bytes(-len(out) % 4)
        return pack_rtcp(PT_SDES, len(self.chunks), bytes(out))


@dataclass(frozen=True, slots=True)
class Bye:
    """BYE (RFC 3550 §6.6) with an optional reason."""

    ssrcs: tuple[int, ...]
    reason: bytes | None = None

    @classmethod
    def parse(cls, data: bytes) -> Bye:
        count, body = unpack_rtcp(data, PT_BYE)
        pos = 4 * count
        if pos > len(body):
            raise RtcpParseError("RTCP BYE source list is truncated")
        ssrcs = struct.unpack_from(f"!{count}I", body)
        reason: bytes | None = None
        if pos < len(body):
            end = pos + 1 + body[pos]
            if end > len(body):
                raise RtcpParseError("RTCP BYE reason is truncated")
            reason = body[pos + 1 : end]
        return cls(tuple(ssrcs), reason)

    def __bytes__(self) -> bytes:
        if len(self.ssrcs) > 31:
            raise ValueError("at most 31 sources per BYE")
        out = bytearray(struct.pack(f"!{len(self.ssrcs)}I", *self.ssrcs))
        if self.reason is not None:
            if len(self.reason) > 255:
                raise ValueError("BYE reason is longer than 255 bytes")
            out.append(len(self.reason))
            out += self.reason
            out += bytes(-len(out) % 4)
        return pack_rtcp(PT_BYE, len(self.ssrcs), bytes(out))


@dataclass(frozen=True, slots=True)
class Unknown:
    """Any RTCP packet this module does not decode (APP, XR, SLI, ...), body kept as is."""

    pt: int
    count: int
    body: bytes

    @classmethod
    def parse(cls, data: bytes) -> Unknown:
        if len(data) < 4:
            raise RtcpParseError("RTCP packet is shorter than 4 bytes")
        pt = data[1]
        count, body = unpack_rtcp(data, pt)
        return cls(pt, count, body)

    def __bytes__(self) -> bytes:
        return pack_rtcp(self.pt, self.count, self.body)


AnyRtcp = SenderReport | ReceiverReport | Sdes | Bye | GenericNack | TransportCc | Pli | Fir | Remb | Unknown


# --- compound packets (RFC 3550 §6.1) ----------------------------------------------------------------


def iter_rtcp_raw(compound: bytes) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(pt, count_or_fmt, start, end)`` per packet without decoding the bodies.

    For the forwarding path, which only needs to spot NACK/PLI/FIR and relay or drop the
    rest. Raises :class:`RtcpParseError` when a header or length does not fit.
    """
    n = len(compound)
    pos = 0
    while pos < n:
        if pos + 4 > n:
            raise RtcpParseError("RTCP packet is shorter than 4 bytes")
        b0, pt, words = _HDR.unpack_from(compound, pos)
        if b0 & 0xC0 != 0x80:
            raise RtcpParseError("RTCP version is not 2")
        end = pos + 4 + words * 4
        if end > n:
            raise RtcpParseError("RTCP length field runs past the compound packet")
        yield pt, b0 & 0x1F, pos, end
        pos = end


def parse_rtcp(packet: bytes) -> AnyRtcp:
    """Decode one RTCP packet (header included) into its dataclass, or :class:`Unknown`."""
    if len(packet) < 4:
        raise RtcpParseError("RTCP packet is shorter than 4 bytes")
    pt = packet[1]
    fmt = packet[0] & 0x1F
    if pt == PT_SR:
        return SenderReport.parse(packet)
    if pt == PT_RR:
        return ReceiverReport.parse(packet)
    if pt == PT_SDES:
        return Sdes.parse(packet)
    if pt == PT_BYE:
        return Bye.parse(packet)
    if pt == PT_RTPFB:
        if fmt == FMT_NACK:
            return GenericNack.parse(packet)
        if fmt == FMT_TWCC:
            return TransportCc.parse(packet)
    elif pt == PT_PSFB:
        if fmt == FMT_PLI:
            return Pli.parse(packet)
        if fmt == FMT_FIR:
            return Fir.parse(packet)
        if fmt == FMT_AFB and packet[12:16] == b"REMB":
            return Remb.parse(packet)
    return Unknown.parse(packet)


def iter_rtcp(compound: bytes) -> Iterator[AnyRtcp]:
    """Yield each packet of a compound RTCP packet (RFC 3550 §6.1), decoded.

    Raises :class:`RtcpParseError` on malformed lengths or bodies. Reduced-size RTCP
    (RFC 5506) is accepted: the first packet need not be a report.
    """
    data = bytes(compound)
    for _pt, _fmt, start, end in iter_rtcp_raw(data):
        yield parse_rtcp(data[start:end])


def build_compound(packets: Iterable[AnyRtcp]) -> bytes:
    """Concatenate packets into one compound packet (RFC 3550 §6.1)."""
    return b"".join(bytes(p) for p in packets)
