"""Messaging storage: the channel log, peer inboxes, read markers and moderation records.

Every function opens its own short transaction from the session factory. :func:`append_batch`
is the one hot path: it stores a whole batch of a channel's messages (deduplicated by
``(sender, client_msg_id)``), raises the channel's sequence counter by the batch size and stages
the webhook events, all in one transaction, so a sequence number is never skipped or reused.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hubbub.messaging.types import EventSink
from hubbub.schema.messaging import Message, PeerMessage
from hubbub.storage.models_messaging import RtmChannel, RtmMessage, RtmModeration, RtmPeerMessage, RtmReadMarker

Db = async_sessionmaker[AsyncSession]


def new_id(now: float) -> str:
    """A server message id: milliseconds (hex, so ids sort by time) plus 48 random bits."""
    return f"{int(now * 1000):011x}{secrets.token_hex(6)}"


@dataclass(slots=True)
class Draft:
    """A message on its way into the log (the body already checked)."""

    sender: str
    client_msg_id: str
    text: str | None
    data_json: str | None
    attachments: list[str]


def _data(raw: str | None) -> Any:
    return None if raw is None else msgspec.json.decode(raw)


def _atts(raw: str) -> list[str]:
    return raw.split(",") if raw else []


def to_message(r: RtmMessage) -> Message:
    if r.deleted_at is not None:
        return Message(id=r.id, channel=r.channel, seq=r.seq, sender=r.sender, ts=r.created_at, deleted=True)
    return Message(
        id=r.id,
        channel=r.channel,
        seq=r.seq,
        sender=r.sender,
        ts=r.created_at,
        text=r.text,
        data=_data(r.data),
        attachments=_atts(r.attachments),
        client_msg_id=r.client_msg_id or "",
    )


def to_peer(r: RtmPeerMessage, *, offline: bool = False) -> PeerMessage:
    return PeerMessage(
        id=r.id,
        seq=r.seq,
        sender=r.sender,
        to=r.recipient,
        ts=r.created_at,
        text=r.text,
        data=_data(r.data),
        attachments=_atts(r.attachments),
        client_msg_id=r.client_msg_id or "",
        offline=offline,
    )


def event_payload(app_id: str, m: Message | PeerMessage) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.to_builtins(m)
    body["app_id"] = app_id
    return body


async def _allocate(db: AsyncSession, app_id: str, channel: str, n: int, now: float) -> int:
    """Raise the channel's counter by ``n`` (row-locked until commit); returns the new last seq."""
    result = await db.execute(
        update(RtmChannel)
        .where(RtmChannel.app_id == app_id, RtmChannel.channel == channel)
        .values(last_seq=RtmChannel.last_seq + n)
        .returning(RtmChannel.last_seq)
    )
    last = result.scalar_one_or_none()
    if last is not None:
        return int(last)
    db.add(RtmChannel(app_id=app_id, channel=channel, last_seq=n, created_at=now))
    await db.flush()
    return n


async def append_batch(
    factory: Db, app_id: str, channel: str, drafts: Sequence[Draft], now: float, sink: EventSink
) -> list[tuple[Message, bool]]:
    """Store ``drafts`` in order; returns each one's message and whether it was a duplicate."""
    async with factory() as db:
        existing: dict[tuple[str, str], Message] = {}
        cids = {d.client_msg_id for d in drafts if d.client_msg_id}
        if cids:
            rows = await db.execute(
                select(RtmMessage).where(
                    RtmMessage.app_id == app_id,
                    RtmMessage.channel == channel,
                    RtmMessage.client_msg_id.in_(cids),
                    RtmMessage.sender.in_({d.sender for d in drafts if d.client_msg_id}),
                )
            )
            existing = {(r.sender, r.client_msg_id or ""): to_message(r) for r in rows.scalars()}
        fresh = [d for d in drafts if not d.client_msg_id or (d.sender, d.client_msg_id) not in existing]
        unique: list[Draft] = []
        seen: set[tuple[str, str]] = set()
        for d in fresh:
            key = (d.sender, d.client_msg_id)
            if d.client_msg_id and key in seen:
                continue
            seen.add(key)
            unique.append(d)
        created: dict[int, Message] = {}
        if unique:
            first = await _allocate(db, app_id, channel, len(unique), now) - len(unique) + 1
            for offset, d in enumerate(unique):
                row = RtmMessage(
                    id=new_id(now),
                    app_id=app_id,
                    channel=channel,
                    seq=first + offset,
                    sender=d.sender,
                    client_msg_id=d.client_msg_id or None,
                    text=d.text,
                    data=d.data_json,
                    attachments=",".join(d.attachments),
                    created_at=now,
                    deleted_at=None,
                )
                db.add(row)
                message = to_message(row)
                created[id(d)] = message
                if d.client_msg_id:
                    existing[(d.sender, d.client_msg_id)] = message
                await sink.stage(db, app_id, "message.channel", event_payload(app_id, message), f"channel:{channel}")
        await db.commit()
    out: list[tuple[Message, bool]] = []
    for d in drafts:
        if id(d) in created:
            out.append((created[id(d)], False))
        else:
            out.append((existing[(d.sender, d.client_msg_id)], True))
    return out


