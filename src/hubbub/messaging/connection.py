"""One logged-in messaging client: a ``/rtm/v1`` socket, or a call's ``/rtc/v1`` socket."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from hubbub.messaging.config import MessagingSettings
from hubbub.messaging.ratelimit import TokenBucket
from hubbub.messaging.types import Grant
from hubbub.schema.close import CLOSE_FLOOD, CLOSE_NORMAL, CLOSE_SLOW, SLOW_CONSUMER

PushFn = Callable[[str], bool]
"""Queue one encoded frame for the client; False when its queue is closed or overflowed."""
CloseFn = Callable[[int, str], None]
"""Close the client's socket with a WebSocket close code and a reason."""


class Connection:
    __slots__ = (
        "_close",
        "_push",
        "app_id",
        "channels",
        "closed",
        "frames",
        "grant",
        "on_dead",
        "sends",
        "sid",
        "typing_last",
        "user_id",
    )

    def __init__(self, grant: Grant, push: PushFn, close: CloseFn, settings: MessagingSettings, now: float) -> None:
        self.sid = "RS_" + secrets.token_hex(8)
        self.grant = grant
        self.app_id = grant.app_id
        self.user_id = grant.user_id
        self._push = push
        self._close = close
        self.channels: set[str] = set()
        self.sends = TokenBucket(settings.messages_per_s, settings.burst, now)
        self.frames = TokenBucket(settings.frames_per_s, settings.frames_per_s * settings.flood_factor, now)
        self.typing_last: dict[str, float] = {}
        self.closed = False
        self.on_dead: Callable[[Connection], None] | None = None  # the service drops it from every channel

    def push(self, frame: str) -> bool:
        if self.closed:
            return False
        if not self._push(frame):
            self.closed = True  # the outbox closed itself (slow consumer): the socket follows
            self._close(CLOSE_SLOW, SLOW_CONSUMER)
            if self.on_dead is not None:
                self.on_dead(self)
            return False
        return True

    def close(self, reason: str, code: int = CLOSE_NORMAL) -> None:
        if not self.closed:
            self.closed = True
            self._close(code, reason)

    def flood(self) -> None:
        self.close("flood", CLOSE_FLOOD)
