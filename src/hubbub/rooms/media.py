"""A room's media: peer transports per participant, the SFU router, and SDP negotiation.

Two peer connections per participant (docs/protocol.md): the *publisher* connection answers the
client's offers; its m-lines whose ``a=msid`` track id names a publication become up-tracks of
the router. The *subscriber* connection is created on the first subscription and carries one
sendonly m-line per subscribed track; the server offers, and at most one offer is outstanding:
changes made meanwhile are folded into the next offer once the answer arrives.

The room service drives this and nothing here calls back into it: publisher offers are read
(:meth:`RoomMedia.read_publisher_offer`), the service approves their lines, and then they are
answered (:meth:`RoomMedia.answer_publisher_offer`); the frames media has for a participant
(subscriber offers, subscription updates) wait in :meth:`RoomMedia.take_signals` for the service
to deliver, and :meth:`RoomMedia.tick` returns the active speakers when they change.

The router runs on the event loop's monotonic clock (``transport.now``); the room service's
wall clock is only for tokens.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hubbub.proto import sdp
from hubbub.proto.sdp_negotiation import NegotiatedMedia, NegotiationError, transport_parameters
from hubbub.rooms.dynacast import Dynacast
from hubbub.rooms.model import Participant, Publication, Room
from hubbub.rooms.ports import MediaPeer, MediaTransport
from hubbub.schema import signaling as sig
from hubbub.sfu import Router, RouterConfig, UpTrack
from hubbub.sfu.forwarder import make_forwarder
from hubbub.sfu.layers import quality_layer
from hubbub.sfu.negotiation import (
    OutgoingTrack,
    answer_publisher_offer,
    build_subscriber_offer,
    parse_subscriber_answer,
    simulcast_layers,
    subscriber_codecs,
    subscriber_transport_cc,
)
from hubbub.sfu.red import configure_down_track
from hubbub.transport import PeerState, PeerTransport

log = logging.getLogger("hubbub.media")

SPEAKER_INTERVAL = 0.3


class MediaError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class _Published:
    """What the publisher's offer negotiated for one publication (to build subscriber offers)."""

    negotiated: NegotiatedMedia
    source: tuple[int, ...] | tuple[str, ...]  # its SSRC, or its simulcast rids


@dataclass(frozen=True, slots=True)
class VideoQuality:
    """A subscriber's wish for one video: ``low``/``medium``/``high``, or the rendered size;
    none of it while not ``visible``."""

    quality: str = "high"
    width: int = 0
    height: int = 0
    visible: bool = True


@dataclass(frozen=True, slots=True)
class OfferedLine:
    """An m-line of a publisher offer that can carry a track: the room service approves it or not."""

    mid: str
    kind: str  # "audio" or "video"
    track_id: str  # its ``a=msid`` track id, "" without one


@dataclass(frozen=True, slots=True)
class PublisherOffer:
    """A parsed publisher offer and what each of its m-lines would negotiate (no transport yet)."""

    offer: sdp.SessionDescription
    ice_ufrag: str
    ice_pwd: str
    fingerprints: tuple[tuple[str, str], ...]
    mids: tuple[str, ...]  # every m-line's mid
    lines: tuple[OfferedLine, ...]  # those to approve


@dataclass(slots=True, eq=False)
class ParticipantMedia:
    participant: Participant
    publisher: MediaPeer | None = None
    publisher_fingerprints: tuple[tuple[str, str], ...] = ()
    publisher_ufrag: str = ""
    subscriber: MediaPeer | None = None
    outgoing: dict[str, OutgoingTrack] = field(default_factory=dict)  # by track sid
    last_offer: sdp.SessionDescription | None = None
    offered: frozenset[str] = frozenset()  # the track sids in ``last_offer``
    accepted: set[str] = field(default_factory=set)  # track sids in an answered offer
    offer_outstanding: bool = False
    dirty: bool = False
    next_mid: int = 0
    qualities: dict[str, VideoQuality] = field(default_factory=dict)  # by track sid

    def peers(self) -> list[MediaPeer]:
        return [p for p in (self.publisher, self.subscriber) if p is not None]


