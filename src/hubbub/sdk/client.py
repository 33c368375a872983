"""The room client: join a Hubbub room, publish local tracks, receive remote ones.

Theory of operation
-------------------
A :class:`Room` is one participant's session. It holds a :class:`~hubbub.sdk.signaling.SignalingClient`
and two aiortc peer connections, created on demand:

- the **publisher** connection, where this client offers. :meth:`Room.publish` sends
  ``publish {cid, kind, source}`` (``cid`` is the track's ``MediaStreamTrack.id``, the id aiortc
  writes into the offer's ``a=msid``), gets ``track_published`` with the server's track sid, adds
  the track and renegotiates (``offer`` -> ``answer``);
- the **subscriber** connection, where the server offers whenever this client's subscriptions
  change; the client answers. Each remote ``a=msid`` is ``<participant_sid> <track_sid>``, which
  is how an aiortc ``track`` event becomes a :class:`TrackSubscribed` event for a known
  participant and publication.

Frames from the server are handled one at a time, in arrival order, by one task (the *pump*), so
room state and events never race each other. Requests (publish, mute, subscribe, ...) are awaited
by the caller; their replies are matched by ``id`` inside the signaling client.

Reconnection: when the WebSocket drops, pings go unanswered, or a peer connection fails, the room
emits :class:`Reconnecting`, closes both peer connections and re-joins with the ``resume_sid`` and
``resume_key`` from ``joined``, backing off between tries, until ``reconnect_window`` (from
``joined``) runs out. aiortc 1.16 cannot do an ICE restart (``createOffer`` takes no
``iceRestart`` option and its ICE transport cannot be restarted in place), so the client builds a
**new** publisher connection with the same track objects (same ``cid``\\ s, hence the same
``a=msid``) and offers it, and a new subscriber connection answers the server's next offer; the
server treats both as fresh ICE/DTLS sessions. When the server resumed the participant
(``joined.resumed``) the track sids stay and no ``publish`` is repeated; otherwise every local
track is published again. Then :class:`Reconnected` is emitted; if the window passes first,
:class:`Disconnected` with ``reason="connection_lost"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from hubbub.schema import signaling as proto
from hubbub.sdk.errors import ConnectionLostError, HubbubError, JoinError, Kicked
from hubbub.sdk.loopback import allow_loopback_candidates, is_loopback_host
from hubbub.sdk.media import stand_in_track
from hubbub.sdk.signaling import Backoff, OpenSocket, SignalingClient, open_websocket, signaling_url

__all__ = [
    "ActiveSpeakers",
    "Disconnected",
    "ErrorReceived",
    "LocalParticipant",
    "LocalPublication",
    "LocalTrackMuted",
    "ParticipantJoined",
    "ParticipantLeft",
    "ParticipantUpdated",
    "Reconnected",
    "Reconnecting",
    "RemoteParticipant",
    "RemotePublication",
    "Room",
    "RoomEvent",
    "TokenExpiring",
    "TrackMuted",
    "TrackPublished",
    "TrackSubscribed",
    "TrackUnpublished",
    "TrackUnsubscribed",
    "connect",
]

log = logging.getLogger("hubbub.sdk")

_EVENT_BACKLOG = 1024


# --- participants and publications ------------------------------------------------------------


@dataclass(slots=True)
class LocalParticipant:
    """This client, as the server knows it."""

    sid: str
    identity: str
    role: str
    name: str = ""
    metadata: str = ""
    can_publish: bool = False
    can_subscribe: bool = False


@dataclass(slots=True, eq=False)
class RemotePublication:
    """A track another participant publishes; ``track`` is set while this client receives it."""

    sid: str
    participant_sid: str
    kind: str
    source: str = proto.TrackSource.unknown.value
    name: str = ""
    muted: bool = False
    mime_type: str = ""
    width: int = 0
    height: int = 0
    subscribed: bool = False
    mid: str = ""
    track: MediaStreamTrack | None = None

    def update(self, info: proto.TrackInfo) -> None:
        self.kind, self.source, self.name = str(info.kind), str(info.source), info.name
        self.muted, self.mime_type, self.width, self.height = info.muted, info.mime_type, info.width, info.height


@dataclass(slots=True, eq=False)
class RemoteParticipant:
    """Another participant in the room; ``tracks`` maps track sid to publication."""

    sid: str
    identity: str
    role: str
    name: str = ""
    metadata: str = ""
    tracks: dict[str, RemotePublication] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class LocalPublication:
    """A track this client publishes. ``track_sid`` is the server's id for it; ``cid`` the track's id."""

    room: Room = field(repr=False)
    track: MediaStreamTrack
    cid: str
    kind: str
    source: str
    name: str = ""
    muted: bool = False
    track_sid: str = ""

    async def mute(self) -> None:
        """Tell the room the track is muted and send silence (audio) or black frames (video)."""
        await self.room._set_muted(self, True)

    async def unmute(self) -> None:
        """Resume sending the track's own media."""
        await self.room._set_muted(self, False)

    async def unpublish(self) -> None:
        """Same as ``room.unpublish(publication)``."""
        await self.room.unpublish(self)