async def last_seq(factory: Db, app_id: str, channel: str) -> int:
    async with factory() as db:
        value = await db.scalar(
            select(RtmChannel.last_seq).where(RtmChannel.app_id == app_id, RtmChannel.channel == channel)
        )
        return int(value or 0)


async def history(
    factory: Db,
    app_id: str,
    channel: str,
    *,
    after_seq: int | None = None,
    before_seq: int | None = None,
    since_ts: float | None = None,
    until_ts: float | None = None,
    limit: int = 50,
) -> tuple[list[Message], bool]:
    """One page, oldest first, and whether more lie beyond it in the paging direction.

    ``after_seq`` pages forward; ``before_seq`` (or nothing: the newest page) pages backward;
    ``since_ts``/``until_ts`` restrict either to ``[since_ts, until_ts)`` (forward from
    ``since_ts`` when no seq is given).
    """
    q = select(RtmMessage).where(RtmMessage.app_id == app_id, RtmMessage.channel == channel)
    if since_ts is not None:
        q = q.where(RtmMessage.created_at >= since_ts)
    if until_ts is not None:
        q = q.where(RtmMessage.created_at < until_ts)
    forward = after_seq is not None or (before_seq is None and since_ts is not None)
    if after_seq is not None:
        q = q.where(RtmMessage.seq > after_seq)
    if before_seq is not None:
        q = q.where(RtmMessage.seq < before_seq)
    q = q.order_by(RtmMessage.seq.asc() if forward else RtmMessage.seq.desc()).limit(limit + 1)
    async with factory() as db:
        rows = list((await db.execute(q)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    if not forward:
        rows.reverse()
    return [to_message(r) for r in rows], more


async def get_message(factory: Db, app_id: str, channel: str, message_id: str) -> Message | None:
    async with factory() as db:
        row = await db.scalar(
            select(RtmMessage).where(
                RtmMessage.app_id == app_id, RtmMessage.channel == channel, RtmMessage.id == message_id
            )
        )
        return to_message(row) if row is not None else None


async def tombstone(factory: Db, app_id: str, channel: str, message_id: str, now: float, sink: EventSink) -> Message:
    """Clear a message's body and mark it deleted; its seq stays in the log."""
    async with factory() as db:
        row = await db.scalar(
            select(RtmMessage).where(
                RtmMessage.app_id == app_id, RtmMessage.channel == channel, RtmMessage.id == message_id
            )
        )
        if row is None:
            raise LookupError(message_id)
        if row.deleted_at is None:
            row.deleted_at, row.text, row.data, row.attachments = now, None, None, ""
            payload = {"app_id": app_id, "channel": channel, "id": row.id, "seq": row.seq, "sender": row.sender}
            await sink.stage(db, app_id, "message.deleted", payload, f"channel:{channel}")
            await db.commit()
        return to_message(row)


# --- peer inboxes ------------------------------------------------------------------------------


async def insert_peer(
    factory: Db, app_id: str, draft: Draft, to: str, now: float, retention: float, sink: EventSink
) -> tuple[PeerMessage, bool]:
    key = (
        RtmPeerMessage.app_id == app_id,
        RtmPeerMessage.sender == draft.sender,
        RtmPeerMessage.recipient == to,
        RtmPeerMessage.client_msg_id == draft.client_msg_id,
    )
    for _ in range(2):
        async with factory() as db:
            if draft.client_msg_id:
                found = await db.scalar(select(RtmPeerMessage).where(*key))
                if found is not None:
                    return to_peer(found), True
            row = RtmPeerMessage(
                id=new_id(now),
                app_id=app_id,
                sender=draft.sender,
                recipient=to,
                client_msg_id=draft.client_msg_id or None,
                text=draft.text,
                data=draft.data_json,
                attachments=",".join(draft.attachments),
                created_at=now,
                expires_at=now + retention,
                delivered_at=None,
            )
            db.add(row)
            try:
                await db.flush()
                message = to_peer(row)
                await sink.stage(db, app_id, "message.peer", event_payload(app_id, message), f"peer:{to}")
                await db.commit()
                return message, False
            except IntegrityError:  # the same retry raced in: answer with the first one
                await db.rollback()
    raise RuntimeError("peer message could not be stored")


async def pending_peer(factory: Db, app_id: str, user_id: str, now: float, limit: int = 1000) -> list[PeerMessage]:
    async with factory() as db:
        rows = await db.execute(
            select(RtmPeerMessage)
            .where(
                RtmPeerMessage.app_id == app_id,
                RtmPeerMessage.recipient == user_id,
                RtmPeerMessage.delivered_at.is_(None),
                RtmPeerMessage.expires_at > now,
            )
            .order_by(RtmPeerMessage.seq)
            .limit(limit)
        )
        return [to_peer(r, offline=True) for r in rows.scalars()]


async def ack_peer(factory: Db, app_id: str, user_id: str, seq: int, now: float) -> int:
    async with factory() as db:
        result = await db.execute(
            update(RtmPeerMessage)
            .where(
                RtmPeerMessage.app_id == app_id,
                RtmPeerMessage.recipient == user_id,
                RtmPeerMessage.seq <= seq,
                RtmPeerMessage.delivered_at.is_(None),
            )
            .values(delivered_at=now)
        )
        await db.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def purge_expired(factory: Db, now: float) -> int:
    async with factory() as db:
        result = await db.execute(delete(RtmPeerMessage).where(RtmPeerMessage.expires_at <= now))
        await db.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- read markers and unread counts ------------------------------------------------------------


async def mark_read(factory: Db, app_id: str, channel: str, user_id: str, seq: int) -> None:
    for _ in range(2):
        async with factory() as db:
            row = await db.get(RtmReadMarker, (app_id, channel, user_id))
            if row is None:
                db.add(RtmReadMarker(app_id=app_id, channel=channel, user_id=user_id, seq=seq))
            elif seq > row.seq:
                row.seq = seq
            try:
                await db.commit()
                return
            except IntegrityError:
                await db.rollback()


async def unread(factory: Db, app_id: str, user_id: str, channels: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with factory() as db:
        for channel in channels:
            marker = await db.scalar(
                select(RtmReadMarker.seq).where(
                    RtmReadMarker.app_id == app_id, RtmReadMarker.channel == channel, RtmReadMarker.user_id == user_id
                )
            )
            n = await db.scalar(
                select(func.count())
                .select_from(RtmMessage)
                .where(
                    RtmMessage.app_id == app_id,
                    RtmMessage.channel == channel,
                    RtmMessage.seq > (marker or 0),
                    RtmMessage.deleted_at.is_(None),
                    RtmMessage.sender != user_id,
                )
            )
            counts[channel] = int(n or 0)
    return counts


# --- moderation --------------------------------------------------------------------------------


async def set_moderation(
    factory: Db, app_id: str, channel: str, user_id: str, action: str, until: float | None, now: float
) -> None:
    for _ in range(2):
        async with factory() as db:
            row = await db.get(RtmModeration, (app_id, channel, user_id, action))
            if row is None:
                db.add(
                    RtmModeration(
                        app_id=app_id, channel=channel, user_id=user_id, action=action, until=until, created_at=now
                    )
                )
            else:
                row.until, row.created_at = until, now
            try:
                await db.commit()
                return
            except IntegrityError:
                await db.rollback()


async def lift_moderation(factory: Db, app_id: str, channel: str, user_id: str, action: str) -> bool:
    async with factory() as db:
        result = await db.execute(
            delete(RtmModeration).where(
                RtmModeration.app_id == app_id,
                RtmModeration.channel == channel,
                RtmModeration.user_id == user_id,
                RtmModeration.action == action,
            )
        )
        await db.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def moderation_of(factory: Db, app_id: str, channel: str, now: float) -> list[tuple[str, str, float | None]]:
    """Active bans and mutes of a channel: ``(user_id, action, until)``."""
    async with factory() as db:
        rows = await db.execute(
            select(RtmModeration).where(
                RtmModeration.app_id == app_id,
                RtmModeration.channel == channel,
                (RtmModeration.until.is_(None)) | (RtmModeration.until > now),
            )
        )
        return [(r.user_id, r.action, r.until) for r in rows.scalars()]
