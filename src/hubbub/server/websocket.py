"""The WebSocket protocol the platform serves: uvicorn's sans-I/O one, plus a non-blocking send.

A channel message goes to every member as the same text frame. Through ASGI each copy costs an
awaited ``websocket.send`` event, a frame build and, for a queued sender, a task switch. This
protocol adds the ASGI scope extension ``hubbub.send_nowait`` (:data:`SEND_NOWAIT`): a plain
function that writes one text message to the socket at once, framed by :func:`text_frame`, or
returns False when it cannot (the handshake is not done, a close was sent, or the transport is
over its high-water mark and paused writing). Callers (the connection host,
:mod:`hubbub.server.connection`, reads it with :func:`send_nowait_of`) fall back to the ordinary
awaited send then, and must not use it while an awaited send of theirs is still in flight, so
frames never reorder.

Server frames are unmasked and permessage-deflate is off (:func:`~hubbub.server.platform.http_config`),
so one encoding of a message serves every recipient.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

SEND_NOWAIT = "hubbub.send_nowait"
"""The key of the non-blocking send in an ASGI WebSocket scope's ``extensions``."""
SendNowait = Callable[[str], bool]


def send_nowait_of(scope: Mapping[str, Any]) -> SendNowait | None:
    """The extension from an ASGI WebSocket scope, or None where the server does not offer it."""
    fn: SendNowait | None = scope.get("extensions", {}).get(SEND_NOWAIT)
    return fn


_last_text: str | None = None
_last_frame = b""


def text_frame(text: str) -> bytes:
    """``text`` as one unmasked, final WebSocket text frame (RFC 6455 section 5.2).

    Fan-out hands the same string to every member in turn, so the last encoding is kept and
    reused while the same string object comes back.
    """
    global _last_text, _last_frame
    if text is _last_text:
        return _last_frame
    payload = text.encode()
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    _last_text, _last_frame = text, header + payload
    return _last_frame


class HubbubWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol with the ``hubbub.send_nowait`` extension."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][SEND_NOWAIT] = self.send_nowait

    def send_nowait(self, text: str) -> bool:
        if (
            self.close_sent
            or self.disconnected
            or not self.handshake_complete
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(text_frame(text))
        return True
