"""The room use cases behind signaling: join, publish, subscribe, mute, leave, resume, kick.

Theory of operation
===================

Rooms are keyed by (App ID, channel) and created by the first join. Every change here happens on
the event loop, in one call, and ends with the events the other participants must see. Media
(peer connections, the SFU router) is reached only through :class:`hubbub.rooms.media.RoomMedia`,
in one direction: the service calls it and sends the frames it has for participants
(:meth:`~hubbub.rooms.media.RoomMedia.take_signals`) right after each call, so they keep their order
among the service's own events. Both change the model (:mod:`hubbub.rooms.model`), which calls
neither.

:meth:`RoomService.join` returns a :class:`JoinOutcome`: the ``joined`` frame and the frames that
follow it for the joining client, in order (its subscriptions, then the subscriber offer, unless
that went into ``joined`` with ``inline_offer``); signaling sends them. A resume is a join too.

A participant whose signaling or media drops becomes *disconnected*: it stays in the room, its
tracks keep their ids, and a client that re-joins with ``resume_sid`` + ``resume_key`` within
``reconnect_window`` seconds takes it over. After the window it is removed and the others get
``participant_left`` with reason ``connection_lost``. :meth:`RoomService.tick` enforces windows,
token and privilege expiry (a warning ``token_expiring`` first), and emits active speakers and,
every 2 s, each participant's network quality (:mod:`hubbub.rooms.network`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

from hubbub.rooms import ids
from hubbub.rooms.ice import ice_servers
from hubbub.rooms.media import MediaError, RoomMedia, VideoQuality
from hubbub.rooms.model import Grant, Outbox, Participant, ParticipantState, Publication, Room
from hubbub.rooms.network import RoomNetworkQuality
from hubbub.rooms.ports import MediaTransport
from hubbub.rooms.usage import UsageMeter, UsageReport
from hubbub.schema import signaling as sig
from hubbub.schema.tokens import Privilege
from hubbub.util.clock import Clock

log = logging.getLogger("hubbub.rooms")

E = sig.ErrorCode
CHECK_INTERVAL = 1.0  # seconds between participant checks (reconnect windows, token expiry, metering)


class RoomError(Exception):
    """A refused request; signaling answers it with an ``error`` frame carrying ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class RoomSettings:
    reconnect_window: float = 10.0
    empty_room_ttl: float = 5.0
    expiry_warning: float = 30.0  # seconds before a token or privilege expires
    max_participants: int = 500
    speaker_interval: float = 0.3
    native_fanout: bool = True  # the C fan-out helper when it can be built (else pure Python)
    ice_urls: tuple[str, ...] = ()  # STUN/TURN URLs for the clients (``joined.ice_servers``)
    turn_secret: str = ""  # coturn ``static-auth-secret`` for time-limited TURN credentials
    turn_credential_ttl: float = 86_400.0


@dataclass(slots=True, eq=False)
class JoinOutcome:
    """A join (or resume): the participant, and the frames for its client in the order they go out."""

    room: Room
    participant: Participant
    joined: sig.Joined
    follow_ups: list[sig.ServerMessage] = field(default_factory=list)  # after ``joined``

    def frames(self) -> list[sig.ServerMessage]:
        return [self.joined, *self.follow_ups]


_PUBLISH_PRIVILEGE = {sig.TrackKind.audio: Privilege.publish_audio, sig.TrackKind.video: Privilege.publish_video}


