"""Router: one room's routing of RTP and RTCP between publishers and subscribers.

Sans-I/O: bytes come in through ``on_rtp`` / ``on_rtcp_from_publisher`` / ``on_rtcp_from_subscriber``
with the arrival time ``now``, and go out through each peer's :class:`PacketSink`, synchronously,
from those calls and from :meth:`Router.tick` (reports, deferred keyframe requests, NACKs). The
router reads no clock; randomness (SSRCs, initial seq/ts) comes from an injected ``random.Random``.
Untrusted input never raises: malformed or unknown packets are counted in :attr:`Router.drops`.

Simulcast (RFC 8853): a layer per rid, bound to its SSRCs from its packets' extensions
(``hubbub.sfu.track.bind_layer``), each with its own cache, statistics, keyframe requests and RR
block; every down-track sees every layer's packets and forwards one (``hubbub.sfu.layers``).
Each subscriber's estimate is shared among its down-tracks by a ``hubbub.sfu.downlink.Downlink``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from hubbub.proto import rtp_ext
from hubbub.proto.cc.publisher import PublisherFeedback, publisher_feedback
from hubbub.proto.rtcp import (
    PT_BYE,
    PT_PSFB,
    PT_RR,
    PT_RTPFB,
    PT_SR,
    Bye,
    Fir,
    GenericNack,
    Pli,
    ReceiverReport,
    Sdes,
    SenderReport,
    iter_rtcp_raw,
)
from hubbub.proto.rtcp_feedback import FMT_FIR, FMT_NACK, FMT_PLI
from hubbub.proto.rtp import header_fields, rtx_unwrap
from hubbub.sfu.downlink import Downlink
from hubbub.sfu.forwarder import Forwarder, PythonForwarder
from hubbub.sfu.layers import MAX_TEMPORAL
from hubbub.sfu.speakers import ActiveSpeakerDetector
from hubbub.sfu.track import (
    DUPLICATE,
    KEYFRAME,
    Codec,
    CodecTuple,
    DownTrack,
    Layer,
    TrackKind,
    UpTrack,
    bind_layer,
)
from hubbub.sfu.types import PacketSink
from hubbub.sfu.uplink import PublisherLimits

__all__ = ["Router", "RouterConfig"]


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """Tunables of a room's router. Times in seconds."""

    keyframe_request_interval: float = 0.5  # at most one PLI per up-track per interval
    keyframe_retry_interval: float = 0.35  # repeat an unanswered PLI while a subscriber waits
    report_interval: float = 1.0  # SR per down-track, RR per up-track (RFC 3550 §6.2)
    video_cache_size: int = 1024  # packets kept per video up-track for NACK
    audio_cache_size: int = 128
    max_nacks_per_packet: int = 512  # sequence numbers honoured per NACK packet
    cname: str = "hubbub-sfu"  # our CNAME in Receiver Reports (RFC 3550 §6.5.1)
    wall_clock_offset: float = 0.0  # Unix time minus ``now``, for SRs sent before a publisher SR