# --- events -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParticipantJoined:
    participant: RemoteParticipant


@dataclass(frozen=True, slots=True)
class ParticipantUpdated:
    """Name, metadata, role or permissions of a participant changed."""

    participant: RemoteParticipant


@dataclass(frozen=True, slots=True)
class ParticipantLeft:
    participant: RemoteParticipant
    reason: str  # a LeaveReason value


@dataclass(frozen=True, slots=True)
class TrackPublished:
    """A remote participant published a track (subscribe to it, or wait for auto-subscription)."""

    publication: RemotePublication
    participant: RemoteParticipant


@dataclass(frozen=True, slots=True)
class TrackUnpublished:
    publication: RemotePublication
    participant: RemoteParticipant


@dataclass(frozen=True, slots=True)
class TrackMuted:
    publication: RemotePublication
    participant: RemoteParticipant
    muted: bool


@dataclass(frozen=True, slots=True)
class LocalTrackMuted:
    """One of this client's own tracks was muted or unmuted. ``by_server`` is True when a moderator
    did it (the console's or the REST API's server-side mute): the room then sends silence or black
    frames, as :meth:`LocalPublication.mute` does, and ``publication.unmute()`` may resume it. False
    when it answers this client's own ``mute()``/``unmute()``."""

    publication: LocalPublication
    muted: bool
    by_server: bool


@dataclass(frozen=True, slots=True)
class TrackSubscribed:
    """Media of a remote track now arrives: ``await track.recv()`` yields decoded frames."""

    track: MediaStreamTrack
    publication: RemotePublication
    participant: RemoteParticipant


@dataclass(frozen=True, slots=True)
class TrackUnsubscribed:
    """A remote track stopped arriving (unsubscribed, unpublished, or cut by a reconnection)."""

    publication: RemotePublication
    participant: RemoteParticipant


@dataclass(frozen=True, slots=True)
class ActiveSpeakers:
    """The loudest participants now, loudest first (may include this client's own sid)."""

    speakers: tuple[proto.Speaker, ...]


@dataclass(frozen=True, slots=True)
class TokenExpiring:
    """The token (``what == "token"``) or a privilege expires soon: call ``room.renew_token``."""

    expiring: tuple[proto.Expiring, ...]