class RoomService:
    def __init__(
        self,
        transport: MediaTransport,
        clock: Clock,
        settings: RoomSettings | None = None,
        on_usage: UsageReport | None = None,
    ) -> None:
        self.transport = transport
        self.clock = clock
        self.settings = settings or RoomSettings()
        self.rooms: dict[tuple[str, str], Room] = {}
        self._media: dict[str, RoomMedia] = {}
        self._quality: dict[str, RoomNetworkQuality] = {}  # by room sid
        self.usage = UsageMeter(on_usage)
        self._last_tick: float | None = None

    # --- lookup -----------------------------------------------------------------------------

    def room(self, app_id: str, channel: str) -> Room | None:
        return self.rooms.get((app_id, channel))

    def rooms_of(self, app_id: str) -> list[Room]:
        return [r for (a, _), r in self.rooms.items() if a == app_id]

    def media_of(self, room: Room) -> RoomMedia:
        return self._media[room.sid]

    def participants(self) -> Iterator[tuple[Room, Participant]]:
        for room in self.rooms.values():
            for p in room.participants.values():
                yield room, p

    def _deliver(self, media: RoomMedia, joining: Participant | None = None) -> list[sig.ServerMessage]:
        """Send what media has for participants; the frames for ``joining`` are returned instead."""
        held: list[sig.ServerMessage] = []
        for p, message in media.take_signals():
            if p is joining:
                held.append(message)
            else:
                p.outbox.send(message)
        return held

    # --- join and leave ---------------------------------------------------------------------

    def join(
        self,
        grant: Grant,
        channel: str,
        outbox: Outbox,
        *,
        name: str = "",
        metadata: str = "",
        auto_subscribe: bool = True,
        resume_sid: str = "",
        resume_key: str = "",
        inline_offer: bool = False,
    ) -> JoinOutcome:
        """Join ``channel`` (or, with ``resume_sid`` and ``resume_key``, take over a participant
        still in it); raises :class:`RoomError` when refused.

        Joining may subscribe at once: those frames follow ``joined``, which the client needs
        first to know the participants. With ``inline_offer`` the first subscriber offer goes into
        ``joined.offer`` instead. A resume's subscriber offer (a fresh connection) follows ``joined``.
        """
        now = self.clock()
        key = (grant.app_id, channel)
        room = self.rooms.get(key)
        if resume_sid and room is not None:
            resumed = self._resume(room, resume_sid, resume_key, grant, outbox)
            if resumed is not None:
                follow_ups = self._deliver(self._media[room.sid], joining=resumed)
                return JoinOutcome(room, resumed, self._joined(room, resumed, resumed=True), follow_ups)
        if room is None:
            room = Room(sid=ids.room_sid(), app_id=grant.app_id, channel=channel, created_at=now)
            self.rooms[key] = room
            self._media[room.sid] = RoomMedia(room, self.transport, native_fanout=self.settings.native_fanout)
            self._quality[room.sid] = RoomNetworkQuality()
            log.info("room created", extra={"app_id": grant.app_id, "room": room.sid})
        room.empty_since = None
        previous = room.by_identity(grant.user_id)
        if previous is not None:
            previous.outbox.send(
                sig.Kicked(reason=sig.LeaveReason.duplicate_identity, message="the same user joined again")
            )
            self._remove(room, previous, sig.LeaveReason.duplicate_identity)
        if len(room.participants) >= self.settings.max_participants:
            raise RoomError(E.room_full, f"the channel holds at most {self.settings.max_participants} participants")
        participant = Participant(
            sid=ids.participant_sid(),
            identity=grant.user_id,
            grant=grant,
            outbox=outbox,
            name=name[:128],
            metadata=metadata[:4096],
            joined_at=now,
            auto_subscribe=auto_subscribe,
            resume_key=secrets.token_urlsafe(18),
        )
        room.participants[participant.sid] = participant
        media = self._media[room.sid]
        media.attach(participant)
        room.broadcast(sig.ParticipantJoined(participant=participant.info(now)), exclude=participant)
        log.info("participant joined", extra={"room": room.sid, "participant": participant.sid})
        if auto_subscribe and participant.can(Privilege.subscribe, now):
            with media.batch():
                for other in room.participants.values():
                    for pub in other.publications.values():
                        if other is not participant and pub.active:
                            self._subscribe(room, participant, other, pub)
        outcome = JoinOutcome(room, participant, self._joined(room, participant, resumed=False))
        outcome.follow_ups = self._deliver(media, joining=participant)
        if inline_offer:
            offer = next((m for m in outcome.follow_ups if isinstance(m, sig.Offer)), None)
            if offer is not None:
                outcome.follow_ups.remove(offer)
                outcome.joined.offer = offer.sdp
        return outcome

    def _joined(self, room: Room, participant: Participant, *, resumed: bool) -> sig.Joined:
        now = self.clock()
        from hubbub import __version__

        return sig.Joined(
            room=room.info(),
            participant=participant.info(now),
            participants=[p.info(now) for p in room.participants.values() if p is not participant],
            server_version=__version__,
            reconnect_window=self.settings.reconnect_window,
            resume_key=participant.resume_key,
            resumed=resumed,
            ice_servers=ice_servers(
                self.settings.ice_urls,
                self.settings.turn_secret,
                self.settings.turn_credential_ttl,
                participant.identity,
                now,
            ),
        )

    def _resume(self, room: Room, sid: str, key: str, grant: Grant, outbox: Outbox) -> Participant | None:
        """Hand participant ``sid`` to the new connection; its media offers the subscriptions again."""
        p = room.participants.get(sid)
        if p is None or not key or not secrets.compare_digest(key, p.resume_key) or p.identity != grant.user_id:
            return None
        if p.state is ParticipantState.joined:
            p.outbox.close(sig.LeaveReason.duplicate_identity, "resumed from another connection")
        p.outbox = outbox
        p.grant = grant
        p.state = ParticipantState.joined
        p.disconnected_at = None
        p.warned_expiry.clear()
        self._media[room.sid].resumed(p)
        log.info("participant resumed", extra={"room": room.sid, "participant": p.sid})
        return p

    def disconnected(self, participant: Participant) -> None:
        """Signaling dropped: keep the participant for the reconnect window."""
        if participant.state is ParticipantState.joined:
            participant.state = ParticipantState.disconnected
            participant.disconnected_at = self.clock()

    def leave(self, participant: Participant, reason: sig.LeaveReason = sig.LeaveReason.client_left) -> None:
        for room in self.rooms.values():
            if room.participants.get(participant.sid) is participant:
                self._remove(room, participant, reason)
                return

    def _remove(self, room: Room, participant: Participant, reason: sig.LeaveReason) -> None:
        if room.participants.pop(participant.sid, None) is None:
            return
        participant.state = ParticipantState.left
        media = self._media[room.sid]
        for pub in list(participant.publications.values()):
            self._unpublish(room, participant, pub, announce=False)
        media.detach(participant)
        for other in room.participants.values():
            other.subscriptions.difference_update(participant.publications)
        room.broadcast(
            sig.ParticipantLeft(participant_sid=participant.sid, identity=participant.identity, reason=reason)
        )
        log.info("participant left", extra={"room": room.sid, "participant": participant.sid, "reason": reason.value})
        if not room.participants:
            room.empty_since = self.clock()

    def kick(self, app_id: str, channel: str, identity: str, reason: str = "") -> bool:
        room = self.rooms.get((app_id, channel))
        p = room.by_identity(identity) if room else None
        if room is None or p is None:
            return False
        p.outbox.send(sig.Kicked(reason=sig.LeaveReason.kicked, message=reason[:256]))
        p.outbox.close(sig.LeaveReason.kicked, reason)
        self._remove(room, p, sig.LeaveReason.kicked)
        return True

    def close_room(self, app_id: str, channel: str, reason: sig.LeaveReason = sig.LeaveReason.room_closed) -> bool:
        room = self.rooms.get((app_id, channel))
        if room is None:
            return False
        for p in list(room.participants.values()):
            p.outbox.send(sig.Kicked(reason=reason))
            p.outbox.close(reason)
            self._remove(room, p, reason)
        self._drop_room(room)
        return True

    def _drop_room(self, room: Room) -> None:
        self.rooms.pop((room.app_id, room.channel), None)
        self._quality.pop(room.sid, None)
        media = self._media.pop(room.sid, None)
        if media is not None:
            media.close()
        log.info("room closed", extra={"app_id": room.app_id, "room": room.sid})

    def close_all(self) -> None:
        for room in list(self.rooms.values()):
            self.close_room(room.app_id, room.channel, sig.LeaveReason.server_shutdown)
        self.flush_usage(force=True)

    # --- publishing -------------------------------------------------------------------------

    def publish(self, room: Room, participant: Participant, req: sig.Publish) -> Publication:
        now = self.clock()
        needed = _PUBLISH_PRIVILEGE[req.kind]
        if not participant.can(needed, now):
            expired = needed in participant.grant.privileges
            raise RoomError(
                E.permission_denied,
                f"the token's {needed.value} privilege has expired; renew the token"
                if expired
                else f"the token does not grant {needed.value}",
            )
        if not req.cid or len(req.cid) > 128:
            raise RoomError(E.invalid_message, "cid must be 1 to 128 characters (the track id in the offer)")
        existing = participant.publication_by_cid(req.cid)
        if existing is not None:
            return existing
        if len(participant.publications) >= 16:
            raise RoomError(E.permission_denied, "a participant publishes at most 16 tracks")
        pub = Publication(
            sid=ids.track_sid(),
            participant_sid=participant.sid,
            cid=req.cid,
            kind=req.kind,
            source=req.source,
            name=req.name[:128],
            muted=req.muted,
            width=max(0, req.width),
            height=max(0, req.height),
        )
        participant.publications[pub.sid] = pub
        return pub

    def publisher_offer(self, room: Room, participant: Participant, sdp: str) -> tuple[str, RoomError | None]:
        """Answer the client's publisher offer; tracks it carries become active and are routed.

        Returns the answer and, when some m-line was refused (rejected in the answer with port 0,
        e.g. media the token may not publish), the error to tell the client.
        """
        media = self._media[room.sid]
        approved: dict[str, Publication] = {}
        refused: dict[str, RoomError] = {}
        try:
            offer = media.read_publisher_offer(sdp)
            for line in offer.lines:
                try:
                    approved[line.mid] = self._approve(room, participant, line.kind, line.track_id)
                except RoomError as exc:
                    refused[line.mid] = exc
            answer, activated = media.answer_publisher_offer(participant, offer, approved, refused)
        except MediaError as exc:
            raise RoomError(exc.code, exc.message) from None
        now = self.clock()
        try:
            with media.batch():
                for pub in activated:
                    room.broadcast(sig.ParticipantUpdated(participant=participant.info(now)), exclude=participant)
                    for other in room.participants.values():
                        if other is participant or not other.auto_subscribe or pub.sid in other.unsubscribed:
                            continue
                        if other.can(Privilege.subscribe, now):
                            self._subscribe(room, other, participant, pub)
                    self._deliver(media)
        finally:
            self._deliver(media)
        refusals = list(refused.values())
        refusal = None
        if refusals:
            denied = [r for r in refusals if r.code == E.permission_denied]
            code = denied[0].code if denied else refusals[0].code
            messages = dict.fromkeys(r.message for r in refusals)
            refusal = RoomError(code, "m-lines rejected (port 0): " + "; ".join(messages))
        return answer, refusal

    def _approve(self, room: Room, participant: Participant, kind: str, cid: str) -> Publication:
        """Which publication an offered m-line (kind, msid track id) belongs to; raises
        :class:`RoomError` when the participant may not send it (the line is refused)."""
        now = self.clock()
        pub = participant.publication_by_cid(cid) if cid else None
        if pub is None:  # offered without a publish request: accept when allowed
            pub = self._publish_for_offer(room, participant, kind, cid)
        if pub.kind.value != kind:
            raise RoomError(E.invalid_sdp, f"a {kind} m-line names the {pub.kind.value} track {cid!r}")
        needed = _PUBLISH_PRIVILEGE[pub.kind]
        if not participant.can(needed, now):
            raise RoomError(E.permission_denied, f"the token does not grant {needed.value}")
        return pub

    def _publish_for_offer(self, room: Room, participant: Participant, kind: str, cid: str) -> Publication:
        try:
            track_kind = sig.TrackKind(kind)
        except ValueError:
            raise RoomError(E.invalid_sdp, f"unsupported media kind {kind!r}") from None
        source = sig.TrackSource.microphone if track_kind is sig.TrackKind.audio else sig.TrackSource.camera
        return self.publish(
            room, participant, sig.Publish(cid=cid or ids.new_sid("CT_"), kind=track_kind, source=source)
        )

    def unpublish(self, room: Room, participant: Participant, track_sid: str) -> None:
        pub = participant.publications.get(track_sid)
        if pub is None:
            raise RoomError(E.track_not_found, f"no track {track_sid!r} published by you")
        self._unpublish(room, participant, pub, announce=True)

    def _unpublish(self, room: Room, participant: Participant, pub: Publication, *, announce: bool) -> None:
        participant.publications.pop(pub.sid, None)
        media = self._media[room.sid]
        for other in room.participants.values():
            if pub.sid in other.subscriptions:
                other.subscriptions.discard(pub.sid)
                media.set_subscription(other, participant, pub, subscribed=False)
        self._deliver(media)
        media.unpublish(participant, pub)
        if announce and pub.active:
            room.broadcast(sig.TrackUnpublished(participant_sid=participant.sid, track_sid=pub.sid))

    def mute(self, room: Room, participant: Participant, track_sid: str, muted: bool) -> Publication:
        pub = participant.publications.get(track_sid)
        if pub is None:
            raise RoomError(E.track_not_found, f"no track {track_sid!r} published by you")
        if pub.muted != muted:
            pub.muted = muted
            self._media[room.sid].set_muted(pub, muted)
            muted_event = sig.TrackMuted(participant_sid=participant.sid, track_sid=pub.sid, muted=muted)
            room.broadcast(muted_event, exclude=participant)  # the requester gets the reply instead
        return pub

    # --- subscribing ------------------------------------------------------------------------

    def subscribe(self, room: Room, participant: Participant, track_sids: list[str], on: bool) -> None:
        now = self.clock()
        if on and not participant.can(Privilege.subscribe, now):
            raise RoomError(E.permission_denied, "the token does not grant subscribe (or it expired)")
        media = self._media[room.sid]
        try:
            with media.batch():
                self._set_subscriptions(room, participant, track_sids, on)
        finally:
            self._deliver(media)

    def update_subscription(
        self,
        room: Room,
        participant: Participant,
        track_sids: list[str],
        quality: str,
        width: int,
        height: int,
        *,
        visible: bool = True,
    ) -> None:
        """The video ``participant`` wants of these tracks (``RoomMedia.set_video_quality``)."""
        media = self._media[room.sid]
        wish = VideoQuality(str(quality), max(width, 0), max(height, 0), visible)
        try:
            for sid in track_sids:
                if room.publication(sid) is None:
                    raise RoomError(E.track_not_found, f"no track {sid!r} in this room")
                media.set_video_quality(participant, sid, wish)
        finally:
            self._deliver(media)  # stream_state, video_layers

    def _set_subscriptions(self, room: Room, participant: Participant, track_sids: list[str], on: bool) -> None:
        for sid in track_sids:
            found = room.publication(sid)
            if found is None:
                raise RoomError(E.track_not_found, f"no track {sid!r} in this room")
            owner, pub = found
            if owner is participant:
                raise RoomError(E.permission_denied, "a participant does not subscribe to its own track")
            if on:
                participant.unsubscribed.discard(sid)
                if pub.active and sid not in participant.subscriptions:
                    self._subscribe(room, participant, owner, pub)
            else:
                participant.unsubscribed.add(sid)
                if sid in participant.subscriptions:
                    participant.subscriptions.discard(sid)
                    self._media[room.sid].set_subscription(participant, owner, pub, subscribed=False)

    def _subscribe(self, room: Room, subscriber: Participant, owner: Participant, pub: Publication) -> None:
        subscriber.subscriptions.add(pub.sid)
        self._media[room.sid].set_subscription(subscriber, owner, pub, subscribed=True)

    def subscriber_answer(self, room: Room, participant: Participant, sdp: str) -> None:
        media = self._media[room.sid]
        try:
            media.subscriber_answer(participant, sdp)
        except MediaError as exc:
            raise RoomError(exc.code, exc.message) from None
        finally:
            self._deliver(media)

    # --- tokens -------------------------------------------------------------------------------

    def renew(self, participant: Participant, grant: Grant) -> None:
        if grant.user_id != participant.identity or grant.app_id != participant.grant.app_id:
            raise RoomError("token_wrong_user", "the new token is for another user or project")
        participant.grant = grant
        participant.warned_expiry.clear()

    # --- time -----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Media timers (RTCP reports, keyframe retries, speakers, network quality) on every call;
        participants (reconnect windows, token expiry, metering) and empty rooms once per
        ``CHECK_INTERVAL``."""
        now = self.clock()
        checks = self._last_tick is None or now - self._last_tick >= CHECK_INTERVAL or now < self._last_tick
        elapsed = 0.0
        if checks:
            elapsed = 0.0 if self._last_tick is None else min(max(now - self._last_tick, 0.0), 5.0)
            self._last_tick = now
        for room in list(self.rooms.values()):
            if checks:
                if elapsed:
                    self.usage.meter(room, elapsed)
                for p in list(room.participants.values()):
                    self._check_participant(room, p, now)
            media = self._media[room.sid]
            speakers = media.tick()
            self._deliver(media)
            if speakers is not None:
                room.broadcast(sig.ActiveSpeakers(speakers=speakers))
            for p, quality in self._quality[room.sid].tick(room, media, media.transport_now()):
                p.outbox.send(quality)
            idle = room.empty_since
            if checks and not room.participants and idle is not None and now - idle >= self.settings.empty_room_ttl:
                self._drop_room(room)
        if checks:
            self.flush_usage()

    def flush_usage(self, *, force: bool = False) -> None:
        """Report metered minutes (every minute, and at shutdown with ``force``)."""
        self.usage.flush(self.clock(), force=force)

    def _check_participant(self, room: Room, p: Participant, now: float) -> None:
        if p.state is ParticipantState.disconnected and p.disconnected_at is not None:
            if now - p.disconnected_at >= self.settings.reconnect_window:
                self._remove(room, p, sig.LeaveReason.connection_lost)
            return
        grant = p.grant
        if grant.expires_at < now:
            p.outbox.send(sig.Kicked(reason=sig.LeaveReason.token_expired, message="the token expired"))
            p.outbox.close(sig.LeaveReason.token_expired)
            self._remove(room, p, sig.LeaveReason.token_expired)
            return
        soon = [
            (what, at) for what, at in grant.expiring(now, self.settings.expiry_warning) if what not in p.warned_expiry
        ]
        if soon:
            p.warned_expiry.update(what for what, _ in soon)
            p.outbox.send(sig.TokenExpiring(expiring=[sig.Expiring(what=w, at=a) for w, a in soon]))
        media = self._media[room.sid]
        for pub in list(p.publications.values()):
            if pub.active and not p.can(_PUBLISH_PRIVILEGE[pub.kind], now):
                # RFC-less but documented: an expired publish privilege stops that track, not the user.
                self._unpublish(room, p, pub, announce=True)
        if media.media_failed(p):
            self.disconnected(p)

    # --- moderation -----------------------------------------------------------------------------

    def admin_mute(self, app_id: str, channel: str, track_sid: str, muted: bool) -> Publication | None:
        """A moderator's (server-side) mute: stop forwarding the track and tell everyone, the
        publisher included, with ``track_muted``. The publisher may unmute it again with its own
        ``mute`` request; a moderator who means "stay quiet" kicks. None when there is no such track."""
        room = self.rooms.get((app_id, channel))
        found = room.publication(track_sid) if room is not None else None
        if room is None or found is None:
            return None
        owner, pub = found
        if pub.muted != muted:
            pub.muted = muted
            self._media[room.sid].set_muted(pub, muted)
            room.broadcast(sig.TrackMuted(participant_sid=owner.sid, track_sid=pub.sid, muted=muted))
            log.info(
                "track muted by a moderator" if muted else "track unmuted by a moderator",
                extra={"room": room.sid, "participant": owner.sid, "track": pub.sid},
            )
        return pub
