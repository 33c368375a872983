"""Hubbub's Python client: join a room, publish and receive audio and video.

>>> from hubbub.sdk import connect, ToneTrack, FrameCounterTrack, TrackSubscribed
>>> async with await connect("http://127.0.0.1:8080", token) as room:
...     mic = await room.publish(ToneTrack(440))                     # source="microphone"
...     await room.publish(FrameCounterTrack(320, 240, 15))          # source="camera"
...     video = await room.wait_for_track("bob", kind="video", timeout=10)
...     frame = await video.recv()                                   # an av.VideoFrame
...     async for event in room.events():
...         if isinstance(event, TrackSubscribed): ...

- :func:`connect` / :class:`Room` -- the session (:mod:`hubbub.sdk.room` explains how it works,
  :mod:`hubbub.sdk.reconnect` how it survives a dropped connection); the signaling protocol it
  speaks is :mod:`hubbub.schema.signaling`.
- Events -- immutable dataclasses yielded by :meth:`Room.events`; :class:`Disconnected` is always last.
- Media -- :mod:`hubbub.sdk.media` (tone, frame counter, generator and file sources, probes).
- Errors -- :mod:`hubbub.sdk.errors`, all derived from :class:`HubbubError`.
- Tokens -- :func:`build_token` mints access tokens in your backend (standard library only).
- Loopback -- :mod:`hubbub.sdk.loopback`, for servers on 127.0.0.1 (switched on automatically).
- Lab -- :mod:`hubbub.sdk.lab`: ``connect(..., media_relay="IP:port")`` sends one client's media
  through an impairment relay (``hubbub netsim``), for tests and benchmarks.

Needs the ``sdk`` extra (aiortc, numpy). Everything but :func:`build_token` is imported on first
use, so server code that only mints tokens (``from hubbub.sdk.token import build_token``) never
loads aiortc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubbub.sdk.token import build_token

if TYPE_CHECKING:
    from hubbub.sdk.errors import (
        ConnectionLostError,
        HubbubError,
        JoinError,
        Kicked,
        PermissionDenied,
        RequestTimeout,
    )
    from hubbub.sdk.events import (
        ActiveSpeakers,
        Disconnected,
        ErrorReceived,
        LocalTrackMuted,
        NetworkQuality,
        ParticipantJoined,
        ParticipantLeft,
        ParticipantNetworkQuality,
        ParticipantUpdated,
        Reconnected,
        Reconnecting,
        RoomEvent,
        TokenExpiring,
        TrackMuted,
        TrackPublished,
        TrackStreamStateChanged,
        TrackSubscribed,
        TrackUnpublished,
        TrackUnsubscribed,
    )
    from hubbub.sdk.loopback import allow_loopback_candidates
    from hubbub.sdk.media import (
        FrameCounterTrack,
        GeneratorAudioTrack,
        GeneratorVideoTrack,
        ToneTrack,
        detect_tone,
        file_tracks,
        read_frame_counter,
    )
    from hubbub.sdk.records import (
        LocalParticipant,
        LocalPublication,
        NetworkQualityInfo,
        RemoteParticipant,
        RemotePublication,
    )
    from hubbub.sdk.room import Room, connect
    from hubbub.sdk.signaling import Backoff

    Client = Room

_LAZY = {
    "hubbub.sdk.room": "Room connect",
    "hubbub.sdk.records": "LocalParticipant LocalPublication NetworkQualityInfo RemoteParticipant RemotePublication",
    "hubbub.sdk.events": (
        "ActiveSpeakers Disconnected ErrorReceived LocalTrackMuted NetworkQuality ParticipantJoined ParticipantLeft "
        "ParticipantNetworkQuality ParticipantUpdated Reconnected Reconnecting RoomEvent TokenExpiring TrackMuted "
        "TrackPublished TrackStreamStateChanged TrackSubscribed TrackUnpublished TrackUnsubscribed"
    ),
    "hubbub.sdk.errors": "ConnectionLostError HubbubError JoinError Kicked PermissionDenied RequestTimeout",
    "hubbub.sdk.loopback": "allow_loopback_candidates",
    "hubbub.sdk.media": (
        "FrameCounterTrack GeneratorAudioTrack GeneratorVideoTrack ToneTrack detect_tone file_tracks read_frame_counter"
    ),
    "hubbub.sdk.signaling": "Backoff",
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names.split()}
_WHERE["Client"] = "hubbub.sdk.room"


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hubbub.sdk' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), "Room" if name == "Client" else name)
    globals()[name] = value
    return value


__all__ = [
    "ActiveSpeakers",
    "Backoff",
    "Client",
    "ConnectionLostError",
    "Disconnected",
    "ErrorReceived",
    "FrameCounterTrack",
    "GeneratorAudioTrack",
    "GeneratorVideoTrack",
    "HubbubError",
    "JoinError",
    "Kicked",
    "LocalParticipant",
    "LocalPublication",
    "LocalTrackMuted",
    "NetworkQuality",
    "NetworkQualityInfo",
    "ParticipantJoined",
    "ParticipantLeft",
    "ParticipantNetworkQuality",
    "ParticipantUpdated",
    "PermissionDenied",
    "Reconnected",
    "Reconnecting",
    "RemoteParticipant",
    "RemotePublication",
    "RequestTimeout",
    "Room",
    "RoomEvent",
    "TokenExpiring",
    "ToneTrack",
    "TrackMuted",
    "TrackPublished",
    "TrackStreamStateChanged",
    "TrackSubscribed",
    "TrackUnpublished",
    "TrackUnsubscribed",
    "allow_loopback_candidates",
    "build_token",
    "connect",
    "detect_tone",
    "file_tracks",
    "read_frame_counter",
]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
