"""The real-time messaging (RTM) protocol, version 1: JSON text frames.

Spoken on the messaging-only WebSocket ``/rtm/v1`` and, inside a call, on the signaling socket
``/rtc/v1`` (every messaging type starts with ``rtm_``, so it never collides with a signaling
type). Conventions are those of :mod:`hubbub.schema.signaling`: each frame is one JSON object
whose ``type`` names it; a request may carry ``id`` (at most 64 characters) and the reply, or the
``error`` it caused, carries it back as ``re``; unknown fields are ignored; errors carry a stable
``code`` (:class:`ErrorCode`) and, for ``rate_limited``, ``retry_after`` in seconds.

Delivery guarantees (docs/messaging.md): a channel message is stored before its ``rtm_ack``; it
has a server ``id`` and a per-channel ``seq`` (1, 2, 3, ... without holes); every subscriber gets
a channel's messages in ``seq`` order; a send retried with the same ``client_msg_id`` is acked
again with the first message's id and seq and ``duplicate: true``, never stored twice.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from hubbub.schema import frames, jsonsafe

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024
MAX_FRAME_DEPTH = jsonsafe.MAX_DEPTH
"""Nesting levels of objects and arrays in a client frame (a ``data`` body included)."""
MAX_SERVER_FRAME_DEPTH = 2 * jsonsafe.MAX_DEPTH
"""What a client accepts: server frames wrap client bodies."""
MAX_PAYLOAD_BYTES = 32 * 1024
"""Largest message body: ``text`` as UTF-8, or ``data`` as compact JSON."""
MAX_ATTRS = 32
MAX_ATTR_BYTES = 8 * 1024
MAX_HISTORY_PAGE = 100


class ErrorCode(StrEnum):
    """Stable codes of ``error`` frames; token refusals use the token error codes as they are."""

    invalid_message = "invalid_message"
    unknown_type = "unknown_type"
    frame_too_large = "frame_too_large"
    payload_too_large = "payload_too_large"
    unsupported_protocol = "unsupported_protocol"
    login_required = "login_required"
    already_logged_in = "already_logged_in"
    invalid_channel = "invalid_channel"
    not_subscribed = "not_subscribed"
    permission_denied = "permission_denied"
    rate_limited = "rate_limited"
    banned = "banned"
    muted = "muted"
    rejected = "rejected"  # the project's pre-delivery hook refused the message
    message_not_found = "message_not_found"
    attachment_not_found = "attachment_not_found"
    slow_consumer = "slow_consumer"
    server_error = "server_error"


class CloseReason(StrEnum):
    client_logout = "client_logout"
    slow_consumer = "slow_consumer"  # close code 4008
    flood = "flood"  # far beyond the rate limit, close code 4029
    token_expired = "token_expired"
    server_shutdown = "server_shutdown"
    login_timeout = "login_timeout"


class PresenceState(StrEnum):
    online = "online"
    offline = "offline"
    updated = "updated"  # attributes changed


# --- shared records ----------------------------------------------------------------------------


class Message(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A stored channel message as history and live delivery show it."""

    id: str
    channel: str
    seq: int
    sender: str
    ts: float  # server time of acceptance, unix seconds
    text: str | None = None
    data: Any = None
    attachments: list[str] = []
    client_msg_id: str = ""
    deleted: bool = False  # a tombstone: the body is gone, the seq stays


