"""The room: one participant's session, and the state machine that the server's frames drive.

Theory of operation
-------------------
A :class:`Room` holds a :class:`~hubbub.sdk.signaling.SignalingClient` (the socket, request
correlation, keep-alive), a :class:`~hubbub.sdk.negotiation.Negotiation` (the publisher and
subscriber peer connections, created on demand), the remote
:class:`~hubbub.sdk.participants.Participants` and an :class:`~hubbub.sdk.events.EventStream`.

Frames from the server are handled one at a time, in arrival order, by one task (the *pump*), so
room state and events never race each other: each frame updates the participants (which return
the events it causes), drives a negotiation, or ends the room. Requests (publish, mute,
subscribe, ...) are awaited by the caller; their replies are matched by ``id`` inside the
signaling client, and the frames reach the pump as well.

A dropped connection is resumed by a :class:`~hubbub.sdk.reconnect.Reconnection`
(:mod:`hubbub.sdk.reconnect` explains how); the room ends with :class:`Disconnected`, always its
last event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from urllib.parse import urlsplit

import msgspec
from aiortc import RTCIceServer, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from hubbub.schema import signaling as proto
from hubbub.sdk.errors import ConnectionLostError, HubbubError, Kicked
from hubbub.sdk.events import (
    ActiveSpeakers,
    Disconnected,
    ErrorReceived,
    EventStream,
    LocalTrackMuted,
    RoomEvent,
    TokenExpiring,
)
from hubbub.sdk.lab import MediaRelay
from hubbub.sdk.loopback import allow_loopback_candidates, is_loopback_host
from hubbub.sdk.negotiation import Negotiation, Outgoing, PeerConnectionFactory
from hubbub.sdk.participants import Participants
from hubbub.sdk.reconnect import Reconnection
from hubbub.sdk.records import LocalParticipant, LocalPublication, RemoteParticipant
from hubbub.sdk.signaling import Backoff, OpenSocket, SignalingClient, open_websocket, signaling_url

__all__ = ["Room", "connect"]

log = logging.getLogger("hubbub.sdk")


class _Lost:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


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
    media_relay: str | None = None,
) -> Room:
    """Join a room and return the connected :class:`Room`.

    ``url`` is the server's base URL (``http(s)://host:port``; ``ws(s)://`` works too): the
    client talks to ``/rtc/v1`` under it. ``token`` is an access token from your backend (see
    :func:`hubbub.sdk.build_token`); projects in testing mode may instead give ``app_id``,
    ``user_id`` and ``channel``. ``auto_subscribe=False`` subscribes to nothing until
    :meth:`Room.subscribe` is called.

    ``loopback``: gather loopback ICE candidates (see :mod:`hubbub.sdk.loopback`); by default on
    exactly when the URL's host (or the ``media_relay``) is a loopback address. ``ice_servers``
    overrides the STUN/TURN servers the server suggests in ``joined``.

    ``media_relay`` (a lab and test option, off by default): ``"IP:port"`` of an impairment relay
    (``hubbub netsim``) that forwards to the server's media port; every candidate the server
    offers this client is replaced by that address, so all of its media, and none of its
    signaling, goes through the relay (:mod:`hubbub.sdk.lab`). Raises :class:`ValueError` if
    it is not an IP literal and a port.

    Raises :class:`~hubbub.sdk.errors.JoinError` (code and message from the server) when the
    join is refused, :class:`~hubbub.sdk.errors.ConnectionLostError` when the server cannot be
    reached, :class:`~hubbub.sdk.errors.RequestTimeout` after ``join_timeout`` seconds.

    >>> async with await connect("http://127.0.0.1:8080", token) as room:
    ...     await room.publish(ToneTrack(440))
    """
    ws_url = signaling_url(url)
    host = urlsplit(ws_url).hostname or ""
    relay = MediaRelay.parse(media_relay) if media_relay else None
    if loopback is None:
        loopback = is_loopback_host(host) or (relay is not None and is_loopback_host(relay.host))
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
        loopback=loopback,
        ice_servers=ice_servers,
        request_timeout=request_timeout,
        backoff=backoff,
        media_relay=relay,
    )
    await room._open(join_timeout)
    return room


class Room:
    """A joined room, as seen by one participant. Create it with :func:`connect`.

    Use it as an async context manager (``async with await connect(...) as room``) or call
    :meth:`disconnect` yourself. State (:attr:`local_participant`, :attr:`participants`) is kept
    up to date by the server's events; :meth:`events` yields them.

    ``open_socket`` and ``peer_connection`` make the signaling socket and the peer connections
    (tests pass fakes: ``tests/conformance``); ``media_relay`` is :func:`connect`'s lab option.
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
        peer_connection: PeerConnectionFactory = RTCPeerConnection,
        media_relay: MediaRelay | None = None,
    ) -> None:
        self._join = join
        self._ice_servers_override = list(ice_servers) if ice_servers is not None else None
        self._request_timeout = request_timeout
        self._signal = SignalingClient(
            ws_url,
            on_message=self._inbox_put,
            on_lost=lambda reason: self._inbox_put(_Lost(reason)),
            request_timeout=request_timeout,
            backoff=backoff,
            open_socket=open_socket,
        )
        self._media = Negotiation(
            self._signal,
            peer_connection=peer_connection,
            on_track=self._track_arrived,
            on_failed=self._media_failed,
            media_relay=media_relay,
        )
        self._outgoing = self._media.outgoing  # by cid
        self._remote = Participants()
        self._reconnection = Reconnection(self, self._signal)
        self._exits = contextlib.ExitStack()
        if loopback:
            self._exits.enter_context(allow_loopback_candidates())
        self._inbox: asyncio.Queue[proto.ServerMessage | _Lost] = asyncio.Queue()
        self._events = EventStream()
        self._changed = asyncio.Event()
        self._pump_task: asyncio.Task[None] | None = None
        self._joined: proto.Joined | None = None
        self._closed_error: HubbubError | None = None
        self._closed = False
        self.room_sid = ""
        self.channel = ""
        self.local_participant = LocalParticipant(sid="", identity="", role="")

    @property
    def participants(self) -> dict[str, RemoteParticipant]:
        """Remote participants by sid."""
        return self._remote.by_sid

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
        return not self._closed and self._signal.connected and not self._reconnection.active

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
        for task in (self._reconnection.task, self._pump_task):
            if task is not None and task is not current:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._signal.close(leave=leave, error=error)
        await self._close_media()
        self._exits.close()
        self._emit(Disconnected(reason=reason, error=error))
        self._changed.set()

    def _check_open(self) -> None:
        if self._closed:
            raise self._closed_error or ConnectionLostError("the room is closed")

    # --- events -----------------------------------------------------------------------------

    def _emit(self, event: RoomEvent) -> None:
        self._events.emit(event)

    def _emit_all(self, events: list[RoomEvent]) -> None:
        for event in events:
            self._emit(event)

    def events(self) -> AsyncIterator[RoomEvent]:
        """Yield room events in order, from the moment of joining, until :class:`Disconnected`.

        Events are buffered (the newest 1024) until read, so nothing is missed between
        :func:`connect` and the first call. Meant for one consumer at a time.
        """
        return self._events.read()

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
        remote = self._remote
        if isinstance(msg, _Lost):
            self._reconnection.start(msg.reason)
        elif isinstance(msg, proto.Joined):
            # A resume's ``joined`` is applied here, in order with the frames that follow it.
            if msg is not self._joined:
                self._apply_joined(msg, emit=True)
        elif isinstance(msg, proto.Offer):
            await self._media.answer(msg.sdp)
        elif isinstance(msg, proto.ParticipantJoined | proto.ParticipantUpdated):
            self._emit_all(remote.upsert(msg.participant))
        elif isinstance(msg, proto.ParticipantLeft):
            if msg.participant_sid == self.local_participant.sid:
                await self._shutdown(str(msg.reason), Kicked(msg.reason), leave=False)
                return
            self._emit_all(remote.leave(msg.participant_sid, str(msg.reason)))
        elif isinstance(msg, proto.TrackPublished):
            if msg.track.participant_sid != self.local_participant.sid:
                self._emit_all(remote.upsert_track(msg.track))
        elif isinstance(msg, proto.TrackUnpublished):
            self._emit_all(remote.unpublish(msg.track_sid))
        elif isinstance(msg, proto.TrackMuted) and msg.participant_sid == self.local_participant.sid:
            self._on_local_muted(msg)
        elif isinstance(msg, proto.TrackMuted):
            self._emit_all(remote.set_muted(msg.track_sid, msg.muted))
        elif isinstance(msg, proto.SubscriptionUpdate):
            self._emit_all(remote.subscription(msg))
        elif isinstance(msg, proto.StreamState):
            self._emit_all(remote.stream_state(msg))
        elif isinstance(msg, proto.ActiveSpeakers):
            self._emit(ActiveSpeakers(speakers=tuple(msg.speakers)))
        elif isinstance(msg, proto.NetworkQuality):
            self._emit_all(remote.network_quality(msg, self.local_participant))
        elif isinstance(msg, proto.TokenExpiring):
            self._emit(TokenExpiring(expiring=tuple(msg.expiring)))
        elif isinstance(msg, proto.Kicked):
            await self._shutdown(str(msg.reason), Kicked(msg.reason, msg.message), leave=False)
        elif isinstance(msg, proto.Error):
            self._emit(ErrorReceived(code=msg.code, message=msg.message))
        self._notify()

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
        self._media.ice_servers = (
            self._ice_servers_override
            if self._ice_servers_override is not None
            else [
                RTCIceServer(urls=s.urls, username=s.username or None, credential=s.credential or None)
                for s in joined.ice_servers
            ]
        )
        events = self._remote.apply_joined(joined)
        if emit:
            self._emit_all(events)

    def _on_local_muted(self, msg: proto.TrackMuted) -> None:
        out = next((o for o in self._outgoing.values() if o.publication.track_sid == msg.track_sid), None)
        if out is None:
            return
        pub = out.publication
        by_server = msg.re is None  # the answer to this client's own ``mute`` carries the request's id
        if by_server and pub.muted != msg.muted:
            # Send silence / black frames, as LocalPublication.mute does.
            self._media.send_muted(out, msg.muted)
        pub.muted = msg.muted
        self._emit(LocalTrackMuted(publication=pub, muted=msg.muted, by_server=by_server))

    # --- media ------------------------------------------------------------------------------

    def _track_arrived(self, participant_sid: str, track_sid: str, mid: str, track: MediaStreamTrack) -> None:
        event = self._remote.track_arrived(participant_sid, track_sid, mid, track)
        if event is None:
            log.warning("track %s from an unknown participant %s", track_sid, participant_sid)
            return
        self._emit(event)
        self._notify()

    def _media_failed(self, reason: str) -> None:
        if not self._closed:
            self._inbox_put(_Lost(reason))

    async def _close_media(self) -> None:
        events = self._remote.unsubscribe_all()
        if not self._closed:
            self._emit_all(events)
        await self._media.close()

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
            found = self._remote.live_track(
                participant_identity, participant_sid=participant_sid, kind=kind, source=source, track_sid=track_sid
            )
            if found is not None:
                return found
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

    async def set_video_quality(
        self, track_sid: str, quality: str = "high", *, width: int = 0, height: int = 0, visible: bool = True
    ) -> None:
        """Ask for a simulcast video's ``low``, ``medium`` or ``high`` layer, or, with ``width`` and
        ``height``, the smallest layer at least that large (the size it is shown at). Kept for a
        later subscription too; a single-layer video is unaffected. ``visible=False``: this client
        shows the video nowhere now; the server pauses it (``TrackStreamStateChanged``, reason
        ``"not_wanted"``) until it is asked for again. (``video_layers``, the server's word to a
        simulcast publisher, is ignored here: aiortc publishes one layer.)"""
        self._check_open()
        await self._signal.request(
            proto.UpdateSubscription(
                track_sids=[track_sid], quality=proto.VideoQuality(quality), width=width, height=height, visible=visible
            )
        )

    async def _set_subscription(self, track_sids: list[str], subscribe: bool) -> None:
        self._check_open()
        wanted = set(track_sids)
        await self._signal.request(
            proto.Subscribe(track_sids=track_sids, subscribe=subscribe),
            reply=lambda m: (
                isinstance(m, proto.SubscriptionUpdate) and m.track_sid in wanted and m.subscribed == subscribe
            ),
        )

    # --- publishing -------------------------------------------------------------------------

    async def publish(
        self,
        track: MediaStreamTrack,
        *,
        source: proto.TrackSource | str | None = None,
        name: str = "",
        muted: bool = False,
    ) -> LocalPublication:
        """Publish a local track and return its :class:`LocalPublication` (with ``track_sid``).

        ``source`` defaults to ``microphone`` for audio and ``camera`` for video. Video goes out
        as one layer: aiortc cannot send simulcast (one encoder per sender, no rid encodings),
        so its subscribers all get this one stream. Raises
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
        await self._media.announce(pub)
        out = Outgoing(pub)
        self._outgoing[pub.cid] = out
        try:
            async with self._media.lock:
                self._media.attach(out)
                await self._media.negotiate()
        except BaseException:
            self._outgoing.pop(pub.cid, None)
            raise
        return pub

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
        self._media.send_muted(out, muted)

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
        await self._media.detach(out)

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
        self._join = msgspec.structs.replace(self._join, token=token)
        return reply

    # --- reconnection (the host side of hubbub.sdk.reconnect) ---------------------------------

    def _resume_join(self) -> proto.Join:
        return msgspec.structs.replace(
            self._join,
            resume_sid=self.local_participant.sid,
            resume_key=self._joined.resume_key if self._joined else "",
        )

    async def _wait_applied(self, joined: proto.Joined) -> None:
        while self._joined is not joined:  # the pump applies it (see _handle)
            changed = self._changed
            await asyncio.wait_for(changed.wait(), self._request_timeout)

    async def _restore_publishing(self, resumed: bool) -> None:
        async with self._media.lock:
            for out in list(self._outgoing.values()):
                if not resumed:
                    await self._media.announce(out.publication)
                self._media.attach(out)
            await self._media.negotiate()

    async def _end(self, error: ConnectionLostError) -> None:
        await self._shutdown(proto.LeaveReason.connection_lost.value, error, leave=False)
