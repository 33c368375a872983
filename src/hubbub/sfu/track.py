"""UpTrack: a published track as the SFU receives it.

What is per source (receive statistics for Receiver Reports, the NACK cache keyed by the
publisher's sequence numbers, keyframe detection, the last Sender Report for lip sync
downstream, the keyframe-request throttle, a bitrate meter) is a :class:`Layer`; what is per
track (codecs, header extensions, the audio level meter, the down-tracks) is the
:class:`UpTrack`. A single-layer track is its own one layer; a simulcast one has a layer per
rid. Nothing here does I/O: the router reads the state and writes to the sinks.

``DownTrack``, one subscriber's copy of an up-track, is declared here too: its logic is
:class:`~hubbub.sfu.downtrack.DownTrackBase`, bound here to ``UpTrack``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from hubbub.proto import rtp, rtp_ext
from hubbub.proto.rtcp import GenericNack, ReportBlock
from hubbub.sfu import vp8
from hubbub.sfu.downtrack import DownTrackBase
from hubbub.sfu.layers import LAYER_TIMEOUT, RATE_WINDOW, LayerInfo
from hubbub.sfu.nack import NackRequester
from hubbub.sfu.packet_cache import PacketCache
from hubbub.sfu.speakers import AudioLevelMeter
from hubbub.sfu.stats import ReceiveStats
from hubbub.sfu.types import PacketSink

__all__ = [
    "DUPLICATE",
    "FORWARD",
    "KEYFRAME",
    "UNKNOWN_PT",
    "Codec",
    "DownTrack",
    "Layer",
    "TrackKind",
    "UpTrack",
    "bind_layer",
    "layer_for_stream_id",
]

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


class Layer:
    """One RTP source of a published track: a media SSRC, optionally an RTX SSRC, and what is
    per source: receive statistics, the NACK cache, keyframes, the keyframe-request throttle,
    the last Sender Report and a bitrate meter.

    A single-layer :class:`UpTrack` is its own one layer. A simulcast up-track (RFC 8853) has
    one :class:`Layer` per rid, lowest resolution first (``spatial`` is its index); their SSRCs
    are learned from the first packets (RFC 8852 rtp-stream-id / repaired-rtp-stream-id) and
    are -1 until then.
    """

    __slots__ = (
        "_rate_bytes",
        "_rate_start",
        "bitrates",
        "bye_received",
        "cache",
        "duplicates",
        "height",
        "keyframe_pending",
        "keyframe_requests",
        "keyframes",
        "keyframes_at_request",
        "last_keyframe_request",
        "last_packet",
        "nacks",
        "next_report",
        "packets",
        "rid",
        "rtx_packets",
        "rtx_ssrc",
        "spatial",
        "sr_ntp",
        "sr_rtp",
        "sr_time",
        "ssrc",
        "stats",
        "temporal_layers",
        "track",
        "width",
    )

    def __init__(
        self,
        track: UpTrack,
        *,
        spatial: int,
        rid: str | None,
        ssrc: int,
        rtx_ssrc: int | None,
        clock_rate: int,
        cache_size: int,
    ) -> None:
        self.track = track
        self.spatial = spatial
        self.rid = rid
        self.ssrc = ssrc
        self.rtx_ssrc = rtx_ssrc
        self.stats = ReceiveStats(clock_rate)
        self.cache = PacketCache(cache_size)
        self.nacks = NackRequester()  # what the uplink lost, to ask the publisher for (video)
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
        self.width = 0  # from the last VP8 key frame, 0 while unknown
        self.height = 0
        self.last_packet = float("-inf")
        self.temporal_layers = 1  # the highest temporal layer seen + 1
        self.bitrates: tuple[int, ...] = ()  # bit/s of temporal layers 0..t, over the last window
        self._rate_bytes = [0, 0, 0, 0]
        self._rate_start = float("-inf")

    def nack(self, sender_ssrc: int, now: float) -> bytes | None:
        """The Generic NACK (RFC 4585 §6.2.1) due now for what the uplink lost, if any."""
        seqs = self.nacks.take_due(now)
        return bytes(GenericNack.from_sequences(sender_ssrc, self.ssrc, seqs)) if seqs and self.ssrc >= 0 else None

    @property
    def keyframe_awaited(self) -> bool:
        """No keyframe has arrived since the last PLI (or at all, before any): one may be on its way."""
        return self.keyframes == self.keyframes_at_request

    def bind(self, ssrc: int, *, repair: bool, cache_size: int) -> None:
        """Learn the media (or, with ``repair``, the RTX) SSRC; a new media SSRC starts anew."""
        if repair:
            self.rtx_ssrc = ssrc
            return
        if self.ssrc >= 0:
            self.stats = ReceiveStats(self.track.clock_rate)
            self.cache = PacketCache(cache_size)
            self.nacks = NackRequester()
        self.ssrc = ssrc

    # --- receive path ---------------------------------------------------------------------------

    def receive(
        self, packet: bytes, pt: int, seq: int, ts: int, hlen: int, pad: int, now: float, retransmission: bool
    ) -> int:
        """Account for one valid packet of this layer: KEYFRAME, FORWARD, DUPLICATE or UNKNOWN_PT.

        Duplicates (the cache holds the seq already) and unknown payload types are not forwarded.
        May raise ``ValueError`` on a malformed header extension (the publisher's fault).
        """
        track = self.track
        kf_fn = track.keyframe_fns.get(pt, _unknown_pt)
        if kf_fn is _unknown_pt:
            return UNKNOWN_PT
        if not self.cache.put(seq, packet):
            self.duplicates += 1
            return DUPLICATE
        self.packets += 1
        self.last_packet = now
        if track is not self:  # a simulcast track counts its layers' packets too
            track.packets += 1
            track.last_packet = now
        if track.kind == "video":
            self.nacks.on_packet(seq, now)
        if retransmission:
            # Recovered packets are left out of the loss/jitter the publisher is told about,
            # as receivers of RTX usually do: the report describes the network.
            self.rtx_packets += 1
        else:
            self.stats.update(seq, ts, now)
        level_id = track.level_ext_id
        if level_id >= 0 and packet[0] & 0x10:
            # RFC 6464 §3 ssrc-audio-level: V bit and -dBov in one byte.
            pos = rtp_ext.find_ext_offset(packet, 12 + (packet[0] & 0x0F) * 4, level_id)
            if 0 <= pos < len(packet) and track.level_meter is not None:
                b = packet[pos]
                track.level_meter.add(b & 0x7F, bool(b & 0x80))
        if kf_fn is None:
            return FORWARD
        if kf_fn(memoryview(packet)[hlen : len(packet) - pad]):
            self.keyframes += 1
            self.keyframe_pending = False
            return KEYFRAME
        return FORWARD

    def measure(self, tid: int, size: int, now: float) -> None:
        """Count ``size`` payload octets of temporal layer ``tid`` (0 when there are none)."""
        elapsed = now - self._rate_start
        if elapsed >= RATE_WINDOW:
            counts = self._rate_bytes
            if elapsed < 2 * RATE_WINDOW:  # a window just closed; after a pause, start over
                total = 0
                rates = []
                for t in range(self.temporal_layers):
                    total += counts[t]
                    rates.append(round(total * 8 / elapsed))
                self.bitrates = tuple(rates)
            else:
                self.bitrates = ()
            self._rate_bytes = [0, 0, 0, 0]
            self._rate_start = now
        t = tid if 0 <= tid < 4 else 0
        self._rate_bytes[t] += size
        if t >= self.temporal_layers:
            self.temporal_layers = t + 1

    def inspect(
        self, packet: bytes, pt: int, hlen: int, pad: int, keyframe: bool, now: float
    ) -> vp8.Vp8Descriptor | None:
        """A simulcast packet's VP8 descriptor (None for other codecs or a truncated one), with
        its bitrate counted and a key frame's size kept."""
        payload = memoryview(packet)[hlen : len(packet) - pad]
        desc = vp8.parse(payload) if pt in self.track.vp8_pts else None
        self.measure(desc.tid if desc is not None else 0, len(payload), now)
        if keyframe and desc is not None:
            dims = vp8.keyframe_size(payload, desc.size)
            if dims is not None:
                self.width, self.height = dims
        return desc

    def active(self, now: float) -> bool:
        """A packet arrived within :data:`LAYER_TIMEOUT` seconds."""
        return now - self.last_packet < LAYER_TIMEOUT

    def info(self, now: float) -> LayerInfo:
        """What an allocator needs of this layer now (see :class:`~hubbub.sfu.layers.LayerInfo`)."""
        active = self.active(now) and self.ssrc >= 0
        return LayerInfo(
            self.spatial,
            self.rid,
            active,
            self.width,
            self.height,
            self.bitrates if active and now - self._rate_start < 2 * RATE_WINDOW else (),
        )

    # --- RTCP -------------------------------------------------------------------------------------

    def on_sender_report(self, ntp_sec: int, ntp_frac: int, rtp_ts: int, now: float) -> None:
        """Remember the publisher's NTP/RTP pair (RFC 3550 §6.4.1) and when it arrived."""
        self.sr_ntp = (ntp_sec << 32) | ntp_frac
        self.sr_rtp = rtp_ts
        self.sr_time = now
        if self.track is not self:  # a simulcast track keeps its layers' latest
            self.track.on_sender_report(ntp_sec, ntp_frac, rtp_ts, now)

    def report_block(self, now: float) -> ReportBlock:
        """A reception report block about this layer (RFC 3550 §6.4.1, A.3, A.8)."""
        fraction, lost, highest, jitter = self.stats.report()
        lsr = dlsr = 0
        if self.sr_time is not None:
            lsr = (self.sr_ntp >> 16) & 0xFFFFFFFF  # middle 32 bits of the SR's NTP time
            dlsr = max(0, min(0xFFFFFFFF, int((now - self.sr_time) * 65536)))  # 1/65536 s
        return ReportBlock(self.ssrc, fraction, lost, highest, jitter & 0xFFFFFFFF, lsr, dlsr)


class UpTrack(Layer):
    """One published track and its down-tracks; a single-layer track is its own :class:`Layer`.

    With ``rids`` (RFC 8851 rid simulcast, lowest resolution first) it has one layer per rid
    in :attr:`layers` instead, and its own ``ssrc`` is -1.
    """

    __slots__ = (
        "_rtx_to_media",
        "by_rid",
        "clock_rate",
        "cname",
        "codecs",
        "down_tracks",
        "elastic",
        "ext_ids",
        "keyframe_fns",
        "kind",
        "layers",
        "level_ext_id",
        "level_meter",
        "mid",
        "publisher",
        "publisher_key",
        "simulcast",
        "source",
        "track_id",
        "vp8_pts",
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
        rids: Sequence[str] = (),
        mid: str | None = None,
    ) -> None:
        parsed = [c if isinstance(c, Codec) else Codec(*c) for c in codecs]
        if not parsed:
            raise ValueError("an up-track needs at least one codec")
        if kind not in ("audio", "video"):
            raise ValueError(f"unknown track kind {kind!r}")
        if rids and (kind != "video" or len(set(rids)) != len(rids)):
            raise ValueError("simulcast needs a video track and distinct rids")
        self.clock_rate = parsed[0].clock_rate
        super().__init__(
            self,
            spatial=0,
            rid=None,
            ssrc=-1 if rids else ssrc,
            rtx_ssrc=None if rids else rtx_ssrc,
            clock_rate=self.clock_rate,
            cache_size=cache_size,
        )
        self.track_id = track_id
        self.kind = kind
        self.mid = mid
        self.codecs = {c.pt: c for c in parsed}
        self._rtx_to_media = {c.rtx_pt: c.pt for c in parsed if c.rtx_pt is not None}
        self.keyframe_fns: dict[int, _KeyframeFn | None] = {
            c.pt: _KEYFRAME_DETECTORS.get(c.mime.lower()) if kind == "video" else None for c in parsed
        }
        self.vp8_pts = frozenset(c.pt for c in parsed if c.mime.lower() == "video/vp8")
        self.ext_ids = dict(ext_ids)
        self.level_ext_id = ext_ids.get(rtp_ext.URI_AUDIO_LEVEL, -1) if level_meter is not None else -1
        self.level_meter = level_meter
        self.publisher = publisher
        self.publisher_key = publisher_key
        self.cname = cname  # RFC 3550 §6.5.1, repeated in the down-tracks' SDES
        self.down_tracks: tuple[DownTrack, ...] = ()
        self.simulcast = bool(rids)
        self.source = "camera"  # or "screen", "microphone": what the allocator gives priority to
        # one video layer whose publisher follows the rate the SFU sends it (hubbub.sfu.uplink)
        self.elastic = False
        self.layers: tuple[Layer, ...] = (
            tuple(
                Layer(self, spatial=i, rid=r, ssrc=-1, rtx_ssrc=None, clock_rate=self.clock_rate, cache_size=cache_size)
                for i, r in enumerate(rids)
            )
            if rids
            else (self,)
        )
        self.by_rid = {layer.rid: layer for layer in self.layers if layer.rid is not None}

    def media_pt_for_rtx(self, rtx_pt: int) -> int | None:
        """The payload type an RTX payload type repairs (RFC 4588 §8.6 ``apt``)."""
        return self._rtx_to_media.get(rtx_pt)

    def layer_infos(self, now: float) -> tuple[LayerInfo, ...]:
        """Each layer's :class:`~hubbub.sfu.layers.LayerInfo`, lowest first."""
        return tuple(layer.info(now) for layer in self.layers)


def bind_layer(
    tracks: Sequence[UpTrack] | None,
    table: dict[int, Layer],
    packet: bytes,
    ssrc: int,
    known: set[int],
    cache_size: int,
) -> Layer | None:
    """The simulcast layer of ``tracks`` (one publisher's) a packet on an unknown SSRC belongs to,
    now bound to that SSRC in the publisher's ``table`` (and ``known``, the room's SSRCs).

    RFC 8852 §3: rtp-stream-id names the layer of a media SSRC, repaired-rtp-stream-id the
    one an RTX SSRC repairs; sdes:mid (RFC 8843 §15) the track, when present. None when
    the packet names none of this publisher's layers. May raise ``ValueError`` (a malformed
    extension block).
    """
    found = layer_for_stream_id(tracks, packet) if tracks and ssrc not in known else None
    if found is None:
        return None
    layer, repair = found
    old = layer.rtx_ssrc if repair else layer.ssrc
    if old is not None and old >= 0 and table.get(old) is layer:
        del table[old]
    layer.bind(ssrc, repair=repair, cache_size=cache_size)
    table[ssrc] = layer
    known.add(ssrc)
    return layer


def layer_for_stream_id(tracks: Iterable[UpTrack], packet: bytes) -> tuple[Layer, bool] | None:
    """The simulcast layer a packet names, and whether it repairs it (an RTX packet), or None.

    RFC 8852 §3: rtp-stream-id names a layer's media stream, repaired-rtp-stream-id the one an
    RTX stream repairs; sdes:mid (RFC 8843 §15) names the track and is needed when there are
    several. May raise ``ValueError`` on a malformed header extension block.
    """
    if not packet[0] & 0x10:
        return None
    offset = 12 + (packet[0] & 0x0F) * 4
    candidates = tuple(tracks)
    for up in candidates:
        ids = up.ext_ids
        mid = _sdes(packet, offset, ids.get(rtp_ext.URI_MID))
        if (mid is not None and mid != up.mid) or (mid is None and len(candidates) > 1):
            continue
        repaired = _sdes(packet, offset, ids.get(rtp_ext.URI_REPAIRED_RID))
        rid = repaired if repaired is not None else _sdes(packet, offset, ids.get(rtp_ext.URI_RID))
        layer = up.by_rid.get(rid) if rid is not None else None
        if layer is not None:
            return layer, repaired is not None
    return None


def _sdes(packet: bytes, offset: int, ext_id: int | None) -> str | None:
    """An SDES item header extension's value (RFC 8852 §3, RFC 8843 §15), None when absent."""
    if ext_id is None:
        return None
    value = rtp_ext.find_ext(packet, offset, ext_id)
    return rtp_ext.parse_sdes_id(value) if value is not None else None


class DownTrack(DownTrackBase["UpTrack"]):
    """One subscriber's copy of an :class:`UpTrack` (all of it is :class:`DownTrackBase`).

    The up-track holds its down-tracks and each down-track its up-track; the down-track's logic
    lives in :mod:`hubbub.sfu.downtrack` and reads its up-track through the ``Source`` protocol,
    so that module needs nothing of this one and the two do not import each other.
    """

    __slots__ = ()