class _PublisherHandler:
    def __init__(self, media: RoomMedia, participant: Participant) -> None:
        self.router = media.router
        self.key = participant.sid
        self.now = media.transport_now
        self.media = media

    def on_rtp(self, peer: PeerTransport, packet: bytes) -> None:
        self.router.on_rtp(self.key, packet, self.now())

    def on_rtcp(self, peer: PeerTransport, packet: bytes) -> None:
        self.router.on_rtcp_from_publisher(self.key, packet, self.now())

    def on_state(self, peer: PeerTransport, state: PeerState) -> None:
        log.info("publisher transport", extra={"participant": self.key, "state": state.value})


class _SubscriberHandler:
    def __init__(self, media: RoomMedia, participant: Participant) -> None:
        self.router = media.router
        self.participant = participant
        self.now = media.transport_now
        self.media = media

    def on_rtp(self, peer: PeerTransport, packet: bytes) -> None:
        pass  # subscriber connections carry no media from the client

    def on_rtcp(self, peer: PeerTransport, packet: bytes) -> None:
        self.router.on_rtcp_from_subscriber(self.participant.sid, packet, self.now())

    def on_state(self, peer: PeerTransport, state: PeerState) -> None:
        log.info("subscriber transport", extra={"participant": self.participant.sid, "state": state.value})
        if state is PeerState.CONNECTED:
            self.media.subscriber_connected(self.participant)


Signal = tuple[Participant, sig.ServerMessage]
"""A frame for one participant's signaling, in the order media produced it."""