@dataclass(frozen=True, slots=True)
class ErrorReceived:
    """An ``error`` frame that answered no request of this client (e.g. about a subscriber answer)."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Reconnecting:
    """The connection dropped; the room is trying to resume it within ``reconnect_window``."""

    reason: str


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The session is back; ``resumed`` is False when the server gave this client a new participant."""

    resumed: bool


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The room ended; always the last event. ``error`` is None after :meth:`Room.disconnect`."""

    reason: str  # a LeaveReason value
    error: HubbubError | None = None


RoomEvent = (
    ParticipantJoined
    | ParticipantUpdated
    | ParticipantLeft
    | TrackPublished
    | TrackUnpublished
    | TrackMuted
    | LocalTrackMuted
    | TrackSubscribed
    | TrackUnsubscribed
    | ActiveSpeakers
    | TokenExpiring
    | ErrorReceived
    | Reconnecting
    | Reconnected
    | Disconnected
)


@dataclass(slots=True)
class _Lost:
    reason: str


@dataclass(slots=True)
class _Outgoing:
    publication: LocalPublication
    sender: RTCRtpSender | None = None
    transceiver: RTCRtpTransceiver | None = None


async def connect(
    url: str,
    token: str = "",
    *,
    auto_subscribe: bool = True,
    name: str = "",
    metadata: str = "",
    app_id: str = "",
    user_id: str = "",
    channel: str = "",
    loopback: bool | None = None,
    ice_servers: Sequence[RTCIceServer] | None = None,
    join_timeout: float = 10.0,
    request_timeout: float = 10.0,
    backoff: Backoff | None = None,
) -> Room:
    """Join a room and return the connected :class:`Room`.

    ``url`` is the server's base URL (``http(s)://host:port``; ``ws(s)://`` works too): the
    client talks to ``/rtc/v1`` under it. ``token`` is an access token from your backend (see
    :func:`hubbub.sdk.build_token`); projects in testing mode may instead give ``app_id``,
    ``user_id`` and ``channel``. ``auto_subscribe=False`` subscribes to nothing until
    :meth:`Room.subscribe` is called.

    ``loopback``: gather loopback ICE candidates (see :mod:`hubbub.sdk.loopback`); by default on
    exactly when the URL's host is a loopback address. ``ice_servers`` overrides the STUN/TURN
    servers the server suggests in ``joined``.

    Raises :class:`~hubbub.sdk.errors.JoinError` (code and message from the server) when the
    join is refused, :class:`~hubbub.sdk.errors.ConnectionLostError` when the server cannot be
    reached, :class:`~hubbub.sdk.errors.RequestTimeout` after ``join_timeout`` seconds.

    >>> async with await connect("http://127.0.0.1:8080", token) as room:
    ...     await room.publish(ToneTrack(440))
    """
    ws_url = signaling_url(url)
    host = urlsplit(ws_url).hostname or ""
    room = Room(
        ws_url,
        proto.Join(
            token=token,
            app_id=app_id,
            user_id=user_id,
            channel=channel,
            name=name,
            metadata=metadata,
            auto_subscribe=auto_subscribe,
        ),
        loopback=is_loopback_host(host) if loopback is None else loopback,
        ice_servers=ice_servers,
        request_timeout=request_timeout,
        backoff=backoff,
    )
    await room._open(join_timeout)
    return room


class Room:
    """A joined room, as seen by one participant. Create it with :func:`connect`.

    Use it as an async context manager (``async with await connect(...) as room``) or call
    :meth:`disconnect` yourself. State (:attr:`local_participant`, :attr:`participants`) is kept
    up to date by the server's events; :meth:`events` yields them.
    """

    def __init__(
        self,
        ws_url: str,
        join: proto.Join,
        *,
        loopback: bool,
        ice_servers: Sequence[RTCIceServer] | None,
        request_timeout: float,
        backoff: Backoff | None,
        open_socket: OpenSocket = open_websocket,
        peer_connection: Callable[[RTCConfiguration], RTCPeerConnection] = RTCPeerConnection,
    ) -> None:
        self._join = join
        self._peer_connection = peer_connection
        self._ice_servers_override = list(ice_servers) if ice_servers is not None else None
        self._ice_servers: list[RTCIceServer] = []
        self._request_timeout = request_timeout
        self._signal = SignalingClient(
            ws_url,
            on_message=self._inbox_put,
            on_lost=lambda reason: self._inbox_put(_Lost(reason)),
            request_timeout=request_timeout,
            backoff=backoff,
            open_socket=open_socket,
        )
        self._exits = contextlib.ExitStack()
        if loopback:
            self._exits.enter_context(allow_loopback_candidates())
        self._inbox: asyncio.Queue[proto.ServerMessage | _Lost] = asyncio.Queue()
        self._events: deque[RoomEvent] = deque(maxlen=_EVENT_BACKLOG)
        self._events_ready = asyncio.Event()
        self._changed = asyncio.Event()
        self._pump_task: asyncio.Task[None] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._publisher: RTCPeerConnection | None = None
        self._subscriber: RTCPeerConnection | None = None
        self._publisher_lock = asyncio.Lock()
        self._outgoing: dict[str, _Outgoing] = {}  # by cid
        self._joined: proto.Joined | None = None
        self._closed_error: HubbubError | None = None
        self._closed = False
        self._finished = False  # Disconnected was emitted
        self.room_sid = ""
        self.channel = ""
        self.local_participant = LocalParticipant(sid="", identity="", role="")
        self.participants: dict[str, RemoteParticipant] = {}
        """Remote participants by sid."""

    # --- lifecycle --------------------------------------------------------------------------

    async def _open(self, timeout: float) -> None:
        try:
            joined = await self._signal.join(self._join, timeout=timeout)
        except BaseException:
            self._exits.close()
            raise
        self._apply_joined(joined, emit=False)
        self._pump_task = asyncio.create_task(self._pump(), name="hubbub-room")

    async def __aenter__(self) -> Room:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.disconnect()

    @property
    def connected(self) -> bool:
        """True while joined and not reconnecting."""
        return not self._closed and self._signal.connected and self._reconnect_task is None

    @property
    def rtt_ms(self) -> float | None:
        """Signaling round-trip time from the last ping, in milliseconds (``None`` before the first)."""
        return self._signal.rtt_ms

    @property
    def reconnect_window(self) -> float:
        """Seconds the server keeps this participant after a connection drops (from ``joined``)."""
        return self._joined.reconnect_window if self._joined else 0.0

    async def disconnect(self) -> None:
        """Leave the room (sends ``leave``), close media and end :meth:`events` with :class:`Disconnected`."""
        if self._closed:
            return
        await self._shutdown(proto.LeaveReason.client_left.value, None, leave=True)

    async def _shutdown(self, reason: str, error: HubbubError | None, *, leave: bool) -> None:
        if self._closed:
            return
        self._closed = True
        self._closed_error = error
        current = asyncio.current_task()
        for task in (self._reconnect_task, self._pump_task):
            if task is not None and task is not current:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._signal.close(leave=leave, error=error)
        await self._close_peer_connections()
        self._exits.close()
        self._emit(Disconnected(reason=reason, error=error))
        self._finished = True
        self._changed.set()

    # --- events -----------------------------------------------------------------------------

    def _emit(self, event: RoomEvent) -> None:
        if len(self._events) == self._events.maxlen:
            log.warning("event backlog full: dropping %s", type(self._events[0]).__name__)
        self._events.append(event)
        self._events_ready.set()

    async def events(self) -> AsyncIterator[RoomEvent]:
        """Yield room events in order, from the moment of joining, until :class:`Disconnected`.

        Events are buffered (the newest 1024) until read, so nothing is missed between
        :func:`connect` and the first call. Meant for one consumer at a time.
        """
        while True:
            while self._events:
                event = self._events.popleft()
                yield event
                if isinstance(event, Disconnected):
                    return
            if self._finished:
                return
            self._events_ready.clear()
            await self._events_ready.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- incoming frames --------------------------------------------------------------------

    def _inbox_put(self, item: proto.ServerMessage | _Lost) -> None:
        self._inbox.put_nowait(item)

    async def _pump(self) -> None:
        while True:
            item = await self._inbox.get()
            try:
                await self._handle(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("failed to handle %s", type(item).__name__)

    async def _handle(self, msg: proto.ServerMessage | _Lost) -> None:
        if self._closed:
            return
        if isinstance(msg, _Lost):
            self._start_reconnect(msg.reason)
        elif isinstance(msg, proto.Joined):
            # A resume's ``joined`` is applied here, in order with the frames that follow it.
            if msg is not self._joined:
                self._apply_joined(msg, emit=True)
        elif isinstance(msg, proto.Offer):
            await self._answer_subscriber(msg.sdp)
        elif isinstance(msg, proto.ParticipantJoined | proto.ParticipantUpdated):
            self._upsert_participant(msg.participant, emit=True)
        elif isinstance(msg, proto.ParticipantLeft):
            if msg.participant_sid == self.local_participant.sid:
                await self._shutdown(str(msg.reason), Kicked(msg.reason), leave=False)
                return
            gone = self.participants.pop(msg.participant_sid, None)
            if gone is not None:
                for pub in list(gone.tracks.values()):
                    self._drop_remote_track(gone, pub)
                self._emit(ParticipantLeft(participant=gone, reason=str(msg.reason)))
        elif isinstance(msg, proto.TrackPublished):
            if msg.track.participant_sid != self.local_participant.sid:
                self._upsert_track(msg.track, emit=True)
        elif isinstance(msg, proto.TrackUnpublished):
            found = self._find_remote(msg.track_sid)
            if found is not None:
                self._drop_remote_track(*found)
        elif isinstance(msg, proto.TrackMuted) and msg.participant_sid == self.local_participant.sid:
            self._on_local_muted(msg)
        elif isinstance(msg, proto.TrackMuted):
            found = self._find_remote(msg.track_sid)
            if found is not None:
                found[1].muted = msg.muted
                self._emit(TrackMuted(publication=found[1], participant=found[0], muted=msg.muted))
        elif isinstance(msg, proto.SubscriptionUpdate):
            self._on_subscription(msg)
        elif isinstance(msg, proto.ActiveSpeakers):
            self._emit(ActiveSpeakers(speakers=tuple(msg.speakers)))
        elif isinstance(msg, proto.TokenExpiring):
            self._emit(TokenExpiring(expiring=tuple(msg.expiring)))
        elif isinstance(msg, proto.Kicked):
            await self._shutdown(str(msg.reason), Kicked(msg.reason, msg.message), leave=False)
        elif isinstance(msg, proto.Error):
            self._emit(ErrorReceived(code=msg.code, message=msg.message))
        self._notify()

    # --- room state -------------------------------------------------------------------------

    def _apply_joined(self, joined: proto.Joined, *, emit: bool) -> None:
        self._joined = joined
        self.room_sid = joined.room.sid
        self.channel = joined.room.channel
        me = joined.participant
        self.local_participant = LocalParticipant(
            sid=me.sid,
            identity=me.identity,
            role=me.role,
            name=me.name,
            metadata=me.metadata,
            can_publish=me.can_publish,
            can_subscribe=me.can_subscribe,
        )
        self._ice_servers = (
            self._ice_servers_override
            if self._ice_servers_override is not None
            else [
                RTCIceServer(urls=s.urls, username=s.username or None, credential=s.credential or None)
                for s in joined.ice_servers
            ]
        )
        present = {p.sid for p in joined.participants if p.sid != me.sid}
        for sid in list(self.participants):
            if sid not in present:
                gone = self.participants.pop(sid)
                for pub in list(gone.tracks.values()):
                    self._drop_remote_track(gone, pub, emit=emit)
                if emit:
                    self._emit(ParticipantLeft(participant=gone, reason=proto.LeaveReason.connection_lost.value))
        for info in joined.participants:
            if info.sid != me.sid:
                self._upsert_participant(info, emit=emit)

    def _upsert_participant(self, info: proto.ParticipantInfo, *, emit: bool) -> RemoteParticipant:
        participant = self.participants.get(info.sid)
        if participant is None:
            participant = RemoteParticipant(
                sid=info.sid, identity=info.identity, role=info.role, name=info.name, metadata=info.metadata
            )
            self.participants[info.sid] = participant
            if emit:
                self._emit(ParticipantJoined(participant=participant))
        else:
            participant.name, participant.metadata, participant.role = info.name, info.metadata, info.role
            if emit:
                self._emit(ParticipantUpdated(participant=participant))
        listed = {t.sid for t in info.tracks}
        for sid, pub in list(participant.tracks.items()):
            if sid not in listed:
                self._drop_remote_track(participant, pub, emit=emit)
        for track in info.tracks:
            self._upsert_track(track, emit=emit)
        return participant

    def _upsert_track(self, info: proto.TrackInfo, *, emit: bool) -> None:
        participant = self.participants.get(info.participant_sid)
        if participant is None:
            return
        pub = participant.tracks.get(info.sid)
        if pub is None:
            pub = RemotePublication(sid=info.sid, participant_sid=info.participant_sid, kind=str(info.kind))
            participant.tracks[info.sid] = pub
            pub.update(info)
            if emit:
                self._emit(TrackPublished(publication=pub, participant=participant))
        else:
            pub.update(info)

    def _drop_remote_track(self, participant: RemoteParticipant, pub: RemotePublication, *, emit: bool = True) -> None:
        self._unsubscribed(participant, pub, emit=emit)
        participant.tracks.pop(pub.sid, None)
        if emit:
            self._emit(TrackUnpublished(publication=pub, participant=participant))

    def _unsubscribed(self, participant: RemoteParticipant, pub: RemotePublication, *, emit: bool = True) -> None:
        had_track, pub.track, pub.subscribed = pub.track is not None, None, False
        if had_track and emit:
            self._emit(TrackUnsubscribed(publication=pub, participant=participant))

    def _on_local_muted(self, msg: proto.TrackMuted) -> None:
        out = next((o for o in self._outgoing.values() if o.publication.track_sid == msg.track_sid), None)
        if out is None:
            return
        pub = out.publication
        by_server = msg.re is None  # the answer to this client's own ``mute`` carries the request's id
        if by_server and pub.muted != msg.muted and out.sender is not None:
            # Keep the sender (and the msid) but send silence / black frames, as LocalPublication.mute does.
            out.sender.replaceTrack(stand_in_track(pub.kind, pub.cid, pub.track) if msg.muted else pub.track)
        pub.muted = msg.muted
        self._emit(LocalTrackMuted(publication=pub, muted=msg.muted, by_server=by_server))

    def _find_remote(self, track_sid: str) -> tuple[RemoteParticipant, RemotePublication] | None:
        for participant in self.participants.values():
            pub = participant.tracks.get(track_sid)
            if pub is not None:
                return participant, pub
        return None

    def _on_subscription(self, msg: proto.SubscriptionUpdate) -> None:
        found = self._find_remote(msg.track_sid)
        if found is None:
            return
        participant, pub = found
        if msg.subscribed:
            pub.subscribed = True
            pub.mid = msg.mid or pub.mid
        else:
            self._unsubscribed(participant, pub)

    # --- subscriber connection -------------------------------------------------------------

    def _new_peer_connection(self) -> RTCPeerConnection:
        # An empty list, not None: aiortc would otherwise add a public STUN server, which stalls
        # candidate gathering on machines without internet access.
        return self._peer_connection(RTCConfiguration(iceServers=list(self._ice_servers)))

    async def _answer_subscriber(self, sdp: str) -> None:
        pc = self._subscriber
        if pc is None:
            pc = self._subscriber = self._new_peer_connection()
            pc.add_listener("track", lambda event: self._on_remote_track(pc, event))
            pc.add_listener("connectionstatechange", lambda: self._on_pc_state(pc, "subscriber"))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        await self._signal.send(proto.Answer(sdp=pc.localDescription.sdp))

    def _on_remote_track(self, pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
        # aiortc's "track" event carries the track alone; its transceiver gives the mid.
        mid = next((t.mid or "" for t in pc.getTransceivers() if t.receiver.track is track), "")
        msids = _msid_by_mid(pc.remoteDescription.sdp if pc.remoteDescription else "")
        participant_sid, track_sid = msids.get(mid, ("", track.id))
        found = self._find_remote(track_sid)
        if found is None and participant_sid in self.participants:
            participant = self.participants[participant_sid]
            pub = RemotePublication(sid=track_sid, participant_sid=participant_sid, kind=track.kind)
            participant.tracks[track_sid] = pub
            found = participant, pub
        if found is None:
            log.warning("track %s from an unknown participant %s", track_sid, participant_sid)
            return
        participant, pub = found
        pub.track, pub.subscribed, pub.mid = track, True, mid or pub.mid
        self._emit(TrackSubscribed(track=track, publication=pub, participant=participant))
        self._notify()

    def _on_pc_state(self, pc: RTCPeerConnection, which: str) -> None:
        if pc.connectionState == "failed" and pc in (self._publisher, self._subscriber) and not self._closed:
            self._inbox_put(_Lost(f"{which} connection failed"))

    async def wait_for_track(
        self,
        participant_identity: str | None = None,
        *,
        participant_sid: str | None = None,
        kind: str | None = None,
        source: str | None = None,
        track_sid: str | None = None,
        timeout: float = 10.0,
    ) -> MediaStreamTrack:
        """Wait until a matching remote track is subscribed and return it (an aiortc track).

        Every filter left ``None`` matches anything. ``await track.recv()`` then yields decoded
        ``av`` frames. Raises :class:`TimeoutError` after ``timeout`` seconds, or the room's
        closing error (:class:`~hubbub.sdk.errors.ConnectionLostError`,
        :class:`~hubbub.sdk.errors.Kicked`) if it ends first.
        """
        deadline = time.monotonic() + timeout
        while True:
            for participant in self.participants.values():
                if participant_identity is not None and participant.identity != participant_identity:
                    continue
                if participant_sid is not None and participant.sid != participant_sid:
                    continue
                for pub in participant.tracks.values():
                    if pub.track is None or pub.track.readyState != "live":
                        continue
                    if (
                        (kind is None or pub.kind == kind)
                        and (source is None or pub.source == source)
                        and (track_sid is None or pub.sid == track_sid)
                    ):
                        return pub.track
            if self._closed:
                raise self._closed_error or ConnectionLostError("the room is closed")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching remote track within {timeout} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def subscribe(self, track_sid: str) -> None:
        """Subscribe to a remote track (with ``auto_subscribe=False``).

        Returns once the server confirms; the track itself arrives with the next subscriber
        offer as a :class:`TrackSubscribed` event (see :meth:`wait_for_track`).
        """
        await self._set_subscription([track_sid], True)

    async def unsubscribe(self, track_sid: str) -> None:
        """Stop receiving a remote track."""
        await self._set_subscription([track_sid], False)

    async def _set_subscription(self, track_sids: list[str], subscribe: bool) -> None:
        self._check_open()
        wanted = set(track_sids)
        await self._signal.request(
            proto.Subscribe(track_sids=track_sids, subscribe=subscribe),
            reply=lambda m: (
                isinstance(m, proto.SubscriptionUpdate) and m.track_sid in wanted and m.subscribed == subscribe
            ),
        )

    # --- publisher connection --------------------------------------------------------------

    async def publish(
        self,
        track: MediaStreamTrack,
        *,
        source: proto.TrackSource | str | None = None,
        name: str = "",
        muted: bool = False,
    ) -> LocalPublication:
        """Publish a local track and return its :class:`LocalPublication` (with ``track_sid``).

        ``source`` defaults to ``microphone`` for audio and ``camera`` for video. Raises
        :class:`~hubbub.sdk.errors.PermissionDenied` when the token cannot publish this kind,
        :class:`~hubbub.sdk.errors.HubbubError` for other refusals.
        """
        self._check_open()
        if track.kind not in ("audio", "video"):
            raise ValueError(f"cannot publish a track of kind {track.kind!r}")
        if track.id in self._outgoing:
            raise ValueError("this track is already published")
        kind = proto.TrackKind(track.kind)
        src = (
            proto.TrackSource(source)
            if source
            else (proto.TrackSource.microphone if kind is proto.TrackKind.audio else proto.TrackSource.camera)
        )
        pub = LocalPublication(
            room=self, track=track, cid=track.id, kind=kind.value, source=src.value, name=name, muted=muted
        )
        await self._announce(pub)
        out = _Outgoing(pub)
        self._outgoing[pub.cid] = out
        try:
            async with self._publisher_lock:
                self._attach(out)
                await self._negotiate_publisher()
        except BaseException:
            self._outgoing.pop(pub.cid, None)
            raise
        return pub

    async def _announce(self, pub: LocalPublication) -> None:
        reply = await self._signal.request(
            proto.Publish(
                cid=pub.cid,
                kind=proto.TrackKind(pub.kind),
                source=proto.TrackSource(pub.source),
                name=pub.name,
                muted=pub.muted,
                width=int(getattr(pub.track, "width", 0) or 0),
                height=int(getattr(pub.track, "height", 0) or 0),
            ),
            reply=lambda m: isinstance(m, proto.TrackPublished) and m.cid == pub.cid,
        )
        assert isinstance(reply, proto.TrackPublished)
        pub.track_sid = reply.track.sid

    def _attach(self, out: _Outgoing) -> None:
        if self._publisher is None:
            pc = self._publisher = self._new_peer_connection()
            pc.add_listener("connectionstatechange", lambda: self._on_pc_state(pc, "publisher"))
        pub = out.publication
        sending = stand_in_track(pub.kind, pub.cid, pub.track) if pub.muted else pub.track
        out.transceiver = self._publisher.addTransceiver(sending, direction="sendonly")
        out.sender = out.transceiver.sender

    async def _negotiate_publisher(self) -> None:
        pc = self._publisher
        if pc is None:
            return
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)
        reply = await self._signal.request(
            proto.Offer(sdp=pc.localDescription.sdp), reply=lambda m: isinstance(m, proto.Answer)
        )
        assert isinstance(reply, proto.Answer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply.sdp, type="answer"))

    async def _set_muted(self, pub: LocalPublication, muted: bool) -> None:
        self._check_open()
        out = self._outgoing.get(pub.cid)
        if out is None:
            raise ValueError("the track is not published")
        if pub.muted == muted:
            return
        await self._signal.request(
            proto.Mute(track_sid=pub.track_sid, muted=muted),
            reply=lambda m: isinstance(m, proto.TrackMuted) and m.track_sid == pub.track_sid and m.muted == muted,
        )
        pub.muted = muted
        if out.sender is not None:
            # Keep the sender running (and the msid unchanged) but send silence / black frames.
            out.sender.replaceTrack(stand_in_track(pub.kind, pub.cid, pub.track) if muted else pub.track)

    async def unpublish(self, publication: LocalPublication) -> None:
        """Stop publishing a track. The track object itself is not stopped; it is yours."""
        self._check_open()
        out = self._outgoing.pop(publication.cid, None)
        if out is None:
            return
        await self._signal.request(
            proto.Unpublish(track_sid=publication.track_sid),
            reply=lambda m: isinstance(m, proto.TrackUnpublished) and m.track_sid == publication.track_sid,
        )
        async with self._publisher_lock:
            if out.transceiver is not None and out.sender is not None:
                # aiortc 1.16 has no removeTrack: make the m-line inactive and feed the sender a
                # stand-in, so the application's track is released at once.
                out.sender.replaceTrack(stand_in_track(publication.kind, None, None))
                out.transceiver.direction = "inactive"
                await self._negotiate_publisher()

    # --- tokens -------------------------------------------------------------------------------

    async def renew_token(self, token: str) -> proto.TokenRenewed:
        """Hand the server a fresh token before the current one expires (see :class:`TokenExpiring`).

        The new token is also used for any later reconnection. Returns ``token_renewed`` (the
        new expiry and per-privilege expiries); raises :class:`~hubbub.sdk.errors.HubbubError`
        with a token error code when the server refuses it.
        """
        self._check_open()
        reply = await self._signal.request(
            proto.RenewToken(token=token), reply=lambda m: isinstance(m, proto.TokenRenewed)
        )
        assert isinstance(reply, proto.TokenRenewed)
        import msgspec

        self._join = msgspec.structs.replace(self._join, token=token)
        return reply

    def _check_open(self) -> None:
        if self._closed:
            raise self._closed_error or ConnectionLostError("the room is closed")

    # --- reconnection ------------------------------------------------------------------------

    def _start_reconnect(self, reason: str) -> None:
        if self._closed or self._reconnect_task is not None:
            return
        self._reconnect_task = asyncio.create_task(self._reconnect(reason), name="hubbub-reconnect")

    async def _reconnect(self, reason: str) -> None:
        log.info("reconnecting: %s", reason)
        self._emit(Reconnecting(reason=reason))
        window = self.reconnect_window
        deadline = time.monotonic() + window
        await self._signal.drop()
        await self._close_peer_connections()
        import msgspec

        resume = msgspec.structs.replace(
            self._join,
            resume_sid=self.local_participant.sid,
            resume_key=self._joined.resume_key if self._joined else "",
        )
        try:
            joined = await self._signal.resume(resume, deadline=deadline)
        except (ConnectionLostError, JoinError) as exc:
            self._reconnect_task = None
            error = exc if isinstance(exc, ConnectionLostError) else ConnectionLostError(str(exc), exc.code)
            await self._shutdown(proto.LeaveReason.connection_lost.value, error, leave=False)
            return
        try:
            while self._joined is not joined:  # the pump applies it (see _handle)
                changed = self._changed
                await asyncio.wait_for(changed.wait(), self._request_timeout)
            async with self._publisher_lock:
                for out in list(self._outgoing.values()):
                    if not joined.resumed:
                        await self._announce(out.publication)
                    self._attach(out)
                await self._negotiate_publisher()
        except (HubbubError, TimeoutError) as exc:
            self._reconnect_task = None
            await self._shutdown(proto.LeaveReason.connection_lost.value, ConnectionLostError(str(exc)), leave=False)
            return
        self._reconnect_task = None
        self._emit(Reconnected(resumed=joined.resumed))
        self._notify()

    async def _close_peer_connections(self) -> None:
        pcs = [pc for pc in (self._publisher, self._subscriber) if pc is not None]
        self._publisher = self._subscriber = None
        for participant in self.participants.values():
            for pub in participant.tracks.values():
                self._unsubscribed(participant, pub, emit=not self._closed)
        for out in self._outgoing.values():
            out.sender = out.transceiver = None
        for pc in pcs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pc.close(), 5.0)


def _msid_by_mid(sdp: str) -> dict[str, tuple[str, str]]:
    """``mid -> (stream id, track id)`` from the ``a=mid`` / ``a=msid`` lines of each m-section."""
    found: dict[str, tuple[str, str]] = {}
    mid: str | None = None
    msid: tuple[str, str] | None = None

    def flush() -> None:
        if mid is not None and msid is not None:
            found[mid] = msid

    for line in sdp.splitlines():
        if line.startswith("m="):
            flush()
            mid, msid = None, None
        elif line.startswith("a=mid:"):
            mid = line[6:].strip()
        elif line.startswith("a=msid:"):
            parts = line[7:].split()
            if len(parts) >= 2:
                msid = (parts[0], parts[1])
    flush()
    return found
