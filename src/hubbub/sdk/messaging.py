"""The messaging client: ``/rtm/v1`` with ordered, gap-free delivery and reconnect catch-up.

::

    rtm = await connect_rtm("http://127.0.0.1:8080", token)
    await rtm.subscribe("lobby")
    ack = await rtm.send("lobby", text="hello")          # stored: ack.id, ack.seq
    async for event in rtm:                              # MessageEvent, PeerMessageEvent, Presence ...
        ...

Guarantees kept on the client side: a channel's messages come out in ``seq`` order with none
missing and none twice; after a lost socket the client logs in again (backoff), resubscribes each
channel from the last ``seq`` it delivered and fills any gap from history; sends waiting for
their ack are sent again with the same ``client_msg_id``, so the server stores them once. Peer
messages are acknowledged (``rtm_peer_ack``) once delivered to the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from hubbub.schema import messaging as rtm
from hubbub.sdk.errors import ConnectionLostError, HubbubError, JoinError, RequestTimeout

__all__ = ["RtmClient", "RtmError", "connect_rtm", "rtm_url"]

log = logging.getLogger("hubbub.sdk.messaging")
PATH = "/rtm/v1"


class RtmError(HubbubError):
    """The server refused a request; ``retry_after`` is set for ``rate_limited``."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


