"""The signaling protocol, version 1: JSON text frames on the WebSocket ``/rtc/v1``.

Shared by the server and every client SDK; docs/protocol.md describes each message with
sequence diagrams. Every frame is one JSON object whose ``type`` names the message. A client
request may carry ``id`` (any string up to 64 characters); the server's reply to it, or the error
it caused, carries the same value as ``re``. Unknown fields are ignored (forward compatibility);
unknown types, wrong field types and oversize frames are answered with an ``error`` frame and
never close the session, except before ``join`` succeeds.

Media uses two peer connections per participant: the *publisher* connection, where the client
offers (``offer`` -> ``answer``), and the *subscriber* connection, where the server offers
(server ``offer`` -> client ``answer``). Each remote track's ``a=msid`` is
``<participant_sid> <track_sid>``.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

import msgspec

from hubbub.schema import frames, jsonsafe

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 256 * 1024
"""Largest accepted frame (an SDP offer with many tracks stays far below it)."""
MAX_FRAME_DEPTH = jsonsafe.MAX_DEPTH
"""Nesting levels of objects and arrays in a client frame (``metadata`` included)."""
MAX_SERVER_FRAME_DEPTH = 2 * jsonsafe.MAX_DEPTH
"""What a client accepts: server frames wrap client data."""


class ErrorCode(StrEnum):
    """Stable codes in ``error`` frames; token refusals use the token error codes as they are."""

    invalid_message = "invalid_message"  # not JSON, not an object, wrong field types
    unknown_type = "unknown_type"
    frame_too_large = "frame_too_large"
    unsupported_protocol = "unsupported_protocol"
    join_required = "join_required"  # a request before join
    already_joined = "already_joined"
    out_of_order = "out_of_order"  # e.g. an answer with no offer outstanding
    permission_denied = "permission_denied"  # e.g. publish without the publish privilege
    track_not_found = "track_not_found"
    invalid_sdp = "invalid_sdp"
    rate_limited = "rate_limited"
    room_full = "room_full"
    server_error = "server_error"


class TrackKind(StrEnum):
    audio = "audio"
    video = "video"


class TrackSource(StrEnum):
    microphone = "microphone"
    camera = "camera"
    screen = "screen"
    screen_audio = "screen_audio"
    unknown = "unknown"


class PeerTarget(StrEnum):
    publisher = "publisher"
    subscriber = "subscriber"


class LeaveReason(StrEnum):
    client_left = "client_left"
    kicked = "kicked"
    duplicate_identity = "duplicate_identity"  # the same user joined again elsewhere
    token_expired = "token_expired"
    connection_lost = "connection_lost"  # no media/signaling within the reconnect window
    room_closed = "room_closed"
    server_shutdown = "server_shutdown"


# --- shared records ---------------------------------------------------------------------------


class TrackInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    sid: str
    participant_sid: str
    kind: TrackKind
    source: TrackSource = TrackSource.unknown
    name: str = ""
    muted: bool = False
    mime_type: str = ""
    width: int = 0
    height: int = 0


class ParticipantInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    sid: str
    identity: str  # the token's user id
    role: str
    name: str = ""
    metadata: str = ""
    joined_at: float = 0.0
    tracks: list[TrackInfo] = []
    can_publish: bool = False
    can_subscribe: bool = False


class RoomInfo(msgspec.Struct, kw_only=True):
    sid: str
    channel: str
    created_at: float


class IceServer(msgspec.Struct, kw_only=True, omit_defaults=True):
    urls: list[str]
    username: str = ""
    credential: str = ""


class Speaker(msgspec.Struct, kw_only=True):
    participant_sid: str
    level: float  # 0..1, from the RFC 6464 audio level
    active: bool = True


class Expiring(msgspec.Struct, kw_only=True):
    what: str  # "token" or a privilege name
    at: float


# --- client -> server --------------------------------------------------------------------------


class _Request(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    id: str | None = None


class Join(_Request, tag="join"):
    token: str = ""
    # Testing-mode projects (App ID only) join without a token:
    app_id: str = ""
    user_id: str = ""
    channel: str = ""
    name: str = ""
    metadata: str = ""
    auto_subscribe: bool = True
    protocol: int = PROTOCOL_VERSION
    # Resume after a network change: the participant sid and resume key from ``joined``.
    resume_sid: str = ""
    resume_key: str = ""
    # Put the first subscriber offer into ``joined`` (its ``offer``) instead of a separate frame,
    # so the client can start applying it before anything else (saves a browser a busy turn).
    inline_offer: bool = False


class Publish(_Request, tag="publish"):
    cid: str  # the client's id for the track: the MediaStreamTrack id in its offer's a=msid
    kind: TrackKind
    source: TrackSource = TrackSource.unknown
    name: str = ""
    muted: bool = False
    width: int = 0
    height: int = 0


class Unpublish(_Request, tag="unpublish"):
    track_sid: str


class Mute(_Request, tag="mute"):
    track_sid: str
    muted: bool


class Subscribe(_Request, tag="subscribe"):
    track_sids: list[str]
    subscribe: bool = True  # False unsubscribes


class VideoQuality(StrEnum):
    """Of a simulcast video: its lowest, middle or top layer."""

    low = "low"
    medium = "medium"
    high = "high"


class UpdateSubscription(_Request, tag="update_subscription"):
    """What the client wants of videos it subscribes to (now or later): a ``quality``, or the size
    it renders them at (``width`` x ``height``: the smallest layer at least that large). Only a
    simulcast video has a choice; the others are unaffected. ``visible`` false: the client shows
    none of them now (any video, simulcast or not, is paused until it is visible again). Replied
    to with ``ack``."""

    track_sids: list[str]
    quality: VideoQuality = VideoQuality.high
    width: int = 0
    height: int = 0
    visible: bool = True


class Offer(_Request, tag="offer"):
    """Client -> server: an offer on the publisher connection. Server -> client: subscriber offer."""

    sdp: str
    re: str | None = None


class Answer(_Request, tag="answer"):
    """Client -> server: answer on the subscriber connection. Server -> client: publisher answer
    (with ``re`` naming the offer's ``id``)."""

    sdp: str
    re: str | None = None


class Trickle(_Request, tag="trickle"):
    target: PeerTarget
    candidate: str  # "" means end of candidates
    sdp_mid: str = ""


class Ping(_Request, tag="ping"):
    t: float  # client clock, milliseconds
    rtt: float = 0.0  # the client's last measured round trip, reported for the call inspector


class RenewToken(_Request, tag="renew_token"):
    token: str


class Leave(_Request, tag="leave"):
    pass


ClientMessage = (
    Join
    | Publish
    | Unpublish
    | Mute
    | Subscribe
    | UpdateSubscription
    | Offer
    | Answer
    | Trickle
    | Ping
    | RenewToken
    | Leave
)


# --- server -> client --------------------------------------------------------------------------


class _Event(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    re: str | None = None


class Joined(_Event, tag="joined", omit_defaults=False):
    """Sent with every field, defaults included: a client reads ``ice_servers``, ``protocol``,
    ``ping_interval`` and ``resumed`` from it, not from what it assumes of the server."""

    room: RoomInfo
    participant: ParticipantInfo
    participants: list[ParticipantInfo]
    ice_servers: list[IceServer] = []
    server_version: str = ""
    protocol: int = PROTOCOL_VERSION
    ping_interval: float = 5.0
    reconnect_window: float = 10.0
    resume_key: str = ""
    resumed: bool = False
    offer: str = ""  # with ``join.inline_offer``: the first subscriber offer, answered as usual


class TrackPublished(_Event, tag="track_published"):
    cid: str
    track: TrackInfo


class TrackUnpublished(_Event, tag="track_unpublished"):
    participant_sid: str
    track_sid: str


class TrackMuted(_Event, tag="track_muted"):
    participant_sid: str
    track_sid: str
    muted: bool


class ParticipantJoined(_Event, tag="participant_joined"):
    participant: ParticipantInfo


class ParticipantUpdated(_Event, tag="participant_updated"):
    participant: ParticipantInfo


class ParticipantLeft(_Event, tag="participant_left"):
    participant_sid: str
    identity: str
    reason: LeaveReason


class ActiveSpeakers(_Event, tag="active_speakers"):
    speakers: list[Speaker]


class Quality(IntEnum):
    """The network quality scale of ``LinkQuality.uplink`` and ``.downlink`` (higher is worse)."""

    unknown = 0  # nothing measured yet (no media sent or received that way)
    excellent = 1
    good = 2
    poor = 3
    bad = 4
    very_bad = 5
    down = 6  # no media or feedback for several seconds


class LinkQuality(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One participant's network quality, each direction on the 0-6 scale of :class:`Quality`:
    0 unknown, 1 excellent, 2 good, 3 poor, 4 bad, 5 very bad, 6 down. ``uplink``: what it sends
    to the server; ``downlink``: what the server sends it. The measurements behind them are
    optional (absent when not measured): ``rtt_ms`` is the subscriber connection's round trip (the
    server measures none on the publisher connection), losses in percent, jitters in ms."""

    participant_sid: str
    uplink: int = 0
    downlink: int = 0
    rtt_ms: float | None = None
    uplink_loss_pct: float | None = None
    downlink_loss_pct: float | None = None
    uplink_jitter_ms: float | None = None
    downlink_jitter_ms: float | None = None


class NetworkQuality(_Event, tag="network_quality"):
    """Every 2 s: the network quality of this participant and of the others in the room."""

    participants: list[LinkQuality]


class SubscriptionUpdate(_Event, tag="subscription"):
    track_sid: str
    subscribed: bool
    mid: str = ""  # the m-line carrying it on the subscriber connection


class StreamStatus(StrEnum):
    active = "active"
    paused = "paused"


class StreamState(_Event, tag="stream_state"):
    """A subscribed video was paused or resumed by the server: ``reason`` says why it is paused
    (``not_wanted``: the subscriber hides it; ``bandwidth``: the downlink cannot carry it)."""

    track_sid: str
    state: StreamStatus
    reason: str = ""


class VideoLayer(msgspec.Struct, kw_only=True):
    rid: str
    active: bool


class VideoLayers(_Event, tag="video_layers"):
    """To a publisher: which simulcast layers of its video someone receives (encode only those)."""

    track_sid: str
    layers: list[VideoLayer]


class Pong(_Event, tag="pong"):
    t: float  # echoed client time
    server_t: float  # server clock, milliseconds


class TokenRenewed(_Event, tag="token_renewed"):
    expires_at: float
    privileges: dict[str, float]


class TokenExpiring(_Event, tag="token_expiring"):
    expiring: list[Expiring]


class Ack(_Event, tag="ack"):
    """The request named by ``re`` was done; sent for requests that have no other reply
    (``answer``, ``trickle``, ``subscribe``, ``update_subscription``, ``unpublish``)."""


class Error(_Event, tag="error"):
    code: str
    message: str


class Kicked(_Event, tag="kicked"):
    reason: LeaveReason
    message: str = ""


ServerMessage = (
    Joined
    | TrackPublished
    | TrackUnpublished
    | TrackMuted
    | ParticipantJoined
    | ParticipantUpdated
    | ParticipantLeft
    | ActiveSpeakers
    | NetworkQuality
    | SubscriptionUpdate
    | StreamState
    | VideoLayers
    | Offer
    | Answer
    | Trickle
    | Pong
    | TokenRenewed
    | TokenExpiring
    | Ack
    | Error
    | Kicked
)


class ProtocolError(frames.FrameError):
    """A signaling frame that cannot be understood; ``code`` is an :class:`ErrorCode` value."""

    code: ErrorCode


_limits = frames.Limits(MAX_FRAME_BYTES, MAX_FRAME_DEPTH, MAX_SERVER_FRAME_DEPTH)
_codec: frames.FrameCodec[ClientMessage, ServerMessage] = frames.FrameCodec(
    ClientMessage, ServerMessage, _limits, codes=ErrorCode, error=ProtocolError
)


def decode_client(data: bytes | str) -> ClientMessage:
    """Parse one client frame or raise :class:`ProtocolError` saying what is wrong with it.

    A frame over :data:`MAX_FRAME_BYTES` or nested deeper than :data:`MAX_FRAME_DEPTH` is refused
    before it is decoded (a JSON decoder recurses once per level); :mod:`hubbub.schema.frames`
    lists the refusals in order.
    """
    return _codec.decode_client(data)


def decode_server(data: bytes | str) -> ServerMessage:
    """Parse one server frame (client side). Raises :class:`ProtocolError` on a bad frame."""
    return _codec.decode_server(data)


def encode(message: ClientMessage | ServerMessage) -> bytes:
    return _codec.encode(message)
