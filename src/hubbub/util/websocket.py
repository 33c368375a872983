"""The ``hubbub.send_nowait`` ASGI WebSocket extension, as the layers that use it see it.

The server's WebSocket protocol (``hubbub.server.websocket``) puts a function under this key in
the scope's ``extensions``: it writes one text message to the socket at once, or returns False
when it cannot (the transport is paused above its high-water mark, or closing). Fan-out uses it
to skip a per-socket queue and task switch while that socket keeps up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

SEND_NOWAIT = "hubbub.send_nowait"
SendNowait = Callable[[str], bool]


def send_nowait_of(scope: Mapping[str, Any]) -> SendNowait | None:
    """The extension from an ASGI WebSocket scope, or None where the server does not offer it."""
    fn: SendNowait | None = scope.get("extensions", {}).get(SEND_NOWAIT)
    return fn