class Router:
    """Per-room SFU core: up-tracks, down-tracks, feedback and reports."""

    def __init__(
        self,
        config: RouterConfig | None = None,
        *,
        forwarder: Forwarder | None = None,
        rng: random.Random | None = None,
        speakers: ActiveSpeakerDetector | None = None,
    ) -> None:
        self.config = config or RouterConfig()
        self.forwarder: Forwarder = forwarder or PythonForwarder()
        self.speakers = speakers or ActiveSpeakerDetector()
        self._rng = rng or random.Random()
        self._ssrcs: set[int] = set()  # every SSRC seen or handed out in this room
        self._tracks: dict[str, UpTrack] = {}
        self._by_publisher: dict[Hashable, dict[int, Layer]] = {}  # media and RTX SSRCs
        self._simulcast: dict[Hashable, tuple[UpTrack, ...]] = {}  # layers to bind, by publisher
        self._downs: dict[int, DownTrack] = {}  # by media and RTX SSRC
        self._subscriptions: dict[tuple[str, Hashable], DownTrack] = {}
        self._downlinks: dict[Hashable, Downlink] = {}  # by subscriber: wishes, estimate, allocation
        # rate feedback (transport-wide CC, REMB) per publisher connection that negotiated one
        self._feedback: dict[Hashable, tuple[PublisherFeedback, PacketSink]] = {}
        self._limits = PublisherLimits()  # such connections' limits, and which tracks are elastic
        self.drops: Counter[str] = Counter()
        # (subscriber key, track id, active, reason): a down-track paused or resumed
        self.on_stream_state: Callable[[Hashable, str, bool, str], None] | None = None
        self.rtcp_ssrc = self.allocate_ssrc()  # our SSRC as a receiver / feedback sender
        self._sdes = bytes(Sdes.with_cname(self.rtcp_ssrc, self.config.cname))

    # --- membership -------------------------------------------------------------------------------

    def allocate_ssrc(self) -> int:
        """A fresh non-zero SSRC unused anywhere in this room (RFC 3550 §8.1)."""
        while True:
            ssrc = self._rng.getrandbits(32)
            if ssrc and ssrc not in self._ssrcs:
                self._ssrcs.add(ssrc)
                return ssrc

    def up_track(self, track_id: str) -> UpTrack | None:
        return self._tracks.get(track_id)

    def down_track(self, track_id: str, subscriber_key: Hashable) -> DownTrack | None:
        return self._subscriptions.get((track_id, subscriber_key))

    def add_up_track(
        self,
        track_id: str,
        *,
        kind: TrackKind,
        ssrc: int,
        rtx_ssrc: int | None = None,
        codecs: Iterable[CodecTuple | Codec],
        ext_ids: Mapping[str, int] | None = None,
        publisher: PacketSink,
        publisher_key: Hashable,
        cname: str | None = None,
        rids: Sequence[str] = (),
        mid: str | None = None,
    ) -> UpTrack:
        """Register a published track; ``codecs`` are ``(pt, mime, clock_rate, rtx_pt | None)``.

        With ``rids`` (rid simulcast, lowest resolution first) ``ssrc`` and ``rtx_ssrc`` are
        ignored: each layer's SSRCs are learned from its packets, which must carry the
        rtp-stream-id extension (and sdes:mid, ``mid``, when the publisher has several).
        """
        if track_id in self._tracks:
            raise ValueError(f"track {track_id!r} already exists")
        table = self._by_publisher.setdefault(publisher_key, {})
        for s in (ssrc, rtx_ssrc) if not rids else ():
            if s is not None and s in table:
                raise ValueError(f"SSRC {s} is already used by this publisher")
        ext_ids = ext_ids or {}
        meter = None
        if kind == "audio" and rtp_ext.URI_AUDIO_LEVEL in ext_ids:
            meter = self.speakers.add_track(track_id)
        up = UpTrack(
            track_id,
            kind=kind,
            ssrc=ssrc,
            rtx_ssrc=rtx_ssrc,
            codecs=codecs,
            ext_ids=ext_ids,
            publisher=publisher,
            publisher_key=publisher_key,
            cache_size=self.config.video_cache_size if kind == "video" else self.config.audio_cache_size,
            cname=cname if cname is not None else str(publisher_key),
            level_meter=meter,
            rids=rids,
            mid=mid,
        )
        self._tracks[track_id] = up
        feedback = self._feedback.get(publisher_key)
        if feedback is None or feedback[1] is not publisher:  # a new connection starts anew
            fresh = publisher_feedback(ext_ids, self.rtcp_ssrc)
            if fresh is not None:
                self._feedback[publisher_key] = (fresh, publisher)
                self._limits.forget(publisher_key)
        self._limits.classify(publisher_key, self._tracks.values(), publisher_key in self._feedback)
        if up.simulcast:
            self._simulcast[publisher_key] = (*self._simulcast.get(publisher_key, ()), up)
            return up
        table[ssrc] = up
        self._ssrcs.add(ssrc)
        if rtx_ssrc is not None:
            table[rtx_ssrc] = up
            self._ssrcs.add(rtx_ssrc)
        return up

    def remove_up_track(self, track_id: str) -> UpTrack | None:
        """Unregister a track and end every subscription to it."""
        up = self._tracks.get(track_id)
        if up is None:
            return None
        for dt in up.down_tracks:
            self.unsubscribe(track_id, dt.subscriber_key)
        self._detach(up)
        return up

    def replace_up_track(
        self,
        track_id: str,
        *,
        kind: TrackKind,
        ssrc: int,
        rtx_ssrc: int | None = None,
        codecs: Iterable[CodecTuple | Codec],
        ext_ids: Mapping[str, int] | None = None,
        publisher: PacketSink,
        publisher_key: Hashable,
        cname: str | None = None,
        rids: Sequence[str] = (),
        mid: str | None = None,
        now: float,
    ) -> UpTrack:
        """Give a track a new source (e.g. the publisher reconnected with new SSRCs).

        Subscriptions carry over with their SSRCs; each subscriber sees one continuous stream
        (seq +1, ts advanced by the elapsed time) and video resumes on a keyframe, requested here.
        """
        old = self._tracks.get(track_id)
        downs = old.down_tracks if old is not None else ()
        if old is not None:
            old.down_tracks = ()
            self._detach(old)
        up = self.add_up_track(
            track_id,
            kind=kind,
            ssrc=ssrc,
            rtx_ssrc=rtx_ssrc,
            codecs=codecs,
            ext_ids=ext_ids,
            publisher=publisher,
            publisher_key=publisher_key,
            cname=cname,
            rids=rids,
            mid=mid,
        )
        for dt in downs:
            dt.switch_up_track(up, now)
        up.down_tracks = downs
        self.forwarder.update(up)
        for dt in downs:
            self._request_keyframe(dt.up.layers[dt.keyframe_layer], now)
        return up

    def _detach(self, up: UpTrack) -> None:
        """Forget an up-track (its subscriptions are handled by the caller)."""
        self._tracks.pop(up.track_id, None)
        table = self._by_publisher.get(up.publisher_key, {})
        for layer in up.layers:
            for s in (layer.ssrc, layer.rtx_ssrc):
                if s is not None and table.get(s) is layer:
                    del table[s]
        if up.simulcast:
            left = tuple(t for t in self._simulcast.get(up.publisher_key, ()) if t is not up)
            if left:
                self._simulcast[up.publisher_key] = left
            else:
                self._simulcast.pop(up.publisher_key, None)
        if not table and up.publisher_key not in self._simulcast:
            self._by_publisher.pop(up.publisher_key, None)
            self._feedback.pop(up.publisher_key, None)
            self._limits.forget(up.publisher_key)
        self._limits.classify(up.publisher_key, self._tracks.values(), up.publisher_key in self._feedback)
        self.speakers.remove_track(up.track_id)
        self.forwarder.release(up)

    def subscribe(
        self,
        track_id: str,
        subscriber_key: Hashable,
        sink: PacketSink,
        *,
        ssrc: int,
        rtx_ssrc: int | None = None,
        pt_map: Mapping[int, int] | None = None,
        rtx_pt: int | Mapping[int, int] | None = None,
        ext_ids: Mapping[str, int] | None = None,
        receiving: bool = True,
    ) -> DownTrack:
        """Start forwarding ``track_id`` to a subscriber under SSRCs from :meth:`allocate_ssrc`.

        ``pt_map`` maps publisher payload types to the subscriber's (identity by default;
        unmapped types are not forwarded); ``rtx_pt`` is the subscriber's RTX payload type, or
        one per subscriber media payload type. A video subscription waits for a keyframe and
        asks the publisher for one (sent on the next packet or tick). With ``receiving=False``
        (the subscriber cannot decode it yet) no keyframe is asked for until
        :meth:`start_receiving`.
        """
        up = self._tracks.get(track_id)
        if up is None:
            raise ValueError(f"no track {track_id!r}")
        key = (track_id, subscriber_key)
        if key in self._subscriptions:
            raise ValueError(f"{subscriber_key!r} already subscribes to {track_id!r}")
        for s in (ssrc, rtx_ssrc):
            if s is not None and s in self._downs:
                raise ValueError(f"SSRC {s} is already used by a subscription")
        rng = self._rng
        dt = DownTrack(
            up,
            subscriber_key,
            sink,
            ssrc=ssrc,
            rtx_ssrc=rtx_ssrc,
            pt_map=pt_map if pt_map is not None else {pt: pt for pt in up.codecs},
            rtx_pt=rtx_pt,
            ext_ids=ext_ids if ext_ids is not None else up.ext_ids,
            seq_base=rng.getrandbits(16),
            ts_base=rng.getrandbits(32),
            rtx_seq_base=rng.getrandbits(16),
            cname=up.cname,
        )
        dt.receiving = receiving
        self._subscriptions[key] = dt
        self._downs[ssrc] = dt
        if rtx_ssrc is not None:
            self._downs[rtx_ssrc] = dt
        self._ssrcs.update(s for s in (ssrc, rtx_ssrc) if s is not None)
        up.down_tracks = (*up.down_tracks, dt)
        self._downlinks.setdefault(subscriber_key, Downlink(subscriber_key)).add(track_id, dt)
        self.forwarder.update(up)
        if receiving:
            self.forwarder.attach(dt)
        if up.kind == "video" and receiving:
            dt.up.layers[dt.keyframe_layer].keyframe_pending = True
        return dt

    def unsubscribe(self, track_id: str, subscriber_key: Hashable) -> DownTrack | None:
        """Stop a subscription; the subscriber is told with an RTCP BYE (RFC 3550 §6.6)."""
        dt = self._subscriptions.pop((track_id, subscriber_key), None)
        if dt is None:
            return None
        dt.up.down_tracks = tuple(d for d in dt.up.down_tracks if d is not dt)
        downlink = self._downlinks.get(subscriber_key)
        if downlink is not None:
            downlink.remove(track_id)
            if not downlink.downs:
                del self._downlinks[subscriber_key]
        self.forwarder.update(dt.up)
        for s in (dt.ssrc, dt.rtx_ssrc):
            if s is not None and self._downs.get(s) is dt:
                del self._downs[s]
        if dt.munger.started:
            dt.sink.send_rtcp(bytes(Bye(tuple(s for s in (dt.ssrc, dt.rtx_ssrc) if s is not None))))
        return dt

    # --- RTP from publishers ------------------------------------------------------------------------

    def on_rtp(self, publisher_key: Hashable, packet: bytes, now: float) -> None:
        """One RTP packet from a publisher: account for it and fan it out.

        ``packet`` must be ``bytes`` (immutable): the NACK cache keeps a reference to it.
        """
        try:
            pt, seq, ts, ssrc, hlen, _marker, pad = header_fields(packet)
            table = self._by_publisher.get(publisher_key)
            if table is None:
                self.drops["unknown_ssrc"] += 1
                return
            feedback = self._feedback.get(publisher_key)
            if feedback is not None:  # every packet, padding probes, duplicates, unbound layers too
                rate = feedback[0]
                rate.on_packet(packet, ssrc, now)
                if now >= rate.next_send:
                    for message in rate.build(now):
                        feedback[1].send_rtcp(message)
            layer = table.get(ssrc)
            if layer is None:
                layer = bind_layer(
                    self._simulcast.get(publisher_key), table, packet, ssrc, self._ssrcs, self.config.video_cache_size
                )
                if layer is None:
                    self.drops["unknown_ssrc"] += 1
                    return
            up = layer.track
            rtx = ssrc != layer.ssrc
            if rtx:  # RFC 4588 §4: OSN + original payload on the RTX SSRC
                media_pt = up.media_pt_for_rtx(pt)
                if media_pt is None:
                    self.drops["unknown_pt"] += 1
                    return
                if len(packet) - pad - hlen < 2:  # padding-only bandwidth probe
                    self.drops["rtx_padding"] += 1
                    return
                if layer.ssrc < 0:  # repairs a layer whose media SSRC is not known yet
                    self.drops["unknown_ssrc"] += 1
                    return
                packet = rtx_unwrap(packet, layer.ssrc, media_pt)
                pt, seq, ts, _ssrc, hlen, _marker, pad = header_fields(packet)
            outcome = layer.receive(packet, pt, seq, ts, hlen, pad, now, rtx)
        except ValueError:  # RtpParseError, RtpExtensionError: the publisher's fault
            self.drops["malformed_rtp"] += 1
            return
        if outcome < 0:
            self.drops["duplicate" if outcome == DUPLICATE else "unknown_pt"] += 1
            return
        size = len(packet) - hlen - pad
        if up.simulcast:
            desc = layer.inspect(packet, pt, hlen, pad, outcome == KEYFRAME, now)
            self.forwarder.forward_layer(up, layer, packet, hlen, pt, seq, ts, outcome == KEYFRAME, size, now, desc)
        else:
            layer.measure(0, size, now)
            self.forwarder.forward(up, packet, pt, seq, ts, outcome == KEYFRAME, size, now)
        if layer.keyframe_pending and now - layer.last_keyframe_request >= self.config.keyframe_request_interval:
            self._request_keyframe(layer, now)
        if layer.nacks.due(now) and (nack := layer.nack(self.rtcp_ssrc, now)) is not None:
            up.publisher.send_rtcp(nack)  # what the uplink lost (sfu.nack)

    # --- keyframe requests (RFC 4585 §6.3.1) --------------------------------------------------------

    def request_keyframe(self, track_id: str, now: float) -> None:
        """Ask for a keyframe of a track (of each of its layers)."""
        up = self._tracks.get(track_id)
        if up is not None:
            for layer in up.layers:
                self._request_keyframe(layer, now)

    def _request_keyframe(self, layer: Layer, now: float) -> None:
        """PLI to the publisher, at most one per interval and layer; a throttled request (or one
        for a layer whose SSRC is not known yet) is kept pending."""
        if layer.track.kind != "video":
            return
        if now - layer.last_keyframe_request < self.config.keyframe_request_interval or layer.ssrc < 0:
            layer.keyframe_pending = True
            return
        self._send_pli(layer, now)

    def _send_pli(self, layer: Layer, now: float) -> None:
        if layer.ssrc < 0:
            layer.keyframe_pending = True
            return
        layer.last_keyframe_request = now
        layer.keyframe_pending = False
        layer.keyframe_requests += 1
        layer.keyframes_at_request = layer.keyframes
        layer.track.publisher.send_rtcp(bytes(Pli(self.rtcp_ssrc, layer.ssrc)))

    def set_target_layer(
        self, track_id: str, subscriber_key: Hashable, spatial: int, temporal: int = MAX_TEMPORAL, *, now: float
    ) -> bool:
        """The subscriber wants layers up to ``spatial`` (-1: none, a hidden video) and temporal ones
        up to ``temporal``; the allocation follows at once. False without such a subscription."""
        downlink = self._downlinks.get(subscriber_key)
        if downlink is None or track_id not in downlink.downs:
            return False
        downlink.wish(track_id, spatial, temporal)
        self._allocate(downlink, now)
        return True

    def downlink_budget(self, subscriber_key: Hashable) -> tuple[float, float] | None:
        """The send-side estimate towards a subscriber and what its wishes cost (bit/s), at the
        last allocation; None when it has no estimate."""
        dl = self._downlinks.get(subscriber_key)
        return (dl.estimate, dl.need) if dl is not None and dl.estimate is not None else None

    def _speaking(self) -> set[Hashable]:
        tracks = self._tracks
        return {tracks[t].publisher_key for t, _level in self.speakers.speakers() if t in tracks}

    def _allocate(self, downlink: Downlink, now: float) -> None:
        for dt in downlink.allocate(now, self._speaking):
            self._request_keyframe(dt.up.layers[dt.keyframe_layer], now)
        changes, downlink.changes = downlink.changes, []
        if self.on_stream_state is not None:
            for track_id, active, reason in changes:
                self.on_stream_state(downlink.key, track_id, active, reason)

    def start_receiving(self, track_id: str, subscriber_key: Hashable, now: float) -> None:
        """The subscriber can decode ``track_id`` now (connected, the offer with it accepted); what
        was forwarded before never reached a decoder. A video down-track waits for a keyframe again
        (in a new munger epoch: no hole to NACK), asked for at once past the throttle unless one is
        on its way (asked less than an interval ago, none since): the first picture must not wait
        out the throttle, and subscribers that connect together share the keyframe that is coming.
        :meth:`tick` repeats an unanswered request while a receiving down-track still waits."""
        dt = self._subscriptions.get((track_id, subscriber_key))
        if dt is None:
            return
        dt.receiving = True
        self.forwarder.attach(dt)  # the native fan-out takes it from here, if it can
        if not dt.restart():
            return
        layer = dt.up.layers[dt.keyframe_layer]
        if not layer.keyframe_awaited or now - layer.last_keyframe_request >= self.config.keyframe_request_interval:
            self._send_pli(layer, now)

    # --- RTCP ----------------------------------------------------------------------------------------

    def on_rtcp_from_publisher(self, publisher_key: Hashable, packet: bytes, now: float) -> None:
        """SR: remember the NTP/RTP pair for lip sync; BYE: mark the track; the rest is ignored."""
        table = self._by_publisher.get(publisher_key)
        if table is None:
            self.drops["unknown_publisher"] += 1
            return
        try:
            for pt, _fmt, start, end in iter_rtcp_raw(packet):
                if pt == PT_SR:  # RFC 3550 §6.4.1
                    sr = SenderReport.parse(packet[start:end])
                    layer = table.get(sr.ssrc)
                    if layer is not None and layer.ssrc == sr.ssrc:
                        layer.on_sender_report(sr.ntp_sec, sr.ntp_frac, sr.rtp_ts, now)
                elif pt == PT_BYE:  # RFC 3550 §6.6
                    for s in Bye.parse(packet[start:end]).ssrcs:
                        layer = table.get(s)
                        if layer is not None and layer.ssrc == s:
                            layer.bye_received = True
        except ValueError:
            self.drops["malformed_rtcp"] += 1

    def _down(self, subscriber_key: Hashable, ssrc: int) -> DownTrack | None:
        dt = self._downs.get(ssrc)
        if dt is None or dt.subscriber_key != subscriber_key:
            self.drops["unknown_ssrc_rtcp"] += 1
            return None
        return dt

    def on_rtcp_from_subscriber(self, subscriber_key: Hashable, packet: bytes, now: float) -> None:
        """Feedback from a subscriber (RFC 4585): NACK, PLI/FIR, RR. Its transport-wide CC feedback
        is the transport's (``PeerTransport.set_transport_cc``); REMB is not offered to subscribers."""
        try:
            for pt, fmt, start, end in iter_rtcp_raw(packet):
                if pt == PT_RTPFB and fmt == FMT_NACK:
                    self._on_nack(subscriber_key, GenericNack.parse(packet[start:end]), now)
                elif pt == PT_PSFB and fmt == FMT_PLI:
                    pli = Pli.parse(packet[start:end])
                    self._on_keyframe_request(subscriber_key, pli.media_ssrc, now)
                elif pt == PT_PSFB and fmt == FMT_FIR:  # RFC 5104 §4.3.1: SSRCs are in the FCI
                    for ssrc, _seq in Fir.parse(packet[start:end]).entries:
                        self._on_keyframe_request(subscriber_key, ssrc, now)
                elif pt in (PT_RR, PT_SR):  # RFC 3550 §6.4: reception report blocks
                    data = packet[start:end]
                    report = ReceiverReport.parse(data) if pt == PT_RR else SenderReport.parse(data)
                    for block in report.reports:
                        dt = self._downs.get(block.ssrc)
                        if dt is not None and dt.subscriber_key == subscriber_key and dt.ssrc == block.ssrc:
                            dt.on_receiver_report(block, now)
        except ValueError:
            self.drops["malformed_rtcp"] += 1

    def _on_nack(self, subscriber_key: Hashable, nack: GenericNack, now: float) -> None:
        """RFC 4585 §6.2.1: resend what the cache still holds, within the subscriber's budget."""
        dt = self._down(subscriber_key, nack.media_ssrc)
        downlink = self._downlinks.get(subscriber_key)
        seqs = nack.lost_sequences()[: self.config.max_nacks_per_packet]
        if dt is not None and downlink is not None and (held := downlink.resend(dt, seqs, now)):
            self.drops["resend_over_budget"] += held

    def _on_keyframe_request(self, subscriber_key: Hashable, ssrc: int, now: float) -> None:
        dt = self._down(subscriber_key, ssrc)
        if dt is not None:
            dt.plis_received += 1
            self._request_keyframe(dt.up.layers[dt.keyframe_layer], now)

    # --- timers ----------------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Periodic work: SR + SDES to subscribers, RR + SDES to publishers, pending PLIs, and the
        rate feedback still owed to a publisher whose packets stopped."""
        cfg = self.config
        interval = cfg.report_interval
        for rate, sink in tuple(self._feedback.values()):  # what is owed since the last packet's feedback
            if rate.due(now):
                for message in rate.build(now):
                    sink.send_rtcp(message)
        due = [downlink for downlink in self._downlinks.values() if now >= downlink.next_allocation]
        for downlink in due:
            self._allocate(downlink, now)
        self._limits.run(now, bool(due), self._tracks.values(), self._feedback, self._downlinks, self.rtcp_ssrc)
        for up in tuple(self._tracks.values()):
            if up.simulcast:
                for dt in up.down_tracks:
                    dt.check_layers(now)  # a stopped layer is stood in for (hubbub.sfu.layers)
            for layer in up.layers:
                if layer.nacks.due(now) and (nack := layer.nack(self.rtcp_ssrc, now)) is not None:
                    up.publisher.send_rtcp(nack)
                if layer.keyframe_pending and now - layer.last_keyframe_request >= cfg.keyframe_request_interval:
                    self._request_keyframe(layer, now)
                elif (
                    up.kind == "video"
                    and layer.keyframe_awaited
                    and now - layer.last_keyframe_request >= cfg.keyframe_retry_interval
                    and any(dt.waits_for(layer.spatial) for dt in up.down_tracks)
                ):
                    # Unanswered: libwebrtc ignores a request within 300 ms of its last keyframe.
                    self._send_pli(layer, now)
                if layer.stats.started and now >= layer.next_report:
                    layer.next_report = now + interval
                    rr = ReceiverReport(self.rtcp_ssrc, (layer.report_block(now),))  # then CNAME (§6.1)
                    up.publisher.send_rtcp(bytes(rr) + self._sdes)
            for dt in up.down_tracks:
                if now >= dt.next_report:
                    report = dt.sender_report(now, cfg.wall_clock_offset)
                    if report is not None:
                        dt.next_report = now + interval
                        dt.sink.send_rtcp(report)

    # --- totals ------------------------------------------------------------------------------------------

    @property
    def nacks_unrecoverable(self) -> int:
        """NACKed packets that could not be resent (evicted, never received, muted gap)."""
        return sum(dt.nacks_unrecoverable for dt in self._subscriptions.values())