class RoomMedia:
    def __init__(self, room: Room, transport: MediaTransport, *, native_fanout: bool = True) -> None:
        self.room = room
        self.transport = transport
        self.transport_now: Callable[[], float] = transport.now
        # The native fan-out (C: rewrite + SRTP + sendmmsg) unless switched off; the pure-Python
        # forwarder when the transport has no native sender (the extension was not built).
        self.router = Router(
            RouterConfig(wall_clock_offset=time.time() - transport.now()),
            forwarder=make_forwarder(transport.fanout if native_fanout else None),
        )
        self._participants: dict[str, ParticipantMedia] = {}  # by participant sid
        self._signals: list[Signal] = []
        self._published: dict[str, _Published] = {}
        self._batch_depth = 0
        self._batched: dict[str, Participant] = {}
        self._next_speakers = 0.0
        self.router.on_stream_state = self._stream_state
        self.dynacast = Dynacast()

    def participant(self, p: Participant) -> ParticipantMedia:
        """``p``'s peer connections and subscription offers (KeyError once it left)."""
        return self._participants[p.sid]

    def _send(self, p: Participant, message: sig.ServerMessage) -> None:
        self._signals.append((p, message))

    def _stream_state(self, key: object, track_sid: str, active: bool, reason: str) -> None:
        pm = self._participants.get(str(key))
        if pm is not None:
            state = sig.StreamStatus.active if active else sig.StreamStatus.paused
            self._send(pm.participant, sig.StreamState(track_sid=track_sid, state=state, reason=reason))

    def take_signals(self) -> list[Signal]:
        """The frames for participants produced since the last call, in order (the service sends them)."""
        signals, self._signals = self._signals, []
        return signals

    # --- participants ----------------------------------------------------------------------

    def attach(self, p: Participant) -> None:
        self._participants[p.sid] = ParticipantMedia(p)

    def detach(self, p: Participant) -> None:
        pm = self._participants.pop(p.sid, None)
        if pm is None:
            return
        for track_sid in list(pm.outgoing):
            self.router.unsubscribe(track_sid, p.sid)
        for peer in pm.peers():
            peer.close()
        pm.outgoing.clear()

    def media_failed(self, p: Participant) -> bool:
        pm = self._participants.get(p.sid)
        return pm is not None and any(peer.state is PeerState.FAILED for peer in pm.peers())

    def resumed(self, p: Participant) -> None:
        """A client took over its participant again; it brings new peer connections: its
        subscriptions are offered on a fresh subscriber connection (a signal)."""
        pm = self.participant(p)
        if pm.subscriber is not None:
            pm.subscriber.close()
            pm.subscriber = None
        pm.last_offer = None
        pm.offer_outstanding = False
        pm.dirty = bool(pm.outgoing)
        self._negotiate(p)

    # --- publishing ----------------------------------------------------------------------------

    def read_publisher_offer(self, text: str) -> PublisherOffer:
        """Parse a publisher offer and name the m-lines that would carry a track (negotiation is
        pure: no transport exists for it yet). Raises :class:`MediaError` for unusable SDP."""
        try:
            offer = sdp.parse(text)
            params = transport_parameters(offer)
        except (sdp.SdpParseError, NegotiationError, ValueError) as exc:
            raise MediaError(sig.ErrorCode.invalid_sdp, f"the offer is not usable SDP: {exc}") from None
        fingerprints = tuple((f.algorithm, f.value) for f in params.fingerprints)
        if not fingerprints or not params.ice_ufrag or not params.ice_pwd:
            raise MediaError(sig.ErrorCode.invalid_sdp, "the offer lacks ICE credentials or a DTLS fingerprint")
        trial = self._answer(offer, self.transport.new_ufrag(), secrets.token_hex(16), with_candidates=False)[1]
        lines = []
        for nm in trial:
            if nm.direction != "recvonly" or not nm.codecs:
                continue
            if not nm.ssrcs and not simulcast_layers(nm):
                log.info("offered track has neither SSRCs nor simulcast rids: not routed", extra={"mid": nm.mid})
                continue
            lines.append(OfferedLine(nm.mid, nm.kind, (nm.msid.track_id or "") if nm.msid else ""))
        return PublisherOffer(
            offer, params.ice_ufrag, params.ice_pwd, fingerprints, tuple(nm.mid for nm in trial), tuple(lines)
        )

    def answer_publisher_offer(
        self, p: Participant, read: PublisherOffer, approved: Mapping[str, Publication], refused: Collection[str]
    ) -> tuple[str, list[Publication]]:
        """Answer ``p``'s publisher offer: the answer and the publications it activated.

        ``approved`` names the publication each accepted m-line (by mid) carries; a ``refused``
        line is rejected in the answer (port 0) and nothing of it is received. When nothing is
        accepted and there is no publisher connection yet, none is created, so no packet can arrive.
        """
        pm = self.participant(p)
        offer, fingerprints = read.offer, read.fingerprints
        peer = pm.publisher
        no_transport = peer is None or peer.state is PeerState.CLOSED
        if no_transport and all(mid in refused for mid in read.mids):  # nothing to receive: no transport
            answer, _ = self._answer(offer, self.transport.new_ufrag(), secrets.token_hex(16), refused=refused)
            return sdp.serialize(answer), []
        replaced = False
        if peer is None or fingerprints != pm.publisher_fingerprints or peer.state is PeerState.CLOSED:
            if peer is not None:
                peer.close()
                replaced = True
            peer = self.transport.create_peer(
                _PublisherHandler(self, p),
                remote_ufrag=read.ice_ufrag,
                remote_pwd=read.ice_pwd,
                remote_fingerprints=list(fingerprints),
            )
            pm.publisher, pm.publisher_fingerprints, pm.publisher_ufrag = peer, fingerprints, read.ice_ufrag
        elif read.ice_ufrag != pm.publisher_ufrag:  # RFC 8445 §9: ICE restart, DTLS kept
            peer.restart_ice(read.ice_ufrag, read.ice_pwd)
            pm.publisher_ufrag = read.ice_ufrag
        answer, negotiated = self._answer(offer, peer.ice_ufrag, peer.ice_pwd, refused=refused)
        activated = []
        for nm in negotiated:
            pub = approved.get(nm.mid)
            if pub is None or nm.direction != "recvonly" or not nm.codecs:
                continue
            if not nm.ssrcs and not simulcast_layers(nm):
                continue
            if self._route(p, peer, pub, nm, force=replaced) and not pub.active:
                pub.active = True
                activated.append(pub)
        return sdp.serialize(answer), activated

    def _answer(
        self,
        offer: sdp.SessionDescription,
        ufrag: str,
        pwd: str,
        *,
        refused: Iterable[str] = (),
        with_candidates: bool = True,
    ) -> tuple[sdp.SessionDescription, list[NegotiatedMedia]]:
        try:
            return answer_publisher_offer(
                offer,
                ice_ufrag=ufrag,
                ice_pwd=pwd,
                fingerprint=self.transport.fingerprint,
                candidates=self.transport.local_candidates(ufrag) if with_candidates else [],
                refused=frozenset(refused),
                red=True,
            )
        except NegotiationError as exc:
            raise MediaError(sig.ErrorCode.invalid_sdp, str(exc)) from None

    def _route(self, p: Participant, peer: MediaPeer, pub: Publication, nm: NegotiatedMedia, *, force: bool) -> bool:
        # rid simulcast (RFC 8853): the layers' SSRCs are learned from their packets.
        rids = simulcast_layers(nm) if not nm.ssrcs else ()
        ssrc = nm.ssrcs[0] if nm.ssrcs else 0
        source = rids or (ssrc,)
        current = self._published.get(pub.sid)
        if current is not None and current.source == source and not force:
            return True
        codecs = [(c.pt, f"{nm.kind}/{c.name}", c.clock_rate, nm.rtx.get(c.pt)) for c in nm.codecs]
        # A known track with new SSRCs (a new publisher connection) keeps its subscriptions:
        # each subscriber sees one continuous stream.
        add = self.router.add_up_track if self.router.up_track(pub.sid) is None else self._replace_up_track
        try:
            up = add(
                pub.sid,
                kind="audio" if nm.kind == "audio" else "video",
                ssrc=ssrc,
                rtx_ssrc=nm.rtx_ssrcs.get(ssrc),
                codecs=codecs,
                ext_ids=dict(nm.extensions),
                publisher=peer,
                publisher_key=p.sid,
                cname=nm.cname or p.sid,
                rids=rids,
                mid=nm.mid,
            )
        except ValueError as exc:
            log.warning("track not routed", extra={"reason": str(exc)})
            return False
        up.source = str(pub.source)  # a screen share comes first in each subscriber's allocation
        self._published[pub.sid] = _Published(negotiated=nm, source=source)
        self.dynacast.forget(pub.sid)  # a new encoder sends every layer until told otherwise
        pub.mid = nm.mid
        pub.mime_type = f"{nm.kind}/{subscriber_codecs(nm)[-1].name}"
        return True

    def _replace_up_track(self, track_id: str, **kwargs: Any) -> UpTrack:
        return self.router.replace_up_track(track_id, now=self.transport.now(), **kwargs)

    def unpublish(self, p: Participant, pub: Publication) -> None:
        self.router.remove_up_track(pub.sid)
        self._published.pop(pub.sid, None)
        self.dynacast.forget(pub.sid)

    def set_muted(self, pub: Publication, muted: bool) -> None:
        up = self.router.up_track(pub.sid)
        for dt in up.down_tracks if up else ():
            dt.set_muted(muted)

    # --- subscribing ---------------------------------------------------------------------------

    def set_subscription(self, sub: Participant, owner: Participant, pub: Publication, *, subscribed: bool) -> None:
        pm = self.participant(sub)
        if not subscribed:
            if pm.outgoing.pop(pub.sid, None) is not None:
                pm.accepted.discard(pub.sid)
                self.router.unsubscribe(pub.sid, sub.sid)
                pm.dirty = True
                self._send(sub, sig.SubscriptionUpdate(track_sid=pub.sid, subscribed=False))
                self._negotiate(sub)
                self._dynacast(pub.sid)
            return
        published = self._published.get(pub.sid)
        if published is None or pub.sid in pm.outgoing:
            return
        if pm.subscriber is None:
            pm.subscriber = self.transport.create_peer(
                _SubscriberHandler(self, sub), remote_ufrag=None, remote_pwd=None, remote_fingerprints=[]
            )
        nm = published.negotiated
        codecs = subscriber_codecs(nm)
        first = codecs[0]
        rtx_pt = nm.rtx.get(first.pt)
        ssrc = self.router.allocate_ssrc()
        rtx_ssrc = self.router.allocate_ssrc() if rtx_pt is not None else None
        up = self.router.up_track(pub.sid)
        assert up is not None
        down = self.router.subscribe(
            pub.sid,
            sub.sid,
            pm.subscriber,
            ssrc=ssrc,
            rtx_ssrc=rtx_ssrc,
            pt_map={c.pt: c.pt for c in codecs},
            rtx_pt=rtx_pt,
            ext_ids=up.ext_ids,
            receiving=False,  # until the subscriber has answered an offer with it and is connected
        )
        if pub.muted:  # a late subscriber to a muted track hears nothing either
            down.set_muted(True)
        if pub.sid in pm.qualities:
            self._apply_quality(sub, pub.sid, pm.qualities[pub.sid])
        mid = str(pm.next_mid)
        pm.next_mid += 1
        pm.outgoing[pub.sid] = OutgoingTrack(
            mid=mid,
            kind=nm.kind,
            codecs=codecs,
            ssrc=ssrc,
            cname=owner.sid,
            stream_id=owner.sid,
            track_id=pub.sid,
            rtx_pt=rtx_pt,
            rtx_ssrc=rtx_ssrc,
        )
        pm.dirty = True
        self._negotiate(sub)
        self._send(sub, sig.SubscriptionUpdate(track_sid=pub.sid, subscribed=True, mid=mid))
        self._dynacast(pub.sid)

    def set_video_quality(self, sub: Participant, track_sid: str, wish: VideoQuality) -> None:
        """What ``sub`` wants of a video it subscribes to (kept for a later subscription too): the
        layer of a simulcast track it then receives (``hubbub.sfu.layers.quality_layer``)."""
        pm = self.participant(sub)
        pm.qualities[track_sid] = wish
        if track_sid in pm.outgoing:
            self._apply_quality(sub, track_sid, wish)
            self._dynacast(track_sid)

    def _wanted_layer(self, up: UpTrack, wish: VideoQuality, now: float) -> int:
        """The layer of a video that ``wish`` asks for (-1: none)."""
        if not wish.visible or not up.simulcast:
            return 0 if wish.visible else -1
        found = self.room.publication(up.track_id)
        size = (found[1].width, found[1].height) if found is not None else (0, 0)
        return quality_layer(wish.quality, up.layer_infos(now), wish.width, wish.height, size)

    def _apply_quality(self, sub: Participant, track_sid: str, wish: VideoQuality) -> None:
        up, now = self.router.up_track(track_sid), self.transport.now()
        if up is not None and up.kind == "video":
            self.router.set_target_layer(track_sid, sub.sid, self._wanted_layer(up, wish, now), now=now)

    def _dynacast(self, track_sid: str) -> None:
        """Tell a simulcast publisher which layers someone wants, when that changed (``rooms.dynacast``)."""
        up, found, now = self.router.up_track(track_sid), self.room.publication(track_sid), self.transport.now()
        if up is None or found is None or not up.simulcast:
            return
        pms = [pm for pm in self._participants.values() if track_sid in pm.outgoing]
        highest = max(
            (self._wanted_layer(up, pm.qualities.get(track_sid, VideoQuality()), now) for pm in pms), default=-1
        )
        rids = [layer.rid or "" for layer in up.layer_infos(now)]
        layers = self.dynacast.update(track_sid, rids, subscribed=bool(pms), highest=highest, now=now)
        if layers is not None and found[0].sid in self._participants:
            states = [sig.VideoLayer(rid=rid, active=on) for rid, on in layers]
            self._send(found[0], sig.VideoLayers(track_sid=track_sid, layers=states))

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Subscription changes inside make one subscriber offer per participant, at the end.

        A participant joining a room with several tracks, or a publisher offering audio and
        video at once, must not cost each subscriber one offer/answer round trip per track.
        """
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0:
                batched, self._batched = self._batched, {}
                for p in batched.values():
                    if p.sid in self._participants:
                        self._negotiate(p)

    def _negotiate(self, p: Participant) -> None:
        if self._batch_depth:
            self._batched[p.sid] = p
            return
        pm = self.participant(p)
        if pm.offer_outstanding or not pm.dirty:
            return
        if pm.subscriber is None or pm.subscriber.state is PeerState.CLOSED:
            if not pm.outgoing:
                return
            pm.subscriber = self.transport.create_peer(
                _SubscriberHandler(self, p), remote_ufrag=None, remote_pwd=None, remote_fingerprints=[]
            )
            pm.accepted.clear()
            for track_sid in pm.outgoing:
                dt = self.router.down_track(track_sid, p.sid)
                if dt is not None:
                    dt.sink = pm.subscriber
        peer = pm.subscriber
        try:
            offer = build_subscriber_offer(
                list(pm.outgoing.values()),
                ice_ufrag=peer.ice_ufrag,
                ice_pwd=peer.ice_pwd,
                fingerprint=self.transport.fingerprint,
                candidates=self.transport.local_candidates(peer.ice_ufrag),
                previous=pm.last_offer,
            )
        except ValueError:
            log.exception("subscriber offer failed")
            return
        pm.last_offer = offer
        pm.offered = frozenset(pm.outgoing)
        pm.offer_outstanding = True
        pm.dirty = False
        self._send(p, sig.Offer(sdp=sdp.serialize(offer)))

    def subscriber_answer(self, p: Participant, text: str) -> None:
        pm = self.participant(p)
        if not pm.offer_outstanding or pm.last_offer is None or pm.subscriber is None:
            raise MediaError(sig.ErrorCode.out_of_order, "no subscriber offer is waiting for an answer")
        try:
            answer = sdp.parse(text)
            negotiated = parse_subscriber_answer(answer, pm.last_offer)
            params = transport_parameters(answer)
        except (sdp.SdpParseError, NegotiationError, ValueError) as exc:
            raise MediaError(sig.ErrorCode.invalid_sdp, f"the answer does not fit the offer: {exc}") from None
        if params.ice_ufrag and params.ice_pwd:
            pm.subscriber.set_remote_credentials(params.ice_ufrag, params.ice_pwd)
        pm.subscriber.set_remote_fingerprints([(f.algorithm, f.value) for f in params.fingerprints])
        pm.subscriber.set_transport_cc(subscriber_transport_cc(negotiated.values()))
        for sid, out in pm.outgoing.items():
            published, answered = self._published.get(sid), negotiated.get(out.mid)
            down = self.router.down_track(sid, p.sid)
            if published is not None and answered is not None and down is not None:
                configure_down_track(down, published.negotiated, answered)
        pm.offer_outstanding = False
        new = [sid for sid in pm.offered if sid in pm.outgoing and sid not in pm.accepted]
        pm.accepted.update(new)
        if pm.subscriber.state is PeerState.CONNECTED:
            self.start_receiving(p, new)
        self._negotiate(p)

    def subscriber_connected(self, p: Participant) -> None:
        """``p``'s subscriber connection is up (again): every track it accepted starts receiving."""
        pm = self._participants.get(p.sid)
        if pm is not None:  # not after it left
            self.start_receiving(p, pm.accepted)

    def start_receiving(self, p: Participant, track_sids: Iterable[str]) -> None:
        """``p`` can decode these tracks now (see ``Router.start_receiving``)."""
        now = self.transport.now()
        for track_sid in list(track_sids):
            self.router.start_receiving(track_sid, p.sid, now)

    # --- time --------------------------------------------------------------------------------

    def tick(self) -> list[sig.Speaker] | None:
        """Router timers; the active speakers when they changed (for the room to hear of), else None."""
        now = self.transport.now()
        self.router.tick(now)
        if self.dynacast.due(now):
            for track_sid in list(self._published):
                self._dynacast(track_sid)
        if now < self._next_speakers:
            return None
        self._next_speakers = now + SPEAKER_INTERVAL
        changed = self.router.speakers.update(now)
        if changed is None:
            return None
        speakers = []
        for track_sid, level in changed:
            found = self.room.publication(track_sid)
            if found is not None:
                speakers.append(sig.Speaker(participant_sid=found[0].sid, level=round(level, 3)))
        return speakers

    def close(self) -> None:
        for p in self.room.participants.values():
            pm = self._participants.get(p.sid)
            if pm is not None:
                for peer in pm.peers():
                    peer.close()
