"""UpTrack: a published track as the SFU receives it.

It owns what is per source: receive statistics (for Receiver Reports), the NACK cache keyed
by the publisher's sequence numbers, keyframe detection, the audio level meter, the last
Sender Report (for lip sync downstream) and the keyframe-request throttle. It does no I/O:
the router reads its state and writes to the sinks.

``DownTrack``, one subscriber's copy of an up-track, is declared here too: its logic is
:class:`~hubbub.sfu.downtrack.DownTrackBase`, bound here to ``UpTrack``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from hubbub.proto import rtp, rtp_ext
from hubbub.proto.rtcp import ReportBlock
from hubbub.sfu.downtrack import DownTrackBase
from hubbub.sfu.packet_cache import PacketCache
from hubbub.sfu.speakers import AudioLevelMeter
from hubbub.sfu.stats import ReceiveStats
from hubbub.sfu.types import PacketSink

__all__ = ["DUPLICATE", "FORWARD", "KEYFRAME", "UNKNOWN_PT", "Codec", "DownTrack", "TrackKind", "UpTrack"]

# Outcomes of UpTrack.receive
UNKNOWN_PT = -2
DUPLICATE = -1
FORWARD = 0
KEYFRAME = 1

TrackKind = Literal["audio", "video"]
CodecTuple = tuple[int, str, int, int | None]
_KeyframeFn = Callable[[memoryview], bool]

_KEYFRAME_DETECTORS: dict[str, _KeyframeFn] = {
    "video/vp8": rtp.vp8_is_keyframe,
    "video/vp9": rtp.vp9_is_keyframe,
    "video/h264": rtp.h264_is_keyframe,
}


def _unknown_pt(_payload: memoryview) -> bool:
    """Placeholder detector marking a payload type the track did not negotiate."""
    return False


@dataclass(frozen=True, slots=True)
class Codec:
    """A negotiated payload type (RFC 8866 §6.6 rtpmap) and its RTX payload type (RFC 4588 §8.6)."""

    pt: int
    mime: str
    clock_rate: int
    rtx_pt: int | None = None


class UpTrack:
    """One published track: a media SSRC, optionally an RTX SSRC, and its down-tracks."""

    __slots__ = (
        "_keyframe_fns",
        "_level_ext_id",
        "_rtx_to_media",
        "bye_received",
        "cache",
        "clock_rate",
        "cname",
        "codecs",
        "down_tracks",
        "duplicates",
        "ext_ids",
        "keyframe_pending",
        "keyframe_requests",
        "keyframes",
        "keyframes_at_request",
        "kind",
        "last_keyframe_request",
        "level_meter",
        "next_report",
        "packets",
        "publisher",
        "publisher_key",
        "rtx_packets",
        "rtx_ssrc",
        "sr_ntp",
        "sr_rtp",
        "sr_time",
        "ssrc",
        "stats",
        "track_id",
    )

    def __init__(
        self,
        track_id: str,
        *,
        kind: TrackKind,
        ssrc: int,
        rtx_ssrc: int | None,
        codecs: Iterable[CodecTuple | Codec],
        ext_ids: Mapping[str, int],
        publisher: PacketSink,
        publisher_key: Hashable,
        cache_size: int,
        cname: str,
        level_meter: AudioLevelMeter | None = None,
    ) -> None:
        parsed = [c if isinstance(c, Codec) else Codec(*c) for c in codecs]
        if not parsed:
            raise ValueError("an up-track needs at least one codec")
        if kind not in ("audio", "video"):
            raise ValueError(f"unknown track kind {kind!r}")
        self.track_id = track_id
        self.kind = kind
        self.ssrc = ssrc
        self.rtx_ssrc = rtx_ssrc
        self.codecs = {c.pt: c for c in parsed}
        self.clock_rate = parsed[0].clock_rate
        self._rtx_to_media = {c.rtx_pt: c.pt for c in parsed if c.rtx_pt is not None}
        self._keyframe_fns: dict[int, _KeyframeFn | None] = {
            c.pt: _KEYFRAME_DETECTORS.get(c.mime.lower()) if kind == "video" else None for c in parsed
        }
        self.ext_ids = dict(ext_ids)
        self._level_ext_id = ext_ids.get(rtp_ext.URI_AUDIO_LEVEL, -1) if level_meter is not None else -1
        self.level_meter = level_meter
        self.publisher = publisher
        self.publisher_key = publisher_key
        self.cname = cname  # RFC 3550 §6.5.1, repeated in the down-tracks' SDES
        self.stats = ReceiveStats(self.clock_rate)
        self.cache = PacketCache(cache_size)
        self.down_tracks: tuple[DownTrack, ...] = ()
        # Last Sender Report (RFC 3550 §6.4.1): 64-bit NTP time, RTP ts, local arrival time.
        self.sr_ntp = 0
        self.sr_rtp = 0
        self.sr_time: float | None = None
        self.bye_received = False
        self.keyframe_pending = False
        self.last_keyframe_request = float("-inf")
        self.next_report = 0.0
        self.packets = 0
        self.rtx_packets = 0
        self.duplicates = 0
        self.keyframes = 0
        self.keyframes_at_request = 0  # ``keyframes`` when the last PLI went out
        self.keyframe_requests = 0

    @property
    def keyframe_awaited(self) -> bool:
        """No keyframe has arrived since the last PLI (or at all, before any): one may be on its way."""
        return self.keyframes == self.keyframes_at_request

    # --- receive path ---------------------------------------------------------------------------

    def media_pt_for_rtx(self, rtx_pt: int) -> int | None:
        """The payload type an RTX payload type repairs (RFC 4588 §8.6 ``apt``)."""
        return self._rtx_to_media.get(rtx_pt)

    def receive(
        self, packet: bytes, pt: int, seq: int, ts: int, hlen: int, pad: int, now: float, retransmission: bool
    ) -> int:
        """Account for one valid packet of this track: KEYFRAME, FORWARD, DUPLICATE or UNKNOWN_PT.

        Duplicates (the cache holds the seq already) and unknown payload types are not forwarded.
        May raise ``ValueError`` on a malformed header extension (the publisher's fault).
        """
        kf_fn = self._keyframe_fns.get(pt, _unknown_pt)
        if kf_fn is _unknown_pt:
            return UNKNOWN_PT
        if not self.cache.put(seq, packet):
            self.duplicates += 1
            return DUPLICATE
        self.packets += 1
        if retransmission:
            # Recovered packets are left out of the loss/jitter the publisher is told about,
            # as receivers of RTX usually do: the report describes the network.
            self.rtx_packets += 1
        else:
            self.stats.update(seq, ts, now)
        if self._level_ext_id >= 0 and packet[0] & 0x10:
            # RFC 6464 §3 ssrc-audio-level: V bit and -dBov in one byte.
            pos = rtp_ext.find_ext_offset(packet, 12 + (packet[0] & 0x0F) * 4, self._level_ext_id)
            if 0 <= pos < len(packet) and self.level_meter is not None:
                b = packet[pos]
                self.level_meter.add(b & 0x7F, bool(b & 0x80))
        if kf_fn is None:
            return FORWARD
        if kf_fn(memoryview(packet)[hlen : len(packet) - pad]):
            self.keyframes += 1
            self.keyframe_pending = False
            return KEYFRAME
        return FORWARD

    # --- RTCP -------------------------------------------------------------------------------------

    def on_sender_report(self, ntp_sec: int, ntp_frac: int, rtp_ts: int, now: float) -> None:
        """Remember the publisher's NTP/RTP pair (RFC 3550 §6.4.1) and when it arrived."""
        self.sr_ntp = (ntp_sec << 32) | ntp_frac
        self.sr_rtp = rtp_ts
        self.sr_time = now

    def report_block(self, now: float) -> ReportBlock:
        """A reception report block about this track (RFC 3550 §6.4.1, A.3, A.8)."""
        fraction, lost, highest, jitter = self.stats.report()
        lsr = dlsr = 0
        if self.sr_time is not None:
            lsr = (self.sr_ntp >> 16) & 0xFFFFFFFF  # middle 32 bits of the SR's NTP time
            dlsr = max(0, min(0xFFFFFFFF, int((now - self.sr_time) * 65536)))  # 1/65536 s
        return ReportBlock(self.ssrc, fraction, lost, highest, jitter & 0xFFFFFFFF, lsr, dlsr)


class DownTrack(DownTrackBase["UpTrack"]):
    """One subscriber's copy of an :class:`UpTrack` (all of it is :class:`DownTrackBase`).

    The up-track holds its down-tracks and each down-track its up-track; the down-track's logic
    lives in :mod:`hubbub.sfu.downtrack` and reads its up-track through the ``Source`` protocol,
    so that module needs nothing of this one and the two do not import each other.
    """

    __slots__ = ()
