"""Room events: immutable records of what changed, in the order it changed, and their buffer.

:meth:`hubbub.sdk.Room.events` yields them; :class:`Disconnected` is always the last.
:class:`EventStream` keeps the newest :data:`EVENT_BACKLOG` until they are read, so nothing is
missed between :func:`hubbub.sdk.connect` and the first read.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiortc.mediastreams import MediaStreamTrack

from hubbub.schema import signaling as proto
from hubbub.sdk.errors import HubbubError
from hubbub.sdk.records import LocalPublication, NetworkQualityInfo, RemoteParticipant, RemotePublication

__all__ = [
    "EVENT_BACKLOG",
    "ActiveSpeakers",
    "Disconnected",
    "ErrorReceived",
    "EventStream",
    "LocalTrackMuted",
    "NetworkQuality",
    "ParticipantJoined",
    "ParticipantLeft",
    "ParticipantNetworkQuality",
    "ParticipantUpdated",
    "Reconnected",
    "Reconnecting",
    "RoomEvent",
    "TokenExpiring",
    "TrackMuted",
    "TrackPublished",
    "TrackStreamStateChanged",
    "TrackSubscribed",
    "TrackUnpublished",
    "TrackUnsubscribed",
]

log = logging.getLogger("hubbub.sdk")

EVENT_BACKLOG = 1024


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
class TrackStreamStateChanged:
    """The server paused (``state`` ``"paused"``; ``reason`` ``"not_wanted"``: this client said it
    does not show the video, ``"bandwidth"``: its downlink cannot carry it) or resumed
    (``"active"``) a video this client subscribes to; also ``publication.stream_state``."""

    publication: RemotePublication
    participant: RemoteParticipant
    state: str
    reason: str


@dataclass(frozen=True, slots=True)
class ActiveSpeakers:
    """The loudest participants now, loudest first (may include this client's own sid)."""

    speakers: tuple[proto.Speaker, ...]


@dataclass(frozen=True, slots=True)
class NetworkQuality:
    """This client's network quality, as the server measures it, changed (its uplink or downlink
    score; the server reports every 2 s). ``quality.score`` is the worse direction on the 0-6 scale
    and ``quality.quality`` its name; ``room.local_participant.network_quality`` holds the latest."""

    quality: NetworkQualityInfo


@dataclass(frozen=True, slots=True)
class ParticipantNetworkQuality:
    """Another participant's network quality changed (as :class:`NetworkQuality`); it is also
    ``participant.network_quality``."""

    participant: RemoteParticipant
    quality: NetworkQualityInfo


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
    | TrackStreamStateChanged
    | ActiveSpeakers
    | NetworkQuality
    | ParticipantNetworkQuality
    | TokenExpiring
    | ErrorReceived
    | Reconnecting
    | Reconnected
    | Disconnected
)


class EventStream:
    """The room's events for one reader, in order, until :class:`Disconnected`."""

    def __init__(self, backlog: int = EVENT_BACKLOG) -> None:
        self._events: deque[RoomEvent] = deque(maxlen=backlog)
        self._ready = asyncio.Event()
        self._finished = False

    def emit(self, event: RoomEvent) -> None:
        if len(self._events) == self._events.maxlen:
            log.warning("event backlog full: dropping %s", type(self._events[0]).__name__)
        self._events.append(event)
        self._ready.set()
        if isinstance(event, Disconnected):
            self._finished = True

    async def read(self) -> AsyncIterator[RoomEvent]:
        while True:
            while self._events:
                event = self._events.popleft()
                yield event
                if isinstance(event, Disconnected):
                    return
            if self._finished:
                return
            self._ready.clear()
            await self._ready.wait()
