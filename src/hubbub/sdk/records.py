"""Participants and publications, as this client knows them.

Plain mutable records that the room keeps up to date from the server's frames
(:mod:`hubbub.sdk.participants` does the bookkeeping for remote ones). A
:class:`LocalPublication` reaches back to its room only through :class:`PublicationOwner`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from aiortc.mediastreams import MediaStreamTrack

from hubbub.schema import signaling as proto

__all__ = [
    "LocalParticipant",
    "LocalPublication",
    "NetworkQualityInfo",
    "PublicationOwner",
    "RemoteParticipant",
    "RemotePublication",
]


@dataclass(frozen=True, slots=True)
class NetworkQualityInfo:
    """A participant's network quality as the server measures it (``network_quality``, every 2 s).

    ``uplink`` (what it sends) and ``downlink`` (what it receives) are on the 0-6 scale of
    :class:`hubbub.schema.signaling.Quality`: 0 unknown, 1 excellent, 2 good, 3 poor, 4 bad,
    5 very bad, 6 down. The measurements are None where the server has none: ``rtt_ms`` is the
    subscriber connection's round trip, losses are in percent, jitters in ms.
    """

    uplink: int = 0
    downlink: int = 0
    rtt_ms: float | None = None
    uplink_loss_pct: float | None = None
    downlink_loss_pct: float | None = None
    uplink_jitter_ms: float | None = None
    downlink_jitter_ms: float | None = None

    @classmethod
    def from_frame(cls, q: proto.LinkQuality) -> NetworkQualityInfo:
        return cls(
            _scale(q.uplink),
            _scale(q.downlink),
            q.rtt_ms,
            q.uplink_loss_pct,
            q.downlink_loss_pct,
            q.uplink_jitter_ms,
            q.downlink_jitter_ms,
        )

    @property
    def score(self) -> int:
        """The worse direction (0 only when neither is known)."""
        return max(self.uplink, self.downlink)

    @property
    def quality(self) -> str:
        """The name of :attr:`score`: ``unknown``, ``excellent``, ``good``, ``poor``, ``bad``,
        ``very_bad`` or ``down``."""
        return proto.Quality(self.score).name


def _scale(value: int) -> int:
    return min(max(value, proto.Quality.unknown), proto.Quality.down)


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
    network_quality: NetworkQualityInfo | None = None  # None until the server first reports it


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
    stream_state: str = "active"  # "paused" while the server sends none of this video
    stream_state_reason: str = ""  # why it is paused: "not_wanted" (hidden here), "bandwidth"

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
    network_quality: NetworkQualityInfo | None = None  # None until the server first reports it


class PublicationOwner(Protocol):
    """What a :class:`LocalPublication` asks of its room (:class:`hubbub.sdk.Room` is one)."""

    async def _set_muted(self, publication: LocalPublication, muted: bool) -> None: ...

    async def unpublish(self, publication: LocalPublication) -> None: ...


@dataclass(slots=True, eq=False)
class LocalPublication:
    """A track this client publishes. ``track_sid`` is the server's id for it; ``cid`` the track's id."""

    room: PublicationOwner = field(repr=False)
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
