"""Getting a dropped session back: resume within the reconnect window, or end the room.

When the WebSocket drops, pings go unanswered, or a peer connection fails, the room starts a
:class:`Reconnection`. It emits :class:`~hubbub.sdk.events.Reconnecting`, closes the socket and
both peer connections, and re-joins with the ``resume_sid`` and ``resume_key`` from ``joined``,
backing off between tries (:class:`~hubbub.sdk.signaling.Backoff`), until ``reconnect_window``
(from ``joined``) runs out.

aiortc 1.16 cannot do an ICE restart (``createOffer`` takes no ``iceRestart`` option and its ICE
transport cannot be restarted in place), so the room builds a **new** publisher connection with
the same track objects (same ``cid``\\ s, hence the same ``a=msid``) and offers it, and a new
subscriber connection answers the server's next offer; the server treats both as fresh ICE/DTLS
sessions. When the server resumed the participant (``joined.resumed``) the track sids stay and no
``publish`` is repeated; otherwise every local track is published again. Then
:class:`~hubbub.sdk.events.Reconnected` is emitted; if the window passes first, or the server
refuses the resume, the room ends with ``reason="connection_lost"``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from hubbub.schema import signaling as proto
from hubbub.sdk.errors import ConnectionLostError, HubbubError, JoinError
from hubbub.sdk.events import Reconnected, Reconnecting, RoomEvent

__all__ = ["ReconnectHost", "Reconnection", "Resumable"]

log = logging.getLogger("hubbub.sdk")


class Resumable(Protocol):
    """The signaling side of a resume (:class:`~hubbub.sdk.signaling.SignalingClient` is one)."""

    async def drop(self) -> None: ...

    async def resume(self, join: proto.Join, *, deadline: float) -> proto.Joined: ...


class ReconnectHost(Protocol):
    """The room side of a resume (:class:`hubbub.sdk.Room` is one)."""

    @property
    def reconnect_window(self) -> float: ...

    def _emit(self, event: RoomEvent) -> None: ...

    def _notify(self) -> None: ...

    def _resume_join(self) -> proto.Join:
        """The ``join`` to resume with: the current one plus ``resume_sid`` and ``resume_key``."""
        ...

    async def _close_media(self) -> None:
        """Close both peer connections (received tracks end)."""

    async def _wait_applied(self, joined: proto.Joined) -> None:
        """Return once the room has applied ``joined`` (in order with the frames around it); raise
        :class:`TimeoutError` when it does not within the request timeout."""

    async def _restore_publishing(self, resumed: bool) -> None:
        """Attach every local track to a new publisher connection (announcing each again unless
        ``resumed``) and offer it."""

    async def _end(self, error: ConnectionLostError) -> None:
        """End the room with ``connection_lost`` and ``error``, without sending ``leave``."""


class Reconnection:
    """At most one resume at a time for one room (see the module docstring).

    ``clock`` must be the signaling client's (``time.monotonic`` by default): the deadline handed
    to :meth:`Resumable.resume` is on it.
    """

    def __init__(
        self,
        host: ReconnectHost,
        signal: Resumable,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._host = host
        self._signal = signal
        self._clock = clock
        self.task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return self.task is not None

    def start(self, reason: str) -> None:
        """Start resuming, unless a resume is already under way."""
        if self.task is None:
            self.task = asyncio.create_task(self._run(reason), name="hubbub-reconnect")

    async def _run(self, reason: str) -> None:
        host = self._host
        log.info("reconnecting: %s", reason)
        host._emit(Reconnecting(reason=reason))
        deadline = self._clock() + host.reconnect_window
        await self._signal.drop()
        await host._close_media()
        try:
            joined = await self._signal.resume(host._resume_join(), deadline=deadline)
        except (ConnectionLostError, JoinError) as exc:
            self.task = None
            await host._end(exc if isinstance(exc, ConnectionLostError) else ConnectionLostError(str(exc), exc.code))
            return
        try:
            await host._wait_applied(joined)
            await host._restore_publishing(joined.resumed)
        except (HubbubError, TimeoutError) as exc:
            self.task = None
            await host._end(ConnectionLostError(str(exc)))
            return
        self.task = None
        host._emit(Reconnected(resumed=joined.resumed))
        host._notify()
