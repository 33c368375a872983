"""A channel's live state on this node: its members, its sequencer and its presence.

Theory of operation
===================

Sends do not write to the database themselves: :meth:`ChannelHub.submit` queues the message and
one writer task per active channel takes whatever is queued (up to ``batch_max``), stores it in
one transaction (:func:`hubbub.messaging.store.append_batch` gives the seqs), and only then fans
each new message out, in seq order, and resolves the senders' acks. So an ack always means
"stored", every member sees one order, and a burst costs one commit instead of one per message.

Fan-out encodes each message once and pushes the same string into every member's outbox, which
never blocks (a member that does not read is closed as a slow consumer, see
:mod:`hubbub.server.outbox`).

A member that subscribes with ``since_seq`` is registered *before* the replay is read from the
database; live messages meanwhile go to its buffer, and after the replay the buffer is flushed
skipping seqs already replayed: no gap, no duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from hubbub.messaging import store
from hubbub.messaging.config import MessagingSettings
from hubbub.messaging.connection import Connection
from hubbub.messaging.types import EventSink, refuse
from hubbub.schema import messaging as rtm
from hubbub.util.clock import Clock

log = logging.getLogger("hubbub.messaging")

IDLE_WRITER_S = 30.0


class Member:
    __slots__ = ("buffer", "conn", "last_seq", "presence")

    def __init__(self, conn: Connection, presence: bool) -> None:
        self.conn = conn
        self.presence = presence
        self.buffer: list[tuple[int, str]] | None = None
        self.last_seq = 0


class ChannelHub:
    def __init__(
        self,
        app_id: str,
        channel: str,
        db: store.Db,
        clock: Clock,
        settings: MessagingSettings,
        sink: EventSink,
        spawn: Callable[[Any], None],
    ) -> None:
        self.app_id = app_id
        self.channel = channel
        self.db = db
        self.clock = clock
        self.settings = settings
        self.sink = sink
        self._spawn = spawn
        self.members: dict[str, Member] = {}
        self.online: dict[str, int] = {}  # user id -> connections subscribed
        self.moderation: dict[str, dict[str, float | None]] = {}  # user -> action -> until
        self.pending_presence: list[rtm.PresenceChange] = []
        self._queue: deque[tuple[store.Draft, asyncio.Future[tuple[rtm.Message, bool]]]] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._loaded = False
        self._load_lock = asyncio.Lock()

    # --- moderation cache --------------------------------------------------------------------

    async def ensure_loaded(self) -> None:
        if self._loaded:
            return
        async with self._load_lock:
            if not self._loaded:
                for user, action, until in await store.moderation_of(self.db, self.app_id, self.channel, self.clock()):
                    self.moderation.setdefault(user, {})[action] = until
                self._loaded = True

    def restricted(self, user_id: str, action: str, now: float) -> bool:
        actions = self.moderation.get(user_id)
        if not actions or action not in actions:
            return False
        until = actions[action]
        if until is not None and until <= now:
            del actions[action]
            return False
        return True

    def set_restriction(self, user_id: str, action: str, until: float | None, active: bool) -> None:
        if active:
            self.moderation.setdefault(user_id, {})[action] = until
        else:
            self.moderation.get(user_id, {}).pop(action, None)

    # --- membership --------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        return not self.members and not self._queue and self._writer is None

    async def subscribe(
        self, conn: Connection, since_seq: int | None, presence: bool, reply: Callable[[rtm.Subscribed], None]
    ) -> None:
        member = Member(conn, presence)
        if since_seq is not None:
            member.buffer = []
        self.members[conn.sid] = member
        conn.channels.add(self.channel)
        self.online[conn.user_id] = self.online.get(conn.user_id, 0) + 1
        if self.online[conn.user_id] == 1:
            self.presence_change(conn.user_id, rtm.PresenceState.online, {})
        try:
            last = await store.last_seq(self.db, self.app_id, self.channel)
            replayed, truncated = 0, False
            if since_seq is not None:
                # never more than half an outbox: the rest is paged with rtm_history by the client
                limit = max(1, min(self.settings.replay_max, self.settings.outbox_frames // 2))
                messages, truncated = await store.history(
                    self.db, self.app_id, self.channel, after_seq=since_seq, limit=limit
                )
                for m in messages:
                    conn.push(_encode(rtm.MessageEvent(message=m)))
                    member.last_seq = m.seq
                replayed = len(messages)
                last = max(last, member.last_seq)
        except BaseException:
            self.unsubscribe(conn)
            raise
        reply(rtm.Subscribed(channel=self.channel, last_seq=last, replayed=replayed, truncated=truncated))
        buffered, member.buffer = member.buffer or [], None
        for seq, frame in buffered:
            if seq > member.last_seq:
                conn.push(frame)

    def unsubscribe(self, conn: Connection) -> bool:
        if self.members.pop(conn.sid, None) is None:
            return False
        conn.channels.discard(self.channel)
        left = self.online.get(conn.user_id, 1) - 1
        if left <= 0:
            self.online.pop(conn.user_id, None)
            self.presence_change(conn.user_id, rtm.PresenceState.offline, {})
        else:
            self.online[conn.user_id] = left
        return True

    def connections_of(self, user_id: str) -> list[Connection]:
        return [m.conn for m in self.members.values() if m.conn.user_id == user_id]

    # --- presence ----------------------------------------------------------------------------

    def presence_change(self, user_id: str, state: rtm.PresenceState, attrs: dict[str, str]) -> None:
        self.pending_presence.append(rtm.PresenceChange(user_id=user_id, state=state, attrs=attrs))
        if len(self.members) <= self.settings.presence_coalesce_over:
            self.flush_presence()

    def flush_presence(self) -> None:
        if not self.pending_presence:
            return
        changes, self.pending_presence = self.pending_presence, []
        frame = _encode(rtm.Presence(channel=self.channel, changes=changes))
        own = changes[0].user_id if len(changes) == 1 else None  # nobody is told of their own change alone
        for m in list(self.members.values()):
            if m.presence and m.conn.user_id != own:
                m.conn.push(frame)
        self._spawn(self._presence_events(changes))

    async def _presence_events(self, changes: list[rtm.PresenceChange]) -> None:
        for c in changes:
            payload = {"app_id": self.app_id, "channel": self.channel, "user_id": c.user_id, "attrs": c.attrs}
            await self.sink.publish(self.app_id, f"presence.{c.state.value}", payload, f"channel:{self.channel}")

    # --- ephemeral fan-out -------------------------------------------------------------------

    def broadcast(self, event: rtm.ServerMessage, *, skip_user: str = "") -> None:
        frame = _encode(event)
        for m in list(self.members.values()):
            if m.conn.user_id != skip_user:
                m.conn.push(frame)

    # --- the sequencer -----------------------------------------------------------------------

    async def submit(self, draft: store.Draft) -> tuple[rtm.Message, bool]:
        """Store ``draft`` (after what is queued before it) and fan it out; returns (message, duplicate)."""
        future: asyncio.Future[tuple[rtm.Message, bool]] = asyncio.get_running_loop().create_future()
        self._queue.append((draft, future))
        self._wake.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_forever(), name=f"rtm-writer-{self.channel}")
        return await future

    async def _write_forever(self) -> None:
        try:
            while True:
                if not self._queue:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), IDLE_WRITER_S)
                    except TimeoutError:
                        if not self._queue:
                            return
                    continue
                n = min(len(self._queue), self.settings.batch_max)
                batch = [self._queue.popleft() for _ in range(n)]
                await self._store_batch(batch)
        finally:
            self._writer = None
            for _, future in self._queue:  # cancelled while messages waited: they were never acked
                if not future.done():
                    future.set_exception(refuse(rtm.ErrorCode.server_error, "the server is shutting down"))
            self._queue.clear()

    async def _store_batch(self, batch: list[tuple[store.Draft, asyncio.Future[tuple[rtm.Message, bool]]]]) -> None:
        try:
            results = await store.append_batch(
                self.db, self.app_id, self.channel, [d for d, _ in batch], self.clock(), self.sink
            )
        except asyncio.CancelledError:
            for _, future in batch:
                if not future.done():
                    future.set_exception(refuse(rtm.ErrorCode.server_error, "the server is shutting down"))
            raise
        except Exception:
            log.exception("storing channel messages failed", extra={"app_id": self.app_id, "count": len(batch)})
            for _, future in batch:
                if not future.done():
                    future.set_exception(refuse(rtm.ErrorCode.server_error, "the message could not be stored"))
            return
        for (_, future), (message, duplicate) in zip(batch, results, strict=True):
            if not duplicate:
                self._fanout(message)
            if not future.done():
                future.set_result((message, duplicate))

    def _fanout(self, message: rtm.Message) -> None:
        frame = _encode(rtm.MessageEvent(message=message))
        seq = message.seq
        for m in list(self.members.values()):
            if m.buffer is not None:
                m.buffer.append((seq, frame))
            else:
                m.conn.push(frame)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer


_encoder = msgspec.json.Encoder()


def _encode(event: rtm.ServerMessage) -> str:
    return _encoder.encode(event).decode()
