"""A socket's outgoing frames: never blocks the sender; overflow marks a slow consumer.

Every frame for a client (a signaling event, or the fan-out of a channel message, which hands the
same encoded string to every member) goes through :meth:`Outbox.push` (or, while the outbox is
:attr:`~Outbox.idle`, to the socket at once; see :mod:`hubbub.server.connection`), so one client
that does not read costs the others nothing: when its queue passes the frame or byte budget it is
closed with ``slow_consumer`` (WebSocket close code 4008) and its queued frames are dropped.
Dropping is safe for messaging: every channel message it missed is stored, and the client
fetches them from its last seq when it reconnects.
"""

from __future__ import annotations

import asyncio
from collections import deque

from hubbub.schema.close import CLOSE_NORMAL, CLOSE_SLOW, SLOW_CONSUMER


class Outbox:
    __slots__ = (
        "_frames",
        "_wake",
        "close_code",
        "close_reason",
        "closed",
        "in_flight",
        "max_bytes",
        "max_frames",
        "queued_bytes",
    )

    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._frames: deque[str] = deque()
        self._wake = asyncio.Event()
        self.queued_bytes = 0
        self.in_flight = False  # the writer holds a frame it has not finished sending
        self.closed = False
        self.close_code = CLOSE_NORMAL
        self.close_reason = ""

    @property
    def idle(self) -> bool:
        """Open, nothing queued and nothing being written: a frame may bypass the queue now."""
        return not self._frames and not self.in_flight and not self.closed

    def push(self, frame: str) -> bool:
        """Queue ``frame``; False when the outbox is closed or just overflowed (then it closes)."""
        if self.closed:
            return False
        if len(self._frames) >= self.max_frames or self.queued_bytes + len(frame) > self.max_bytes:
            self.close(CLOSE_SLOW, SLOW_CONSUMER)
            return False
        self._frames.append(frame)
        self.queued_bytes += len(frame)
        self._wake.set()
        return True

    def close(self, code: int, reason: str, last_frame: str | None = None) -> None:
        """Stop accepting frames. On overflow the backlog is dropped; ``last_frame`` goes out last."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        if code == CLOSE_SLOW:
            self._frames.clear()
            self.queued_bytes = 0
        if last_frame is not None:
            self._frames.append(last_frame)
        self._wake.set()

    async def next(self) -> str | None:
        """The next frame to write; None once closed and drained. Sets :attr:`in_flight`."""
        self.in_flight = False
        while not self._frames:
            if self.closed:
                return None
            self._wake.clear()
            await self._wake.wait()
        frame = self._frames.popleft()
        self.queued_bytes -= len(frame)
        self.in_flight = True
        return frame

    def drain_ready(self, limit: int) -> list[str]:
        """Up to ``limit`` more frames already queued (the writer sends them without waking again)."""
        out: list[str] = []
        while self._frames and len(out) < limit:
            frame = self._frames.popleft()
            self.queued_bytes -= len(frame)
            out.append(frame)
        return out