def rtm_url(url: str) -> str:
    """``http://h:8080`` -> ``ws://h:8080/rtm/v1`` (a ``ws(s)`` URL or one ending in the path is kept)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}[parts.scheme.lower()]
    path = parts.path.rstrip("/")
    if not path.endswith(PATH):
        path += PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


class _Channel:
    __slots__ = ("buffer", "filling", "last_seq", "presence")

    def __init__(self, presence: bool) -> None:
        self.presence = presence
        self.last_seq: int | None = None
        self.buffer: dict[int, rtm.MessageEvent] = {}
        self.filling = False


async def connect_rtm(
    url: str,
    token: str = "",
    *,
    app_id: str = "",
    user_id: str = "",
    reconnect: bool = True,
    request_timeout: float = 10.0,
) -> RtmClient:
    """Open ``/rtm/v1`` and log in; raises :class:`JoinError` when refused."""
    client = RtmClient(rtm_url(url), token, app_id=app_id, user_id=user_id, reconnect=reconnect)
    client.request_timeout = request_timeout
    await client._open()
    return client


class RtmClient:
    def __init__(self, url: str, token: str, *, app_id: str = "", user_id: str = "", reconnect: bool = True) -> None:
        self.url = url
        self.token = token
        self.app_id = app_id
        self.user_id = user_id
        self.reconnect = reconnect
        self.request_timeout = 10.0
        self.events: asyncio.Queue[rtm.ServerMessage] = asyncio.Queue()
        self.logged_in: rtm.LoggedIn | None = None
        self.channels: dict[str, _Channel] = {}
        self.reconnects = 0
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._waiters: dict[str, asyncio.Future[rtm.ServerMessage]] = {}
        self._ids = itertools.count(1)
        self._up = asyncio.Event()
        self._closed = False
        self._peer_seen: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- connection --------------------------------------------------------------------------

    async def _open(self) -> None:
        try:
            ws = await ws_connect(self.url, max_size=1 << 20, ping_interval=20, open_timeout=self.request_timeout)
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            raise ConnectionLostError(f"cannot open {self.url}: {exc}") from exc
        self._ws = ws
        self._reader = asyncio.create_task(self._read(ws), name="hubbub-rtm-reader")
        try:
            reply = await self._request(rtm.Login(token=self.token, app_id=self.app_id, user_id=self.user_id))
        except RtmError as exc:
            await ws.close()
            raise JoinError(exc.code, exc.message) from None
        assert isinstance(reply, rtm.LoggedIn)
        self.logged_in = reply
        self._up.set()

    async def close(self) -> None:
        self._closed = True
        self._up.clear()
        if self._reconnector is not None:
            self._reconnector.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.send(rtm.encode(rtm.Logout()).decode())
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        for task in list(self._tasks):
            task.cancel()

    async def _reconnect_forever(self) -> None:
        delay = 0.1
        while not self._closed:
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(4.0, delay * 2)
            try:
                await self._open()
            except JoinError:
                log.warning("messaging login refused on reconnect")
                return
            except (ConnectionLostError, RequestTimeout, OSError):
                continue
            self.reconnects += 1
            for name, ch in list(self.channels.items()):
                try:
                    await self._subscribe(name, ch)
                except (HubbubError, OSError):
                    break
            else:
                return

    # --- frames ------------------------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                try:
                    message = rtm.decode_server(raw)
                except rtm.ProtocolError:
                    continue
                self._dispatch(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self._lost(ws)

    def _lost(self, ws: ClientConnection) -> None:
        if self._ws is not ws:
            return
        self._ws = None
        self._up.clear()
        for future in self._waiters.values():
            if not future.done():
                future.set_exception(ConnectionLostError("the messaging connection closed"))
        self._waiters.clear()
        if self.reconnect and not self._closed and self.logged_in is not None:
            self._reconnector = asyncio.create_task(self._reconnect_forever())

    def _dispatch(self, message: rtm.ServerMessage) -> None:
        re = getattr(message, "re", None)
        future = self._waiters.pop(re, None) if re else None
        if future is not None and not future.done():
            if isinstance(message, rtm.Error):
                future.set_exception(RtmError(message.code, message.message, message.retry_after))
            else:
                future.set_result(message)
            if not isinstance(message, rtm.Subscribed):
                return
        if isinstance(message, rtm.MessageEvent):
            self._on_message(message)
        elif isinstance(message, rtm.PeerMessageEvent):
            seq = message.message.seq
            if seq not in self._peer_seen:
                self._peer_seen.add(seq)
                self.events.put_nowait(message)
                self._spawn(self._send_quiet(rtm.PeerAck(seq=seq)))
        elif not isinstance(message, rtm.Pong | rtm.Ok | rtm.Subscribed):
            self.events.put_nowait(message)

    def _on_message(self, event: rtm.MessageEvent) -> None:
        ch = self.channels.get(event.message.channel)
        if ch is None:
            return
        seq = event.message.seq
        if ch.last_seq is None or seq == ch.last_seq + 1:
            ch.last_seq = seq
            self.events.put_nowait(event)
            self._drain(ch)
        elif seq > ch.last_seq + 1:
            ch.buffer[seq] = event
            if not ch.filling:
                ch.filling = True
                self._spawn(self._fill(event.message.channel, ch))

    def _drain(self, ch: _Channel) -> None:
        assert ch.last_seq is not None
        while ch.last_seq + 1 in ch.buffer:
            ch.last_seq += 1
            self.events.put_nowait(ch.buffer.pop(ch.last_seq))
        for old in [s for s in ch.buffer if s <= ch.last_seq]:
            del ch.buffer[old]

    async def _fill(self, name: str, ch: _Channel) -> None:
        """Fetch the messages between what was delivered and what is buffered."""
        try:
            while ch.buffer and ch.last_seq is not None and min(ch.buffer) > ch.last_seq + 1:
                page = await self.history(name, after_seq=ch.last_seq, limit=rtm.MAX_HISTORY_PAGE)
                for m in page.messages:
                    ch.buffer.setdefault(m.seq, rtm.MessageEvent(message=m))
                self._drain(ch)
                if not page.messages:
                    break
        except (HubbubError, OSError):
            log.info("gap fill interrupted; it resumes after reconnect")
        finally:
            ch.filling = False

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_quiet(self, message: rtm.ClientMessage) -> None:
        with contextlib.suppress(Exception):
            if self._ws is not None:
                await self._ws.send(rtm.encode(message).decode())

    async def _request(self, message: rtm.ClientMessage, timeout: float | None = None) -> rtm.ServerMessage:
        ws = self._ws
        if ws is None:
            raise ConnectionLostError("the messaging connection is not open")
        request_id = f"r{next(self._ids)}"
        message.id = request_id
        future: asyncio.Future[rtm.ServerMessage] = asyncio.get_running_loop().create_future()
        self._waiters[request_id] = future
        try:
            await ws.send(rtm.encode(message).decode())
            return await asyncio.wait_for(future, timeout or self.request_timeout)
        except websockets.ConnectionClosed:
            raise ConnectionLostError("the messaging connection closed") from None
        except TimeoutError:
            raise RequestTimeout(f"no answer within {timeout or self.request_timeout} s") from None
        finally:
            self._waiters.pop(request_id, None)

    async def _until_up(self, deadline: float) -> None:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise RequestTimeout("not reconnected in time")
        try:
            await asyncio.wait_for(self._up.wait(), left)
        except TimeoutError:
            raise RequestTimeout("not reconnected in time") from None

    # --- the API -----------------------------------------------------------------------------

    async def subscribe(self, channel: str, *, presence: bool = True) -> rtm.Subscribed:
        ch = self.channels.get(channel) or _Channel(presence)
        self.channels[channel] = ch
        return await self._subscribe(channel, ch)

    async def _subscribe(self, channel: str, ch: _Channel) -> rtm.Subscribed:
        reply = await self._request(rtm.Subscribe(channel=channel, since_seq=ch.last_seq, presence=ch.presence))
        assert isinstance(reply, rtm.Subscribed)
        if ch.last_seq is None:
            ch.last_seq = reply.last_seq
        if reply.truncated and not ch.filling and ch.buffer:
            ch.filling = True
            self._spawn(self._fill(channel, ch))
        return reply

    async def unsubscribe(self, channel: str) -> None:
        self.channels.pop(channel, None)
        await self._request(rtm.Unsubscribe(channel=channel))

    async def _send_reliably(self, make: Any, timeout: float) -> rtm.Ack:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            await self._until_up(deadline)
            try:
                reply = await self._request(make(), timeout=max(0.1, deadline - asyncio.get_running_loop().time()))
            except ConnectionLostError:
                continue  # same client_msg_id again: the server stores it once
            assert isinstance(reply, rtm.Ack)
            return reply

    async def send(
        self,
        channel: str,
        *,
        text: str | None = None,
        data: Any = None,
        attachments: list[str] | None = None,
        client_msg_id: str | None = None,
        timeout: float = 30.0,
    ) -> rtm.Ack:
        """Send to a channel; returns once stored (retried across reconnects, stored once)."""
        cid = client_msg_id or secrets.token_hex(8)
        atts = attachments or []
        return await self._send_reliably(
            lambda: rtm.Send(channel=channel, client_msg_id=cid, text=text, data=data, attachments=atts), timeout
        )

    async def send_peer(
        self,
        to: str,
        *,
        text: str | None = None,
        data: Any = None,
        attachments: list[str] | None = None,
        client_msg_id: str | None = None,
        timeout: float = 30.0,
    ) -> rtm.Ack:
        cid = client_msg_id or secrets.token_hex(8)
        atts = attachments or []
        return await self._send_reliably(
            lambda: rtm.SendPeer(to=to, client_msg_id=cid, text=text, data=data, attachments=atts), timeout
        )

    async def history(
        self,
        channel: str,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        since_ts: float | None = None,
        until_ts: float | None = None,
        limit: int = 50,
    ) -> rtm.HistoryPage:
        req = rtm.History(
            channel=channel,
            after_seq=after_seq,
            before_seq=before_seq,
            since_ts=since_ts,
            until_ts=until_ts,
            limit=limit,
        )
        reply = await self._request(req)
        assert isinstance(reply, rtm.HistoryPage)
        return reply

    async def set_presence(self, attrs: dict[str, str]) -> None:
        await self._request(rtm.SetPresence(attrs=attrs))

    async def presence(self, channel: str) -> list[rtm.Member]:
        reply = await self._request(rtm.GetPresence(channel=channel))
        assert isinstance(reply, rtm.PresenceList)
        return reply.members

    async def typing(self, channel: str = "", to: str = "") -> None:
        await self._send_quiet(rtm.Typing(channel=channel, to=to))

    async def mark_read(self, channel: str, seq: int) -> None:
        await self._request(rtm.MarkRead(channel=channel, seq=seq))

    async def unread(self, channels: list[str] | None = None) -> dict[str, int]:
        reply = await self._request(rtm.GetUnread(channels=channels or []))
        assert isinstance(reply, rtm.Unread)
        return reply.counts

    async def delete(self, channel: str, message_id: str) -> None:
        await self._request(rtm.Delete(channel=channel, message_id=message_id))

    async def next_event(self, timeout: float | None = None) -> rtm.ServerMessage:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def __aiter__(self) -> AsyncIterator[rtm.ServerMessage]:
        while not self._closed:
            yield await self.events.get()

    def last_seq(self, channel: str) -> int | None:
        ch = self.channels.get(channel)
        return ch.last_seq if ch else None
