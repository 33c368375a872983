"""One hosted WebSocket: the socket, its outbox, the writer task and the close policy.

Theory of operation
===================

A :class:`ConnectionHost` serves one ``/rtc/v1`` or ``/rtm/v1`` socket for a protocol handler
(signaling's or messaging's) that never sees the socket, never reads the clock and never sleeps:
the host reads each frame, reads the clock, and calls the handler (:class:`Handler`) with the
text and ``now``. The handler answers through two functions it is given when the socket opens:

- ``push(text)`` hands the client one encoded frame. Where the server offers the
  ``hubbub.send_nowait`` scope extension (:mod:`hubbub.server.websocket`; ``hubbub serve`` does)
  and the outbox is idle, the frame is written at once, with no task switch; otherwise it queues
  in the :class:`~hubbub.server.outbox.Outbox` for the writer task, which sends what is queued in
  batches of up to :data:`WRITE_BATCH` without waking again. So frames never overtake one
  another and fan-out never waits on a socket. ``push`` returns False once the outbox is closed;
  a push that overflows the frame or byte budget closes it as a slow consumer (4008).
- ``close(code, reason)`` stops reading: what is queued goes out, then the close frame. A writer
  stuck on a client that does not read is cancelled after :data:`ABORT_AFTER_S`.

The host also keeps the first-frame deadline (``join`` or ``rtm_login``): when no frame comes in
time the handler says what to tell the client (:meth:`Handler.first_frame_missed`) and the host
closes with 1008. When the socket goes (or the handler closed it) the handler hears
:meth:`Handler.closed` once, after the last :meth:`Handler.received`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from hubbub.schema.close import CLOSE_POLICY, CLOSE_SLOW, SLOW_CONSUMER
from hubbub.server.outbox import Outbox
from hubbub.server.websocket import send_nowait_of
from hubbub.util.clock import Clock

log = logging.getLogger("hubbub.server")

WRITE_BATCH = 64
"""Frames the writer sends per wake-up, beyond the one it woke for."""
ABORT_AFTER_S = 1.0
"""How long a close waits for the writer to drain before cancelling it."""
DRAIN_ON_END_S = 2.0
"""How long the end of a connection waits for the writer to send what is queued and the close."""
CLOSE_SEND_S = 5.0
"""How long sending the close frame of an aborted connection may take."""
CLOSE_REASON_CHARS = 120
"""Close reasons are cut to fit the 123 bytes of a close frame's reason (RFC 6455 §5.5)."""

Push = Callable[[str], bool]
"""Hand the client one encoded frame; False once the outbox is closed (or just overflowed)."""
Close = Callable[[int, str], None]
"""Close the socket with a WebSocket close code and a reason, after what is queued."""


class Handler(Protocol):
    """A sans-I/O protocol over one socket: frames and ``now`` in, frames and closes out."""

    def opened(self, push: Push, close: Close, now: float) -> None:
        """The socket is accepted: ``push`` and ``close`` are the handler's way out."""

    async def received(self, text: str, now: float) -> None:
        """One text frame from the client (binary ones arrive decoded as UTF-8).

        It may await use cases (the database, token checks), never the socket or a sleep.
        """

    def first_frame_missed(self, now: float) -> str:
        """No frame came before the deadline: push what the client is told; return the close reason."""
        ...

    def closed(self, now: float) -> None:
        """The connection is over (the client left, or the socket was closed): release what it held."""


@dataclass(frozen=True, slots=True)
class HostLimits:
    first_frame_s: float
    """The first frame (``join``, ``rtm_login``) must come within this many seconds."""
    max_frames: int
    """Frames the outbox holds for a client that does not keep up, before it is closed (4008)."""
    max_bytes: int
    """Characters of queued frames the outbox holds, before it is closed (4008)."""


class ConnectionHost:
    def __init__(self, ws: WebSocket, handler: Handler, clock: Clock, limits: HostLimits) -> None:
        self.ws = ws
        self.handler = handler
        self.clock = clock
        self.limits = limits
        self.outbox = Outbox(limits.max_frames, limits.max_bytes)
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._slow = False
        self._nowait = send_nowait_of(ws.scope)

    @property
    def closed(self) -> bool:
        return self.outbox.closed

    async def run(self) -> None:
        """Serve the socket until the client goes or the handler closes it."""
        handler = self.handler
        await self.ws.accept()
        writer = self._writer = asyncio.create_task(self._write())
        handler.opened(self.push, self.close, self.clock())
        try:
            try:
                first = await asyncio.wait_for(self._receive(), self.limits.first_frame_s)
            except TimeoutError:
                self.close(CLOSE_POLICY, handler.first_frame_missed(self.clock()))
            else:
                await handler.received(first, self.clock())
                while not self.outbox.closed:
                    text = await self._receive()
                    await handler.received(text, self.clock())
        except WebSocketDisconnect:
            pass
        finally:
            handler.closed(self.clock())
            self.outbox.close(self.outbox.close_code, self.outbox.close_reason)
            await asyncio.wait({writer}, timeout=DRAIN_ON_END_S)  # never raises what the writer did
            writer.cancel()
            if self._closer is not None:
                await asyncio.wait({self._closer}, timeout=ABORT_AFTER_S + CLOSE_SEND_S)

    def push(self, frame: str) -> bool:
        nowait = self._nowait
        if nowait is not None and self.outbox.idle and nowait(frame):
            return True
        if self.outbox.push(frame):
            return True
        if self.outbox.close_code == CLOSE_SLOW and not self._slow:  # it overflowed just now
            self._slow = True
            log.warning("slow consumer disconnected", extra={"path": self.ws.scope.get("path", "")})
            self.close(CLOSE_SLOW, SLOW_CONSUMER)
        return False

    def close(self, code: int, reason: str) -> None:
        self.outbox.close(code, reason)
        if self._writer is not None and self._closer is None:
            self._closer = asyncio.get_running_loop().create_task(self._abort())

    async def _abort(self) -> None:
        """Stop a writer stuck on a client that does not read, and close with the reason."""
        writer = self._writer
        assert writer is not None
        done, _ = await asyncio.wait({writer}, timeout=ABORT_AFTER_S)
        if done:  # it sent what was queued and the close frame, or found the socket gone
            return
        writer.cancel()
        if self.ws.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(self.outbox.close_code, self._reason()), CLOSE_SEND_S)

    def _reason(self) -> str:
        return self.outbox.close_reason[:CLOSE_REASON_CHARS]

    async def _receive(self) -> str:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            raw = message.get("bytes") or b""
            text = raw.decode("utf-8", errors="replace")
        return str(text)

    async def _write(self) -> None:
        send = self.ws.send
        outbox = self.outbox
        try:
            while True:
                frame = await outbox.next()
                if frame is None:
                    break
                await send({"type": "websocket.send", "text": frame})
                for more in outbox.drain_ready(WRITE_BATCH):
                    await send({"type": "websocket.send", "text": more})
        except Exception:  # the socket is gone; the reader notices too
            return
        if self.ws.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(outbox.close_code, self._reason())


def mount_socket(
    app: FastAPI, path: str, name: str, handler: Callable[[], Handler], limits: Callable[[], HostLimits], clock: Clock
) -> None:
    """Serve ``path`` with a new ``handler()`` per socket, hosted under ``limits()`` (read per socket)."""

    async def endpoint(ws: WebSocket) -> None:
        await ConnectionHost(ws, handler(), clock, limits()).run()

    app.add_api_websocket_route(path, endpoint, name=name)