class PeerMessage(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    seq: int  # per recipient inbox, monotonic; acknowledge with ``rtm_peer_ack``
    sender: str
    to: str
    ts: float
    text: str | None = None
    data: Any = None
    attachments: list[str] = []
    client_msg_id: str = ""
    offline: bool = False  # stored while the recipient was away, delivered at login


class PresenceChange(msgspec.Struct, kw_only=True, omit_defaults=True):
    user_id: str
    state: PresenceState
    attrs: dict[str, str] = {}


class Member(msgspec.Struct, kw_only=True, omit_defaults=True):
    user_id: str
    attrs: dict[str, str] = {}


class Limits(msgspec.Struct, kw_only=True):
    max_payload_bytes: int
    messages_per_s: float
    burst: int
    history_page: int


# --- client -> server --------------------------------------------------------------------------


class _Request(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    id: str | None = None


class Login(_Request, tag="rtm_login"):
    token: str = ""
    app_id: str = ""  # testing-mode projects: App ID + user id, no token
    user_id: str = ""
    protocol: int = PROTOCOL_VERSION


class Subscribe(_Request, tag="rtm_subscribe"):
    channel: str
    since_seq: int | None = None  # replay what came after it (reconnect catch-up)
    presence: bool = True  # receive presence changes of the channel


class Unsubscribe(_Request, tag="rtm_unsubscribe"):
    channel: str


class Send(_Request, tag="rtm_send"):
    channel: str
    client_msg_id: str = ""
    text: str | None = None
    data: Any = None
    attachments: list[str] = []


class SendPeer(_Request, tag="rtm_send_peer"):
    to: str
    client_msg_id: str = ""
    text: str | None = None
    data: Any = None
    attachments: list[str] = []


class PeerAck(_Request, tag="rtm_peer_ack"):
    seq: int  # every peer message up to it was received


class History(_Request, tag="rtm_history"):
    channel: str
    after_seq: int | None = None  # ascending from here
    before_seq: int | None = None  # the page just before it
    since_ts: float | None = None
    until_ts: float | None = None
    limit: int = 50


class SetPresence(_Request, tag="rtm_presence_set"):
    attrs: dict[str, str]


class GetPresence(_Request, tag="rtm_presence_get"):
    channel: str


class Typing(_Request, tag="rtm_typing"):
    channel: str = ""
    to: str = ""  # a peer instead of a channel


class MarkRead(_Request, tag="rtm_read"):
    channel: str
    seq: int


class GetUnread(_Request, tag="rtm_unread"):
    channels: list[str] = []  # empty: every channel this session subscribed


class Delete(_Request, tag="rtm_delete"):
    channel: str
    message_id: str


class Ping(_Request, tag="ping"):
    t: float


class Logout(_Request, tag="rtm_logout"):
    pass


ClientMessage = (
    Login
    | Subscribe
    | Unsubscribe
    | Send
    | SendPeer
    | PeerAck
    | History
    | SetPresence
    | GetPresence
    | Typing
    | MarkRead
    | GetUnread
    | Delete
    | Ping
    | Logout
)


# --- server -> client --------------------------------------------------------------------------


class _Event(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    re: str | None = None


class LoggedIn(_Event, tag="rtm_logged_in"):
    user_id: str
    session_id: str
    server_time: float
    limits: Limits
    protocol: int = PROTOCOL_VERSION


class Subscribed(_Event, tag="rtm_subscribed"):
    channel: str
    last_seq: int  # the channel's newest seq when the subscription began
    replayed: int = 0  # messages after since_seq sent before this reply's live messages
    truncated: bool = False  # more were missed than one replay holds: page with rtm_history
    members: list[Member] = []


class Unsubscribed(_Event, tag="rtm_unsubscribed"):
    channel: str


class Ack(_Event, tag="rtm_ack"):
    id: str
    seq: int
    ts: float
    channel: str = ""
    to: str = ""
    duplicate: bool = False


class MessageEvent(_Event, tag="rtm_message"):
    message: Message


class PeerMessageEvent(_Event, tag="rtm_peer_message"):
    message: PeerMessage


class MessageDeleted(_Event, tag="rtm_message_deleted"):
    channel: str
    id: str
    seq: int


class HistoryPage(_Event, tag="rtm_history_page"):
    channel: str
    messages: list[Message]
    has_more: bool = False


class Presence(_Event, tag="rtm_presence"):
    channel: str
    changes: list[PresenceChange]


class PresenceList(_Event, tag="rtm_presence_list"):
    channel: str
    members: list[Member]


class TypingEvent(_Event, tag="rtm_typing"):
    user_id: str
    channel: str = ""
    to: str = ""


class Unread(_Event, tag="rtm_unread_counts"):
    counts: dict[str, int]


class Ok(_Event, tag="rtm_ok"):
    pass


class Moderated(_Event, tag="rtm_moderated"):
    """You were banned or muted in a channel (``until`` 0: until lifted)."""

    channel: str
    action: str  # "ban" | "mute" | "unban" | "unmute"
    until: float = 0.0


class Pong(_Event, tag="pong"):
    t: float
    server_t: float


class Error(_Event, tag="error"):
    code: str
    message: str
    retry_after: float | None = None  # seconds, for rate_limited


class Closing(_Event, tag="rtm_closing"):
    """Sent just before the server closes the socket."""

    reason: str
    message: str = ""


ServerMessage = (
    LoggedIn
    | Subscribed
    | Unsubscribed
    | Ack
    | MessageEvent
    | PeerMessageEvent
    | MessageDeleted
    | HistoryPage
    | Presence
    | PresenceList
    | TypingEvent
    | Unread
    | Ok
    | Moderated
    | Pong
    | Error
    | Closing
)


class ProtocolError(frames.FrameError):
    """A messaging frame that cannot be understood; ``code`` is an :class:`ErrorCode` value."""

    code: ErrorCode


_limits = frames.Limits(MAX_FRAME_BYTES, MAX_FRAME_DEPTH, MAX_SERVER_FRAME_DEPTH)
_codec: frames.FrameCodec[ClientMessage, ServerMessage] = frames.FrameCodec(
    ClientMessage, ServerMessage, _limits, codes=ErrorCode, error=ProtocolError
)
KNOWN_CLIENT_TYPES = _codec.client_types


def frame_type(data: bytes | str) -> str | None:
    """The ``type`` of a frame, cheaply, for routing frames between signaling and messaging."""
    return frames.frame_type(data)


def is_messaging_type(kind: str | None) -> bool:
    return kind is not None and kind.startswith("rtm_")


def decode_client(data: bytes | str) -> ClientMessage:
    """Parse one client frame or raise :class:`ProtocolError` saying what is wrong with it
    (:mod:`hubbub.schema.frames` lists the refusals in order)."""
    return _codec.decode_client(data)


def decode_server(data: bytes | str) -> ServerMessage:
    """Parse one server frame (client side). Raises :class:`ProtocolError` on a bad frame."""
    return _codec.decode_server(data)


def encode(message: ClientMessage | ServerMessage) -> bytes:
    return _codec.encode(message)


def payload_size(text: str | None, data: Any) -> int:
    """Bytes a body counts against :data:`MAX_PAYLOAD_BYTES`."""
    if text is not None:
        return len(text.encode("utf-8", errors="surrogatepass"))
    if data is None:
        return 0
    return len(msgspec.json.encode(data))
