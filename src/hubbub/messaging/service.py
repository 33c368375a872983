"""The messaging use cases: login, channels, sends, peer messages, presence, history, moderation.

Both transports use it: a :class:`hubbub.messaging.session.MessagingSession` per socket
(``/rtm/v1``, or a call's ``/rtc/v1``) and the REST routes for server-side sends (``conn=None``:
trusted, no rate limit, no hook). Message bodies never reach a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec

from hubbub.messaging import store
from hubbub.messaging.attachments import AttachmentService
from hubbub.messaging.channel import ChannelHub, _encode
from hubbub.messaging.config import MessagingSettings
from hubbub.messaging.connection import CloseFn, Connection, PushFn
from hubbub.messaging.types import (
    EventSink,
    Grant,
    MessagingError,
    NewMessage,
    NullSink,
    PreDeliveryHook,
    may_use_channel,
    privilege_problem,
    refuse,
)
from hubbub.schema import messaging as rtm
from hubbub.schema.tokens import Privilege, is_valid_channel, is_valid_user_id
from hubbub.util.clock import Clock

log = logging.getLogger("hubbub.messaging")

E = rtm.ErrorCode
TICK_S = 0.25
PURGE_EVERY_S = 300.0
MAX_ATTACHMENTS = 10
_json = msgspec.json.Encoder()


class MessagingService:
    def __init__(
        self,
        db: store.Db,
        clock: Clock,
        settings: MessagingSettings,
        *,
        sink: EventSink | None = None,
        hook: PreDeliveryHook | None = None,
        attachments: AttachmentService | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.sink: EventSink = sink or NullSink()
        self.hook = hook
        self.attachments = attachments
        self.hubs: dict[tuple[str, str], ChannelHub] = {}
        self.users: dict[tuple[str, str], set[Connection]] = {}
        self.attrs: dict[tuple[str, str], dict[str, str]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._last_purge = 0.0

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background tick (presence batches, token expiry, peer retention)."""
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_forever(), name="rtm-tick")

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for conns in list(self.users.values()):
            for c in list(conns):
                c.push(_encode(rtm.Closing(reason=rtm.CloseReason.server_shutdown.value)))
                c.close(rtm.CloseReason.server_shutdown.value)
        for hub in list(self.hubs.values()):
            await hub.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("messaging background task failed", exc_info=task.exception())

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                await self.tick()
            except Exception:
                log.exception("messaging tick failed")

    async def tick(self) -> None:
        now = self.clock()
        for hub in list(self.hubs.values()):
            hub.flush_presence()
            if hub.idle:
                self.hubs.pop((hub.app_id, hub.channel), None)
        for conns in list(self.users.values()):
            for c in list(conns):
                if c.grant.expires_at < now:
                    c.push(_encode(rtm.Closing(reason=rtm.CloseReason.token_expired.value)))
                    c.close(rtm.CloseReason.token_expired.value)
        if now - self._last_purge >= PURGE_EVERY_S:
            self._last_purge = now
            await store.purge_expired(self.db, now)

    # --- connections -------------------------------------------------------------------------

    def limits(self) -> rtm.Limits:
        s = self.settings
        return rtm.Limits(
            max_payload_bytes=s.max_payload_bytes,
            messages_per_s=s.messages_per_s,
            burst=s.burst,
            history_page=rtm.MAX_HISTORY_PAGE,
        )

    def connect(self, grant: Grant, push: PushFn, close: CloseFn) -> Connection:
        """Register a client whose token was verified; raises unless it holds ``rtm_login``."""
        problem = privilege_problem(grant, Privilege.rtm_login, self.clock())
        if problem is not None:
            raise problem
        conn = Connection(grant, push, close, self.settings, self.clock())
        conn.on_dead = self.disconnect
        self.users.setdefault((conn.app_id, conn.user_id), set()).add(conn)
        return conn

    async def deliver_offline(self, conn: Connection) -> int:
        """Push the peer messages that waited for this user (acknowledged later by the client)."""
        pending = await store.pending_peer(self.db, conn.app_id, conn.user_id, self.clock())
        for m in pending:
            conn.push(_encode(rtm.PeerMessageEvent(message=m)))
        return len(pending)

    def disconnect(self, conn: Connection) -> None:
        for channel in list(conn.channels):
            hub = self.hubs.get((conn.app_id, channel))
            if hub is not None:
                hub.unsubscribe(conn)
        key = (conn.app_id, conn.user_id)
        conns = self.users.get(key)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.users[key]
                self.attrs.pop(key, None)

    def online(self, app_id: str, user_id: str) -> bool:
        return bool(self.users.get((app_id, user_id)))

    # --- channels ----------------------------------------------------------------------------

    async def hub(self, app_id: str, channel: str) -> ChannelHub:
        if not is_valid_channel(channel) or channel == "*":
            raise refuse(E.invalid_channel, "not a valid channel name")
        key = (app_id, channel)
        while True:
            hub = self.hubs.get(key)
            if hub is None:
                hub = ChannelHub(app_id, channel, self.db, self.clock, self.settings, self.sink, self.spawn)
                self.hubs[key] = hub
            await hub.ensure_loaded()
            # The tick drops idle hubs; one dropped while it loaded must not be handed out (its
            # members would be orphaned). The caller uses it before its next await.
            if self.hubs.get(key) is hub:
                return hub

    def _check_channel_access(self, conn: Connection, hub: ChannelHub) -> None:
        if not may_use_channel(conn.grant, hub.channel):
            raise MessagingError("token_channel_mismatch", "the token is not valid for this channel")
        if hub.restricted(conn.user_id, "ban", self.clock()):
            raise refuse(E.banned, "you are banned from this channel")

    async def subscribe(
        self,
        conn: Connection,
        channel: str,
        *,
        since_seq: int | None,
        presence: bool,
        reply: Callable[[rtm.Subscribed], None],
    ) -> None:
        hub = await self.hub(conn.app_id, channel)
        self._check_channel_access(conn, hub)
        if conn.sid in hub.members:
            hub.unsubscribe(conn)  # a resubscribe (e.g. with since_seq) starts over
        await hub.subscribe(conn, since_seq, presence, reply)

    def unsubscribe(self, conn: Connection, channel: str) -> None:
        hub = self.hubs.get((conn.app_id, channel))
        if hub is None or not hub.unsubscribe(conn):
            raise refuse(E.not_subscribed, "not subscribed to this channel")

    def members(self, app_id: str, channel: str) -> list[rtm.Member]:
        hub = self.hubs.get((app_id, channel))
        if hub is None:
            return []
        return [rtm.Member(user_id=u, attrs=self.attrs.get((app_id, u), {})) for u in sorted(hub.online)]

    # --- sends -------------------------------------------------------------------------------

    def _draft(self, message: NewMessage) -> store.Draft:
        text, data, attachments, client_msg_id = message.text, message.data, message.attachments, message.client_msg_id
        if (text is None) == (data is None):
            raise refuse(E.invalid_message, "send exactly one of text and data")
        if len(client_msg_id) > 64:
            raise refuse(E.invalid_message, "client_msg_id is limited to 64 characters")
        if len(attachments) > MAX_ATTACHMENTS or any(not a or len(a) > 32 or "," in a for a in attachments):
            raise refuse(E.invalid_message, f"at most {MAX_ATTACHMENTS} attachment ids")
        data_json = None if data is None else _json.encode(data).decode()
        size = len(text.encode("utf-8", "surrogatepass")) if text is not None else len(data_json or "")
        if size > self.settings.max_payload_bytes:
            raise refuse(E.payload_too_large, f"message bodies are limited to {self.settings.max_payload_bytes} bytes")
        return store.Draft(message.sender, client_msg_id, text, data_json, list(attachments))

    def _check_send(self, conn: Connection) -> None:
        now = self.clock()
        problem = privilege_problem(conn.grant, Privilege.publish_data, now)
        if problem is not None:
            raise problem
        wait = conn.sends.take(now)
        if wait > 0:
            raise refuse(E.rate_limited, "too many messages; retry later", retry_after=round(wait, 3))

    async def _checked_body(self, message: NewMessage, draft: store.Draft, *, kind: str, target: str) -> store.Draft:
        app_id = message.app_id
        if (
            draft.attachments
            and self.attachments is not None
            and not await self.attachments.all_exist(app_id, draft.attachments)
        ):
            raise refuse(E.attachment_not_found, "an attachment id is unknown")
        if self.hook is None:
            return draft
        data = None if draft.data_json is None else msgspec.json.decode(draft.data_json)
        verdict = await self.hook.check(
            app_id, kind=kind, target=target, sender=draft.sender, text=draft.text, data=data
        )
        if verdict is None or verdict.action == "allow":
            return draft
        if verdict.action == "reject":
            raise refuse(E.rejected, verdict.reason or "the message was rejected by the project's filter")
        return self._draft(dataclasses.replace(message, text=verdict.text, data=verdict.data))

    async def send(self, conn: Connection | None, channel: str, message: NewMessage) -> rtm.Ack:
        """Store ``message`` in ``channel`` and fan it out (``conn`` None: a server-side send)."""
        draft = self._draft(message)
        sender = message.sender
        hub = await self.hub(message.app_id, channel)
        if conn is not None:
            if conn.sid not in hub.members:
                raise refuse(E.not_subscribed, "subscribe to the channel before sending to it")
            self._check_send(conn)
            now = self.clock()
            if hub.restricted(sender, "ban", now):
                raise refuse(E.banned, "you are banned from this channel")
            if hub.restricted(sender, "mute", now):
                raise refuse(E.muted, "you are muted in this channel")
            draft = await self._checked_body(message, draft, kind="channel", target=channel)
        elif draft.attachments and self.attachments is not None:
            draft = await self._checked_body(message, draft, kind="channel", target=channel)
        stored, duplicate = await hub.submit(draft)
        return rtm.Ack(id=stored.id, seq=stored.seq, ts=stored.ts, channel=channel, duplicate=duplicate)

    async def send_peer(self, conn: Connection | None, to: str, message: NewMessage) -> rtm.Ack:
        """Store ``message`` for user ``to`` and push it to each of their connections."""
        if not is_valid_user_id(to):
            raise refuse(E.invalid_message, "'to' must be a user id of 1 to 255 characters")
        app_id = message.app_id
        draft = self._draft(message)
        if conn is not None:
            self._check_send(conn)
            draft = await self._checked_body(message, draft, kind="peer", target=to)
        now = self.clock()
        stored, duplicate = await store.insert_peer(
            self.db, app_id, draft, to, now, self.settings.peer_retention_s, self.sink
        )
        if not duplicate:
            frame = _encode(rtm.PeerMessageEvent(message=stored))
            for c in list(self.users.get((app_id, to), ())):
                c.push(frame)
        return rtm.Ack(id=stored.id, seq=stored.seq, ts=stored.ts, to=to, duplicate=duplicate)

    async def ack_peer(self, conn: Connection, seq: int) -> None:
        await store.ack_peer(self.db, conn.app_id, conn.user_id, seq, self.clock())

    # --- history, read state -----------------------------------------------------------------

    async def history(self, conn: Connection | None, app_id: str, req: rtm.History) -> rtm.HistoryPage:
        hub = await self.hub(app_id, req.channel)
        if conn is not None:
            self._check_channel_access(conn, hub)
        if not 1 <= req.limit <= rtm.MAX_HISTORY_PAGE:
            raise refuse(E.invalid_message, f"limit is 1 to {rtm.MAX_HISTORY_PAGE}")
        messages, more = await store.history(
            self.db,
            app_id,
            req.channel,
            after_seq=req.after_seq,
            before_seq=req.before_seq,
            since_ts=req.since_ts,
            until_ts=req.until_ts,
            limit=req.limit,
        )
        return rtm.HistoryPage(channel=req.channel, messages=messages, has_more=more)

    async def mark_read(self, conn: Connection, channel: str, seq: int) -> None:
        hub = await self.hub(conn.app_id, channel)
        self._check_channel_access(conn, hub)
        await store.mark_read(self.db, conn.app_id, channel, conn.user_id, seq)

    async def unread(self, app_id: str, user_id: str, channels: list[str]) -> dict[str, int]:
        if len(channels) > 100 or any(not is_valid_channel(c) or c == "*" for c in channels):
            raise refuse(E.invalid_channel, "name 1 to 100 valid channels")
        return await store.unread(self.db, app_id, user_id, channels)

    # --- presence and typing -----------------------------------------------------------------

    def set_attrs(self, conn: Connection, attrs: dict[str, str]) -> None:
        size = sum(len(k) + len(v) for k, v in attrs.items())
        if len(attrs) > rtm.MAX_ATTRS or size > rtm.MAX_ATTR_BYTES:
            raise refuse(E.payload_too_large, f"at most {rtm.MAX_ATTRS} attributes, {rtm.MAX_ATTR_BYTES} bytes")
        key = (conn.app_id, conn.user_id)
        self.attrs[key] = dict(attrs)
        channels = {ch for c in self.users.get(key, ()) for ch in c.channels}
        for channel in channels:
            hub = self.hubs.get((conn.app_id, channel))
            if hub is not None:
                hub.presence_change(conn.user_id, rtm.PresenceState.updated, dict(attrs))

    def typing(self, conn: Connection, channel: str, to: str) -> None:
        """Ephemeral, never stored; at most one per target per ``typing_interval_s`` (extra ones dropped)."""
        now = self.clock()
        problem = privilege_problem(conn.grant, Privilege.publish_data, now)
        if problem is not None:
            raise problem
        target = f"c:{channel}" if channel else f"p:{to}"
        if now - conn.typing_last.get(target, -1e18) < self.settings.typing_interval_s:
            return
        conn.typing_last[target] = now
        if channel:
            hub = self.hubs.get((conn.app_id, channel))
            if hub is None or conn.sid not in hub.members:
                raise refuse(E.not_subscribed, "subscribe to the channel first")
            hub.broadcast(rtm.TypingEvent(user_id=conn.user_id, channel=channel), skip_user=conn.user_id)
        elif is_valid_user_id(to):
            frame = _encode(rtm.TypingEvent(user_id=conn.user_id, to=to))
            for c in list(self.users.get((conn.app_id, to), ())):
                c.push(frame)
        else:
            raise refuse(E.invalid_message, "name a channel or a peer")

    # --- moderation --------------------------------------------------------------------------

    async def delete_message(self, conn: Connection | None, app_id: str, channel: str, message_id: str) -> rtm.Message:
        hub = await self.hub(app_id, channel)
        found = await store.get_message(self.db, app_id, channel, message_id)
        if found is None:
            raise refuse(E.message_not_found, "no such message in this channel")
        if (
            conn is not None
            and found.sender != conn.user_id
            and privilege_problem(conn.grant, Privilege.room_admin, self.clock()) is not None
        ):
            raise refuse(E.permission_denied, "only the sender or a room admin may delete a message")
        message = await store.tombstone(self.db, app_id, channel, message_id, self.clock(), self.sink)
        hub.broadcast(rtm.MessageDeleted(channel=channel, id=message.id, seq=message.seq))
        return message

    async def moderate(
        self, app_id: str, channel: str, user_id: str, action: str, *, active: bool, duration_s: float | None = None
    ) -> None:
        """Ban or mute (``active``) or lift it; a ban also removes the user's live subscriptions."""
        if action not in ("ban", "mute") or not is_valid_user_id(user_id):
            raise refuse(E.invalid_message, "action is ban or mute, for a valid user id")
        hub = await self.hub(app_id, channel)
        now = self.clock()
        until = now + duration_s if duration_s else None
        if active:
            await store.set_moderation(self.db, app_id, channel, user_id, action, until, now)
        else:
            await store.lift_moderation(self.db, app_id, channel, user_id, action)
        hub.set_restriction(user_id, action, until, active)
        verb = action if active else f"un{action}"
        notice = _encode(rtm.Moderated(channel=channel, action=verb, until=until or 0.0))
        for c in list(self.users.get((app_id, user_id), ())):
            c.push(notice)
        if active and action == "ban":
            for c in hub.connections_of(user_id):
                hub.unsubscribe(c)
                c.push(_encode(rtm.Unsubscribed(channel=channel)))

    async def moderation_list(self, app_id: str, channel: str) -> list[tuple[str, str, float | None]]:
        await self.hub(app_id, channel)
        return await store.moderation_of(self.db, app_id, channel, self.clock())
