"""Bad input and limits over real sockets: oversize, malformed, unknown types and channels,
missing privileges, rate limits with retry-after, bans and mutes, floods and slow consumers."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
import websockets

from hubbub.messaging import NewMessage
from hubbub.schema import messaging as rtm
from hubbub.sdk.errors import JoinError
from hubbub.sdk.messaging import RtmError, connect_rtm, rtm_url
from hubbub.server.outbox import Outbox


async def _raw(live: Any, user: str, *, rcvbuf: int = 0, **token: Any) -> Any:
    sock = None
    if rcvbuf:  # a small receive window, set before connecting so that the kernel cannot absorb much
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect(("127.0.0.1", int(live.url.rsplit(":", 1)[1])))
        sock.setblocking(False)
    ws = await websockets.connect(rtm_url(live.url), max_size=1 << 22, sock=sock, max_queue=4)
    await ws.send(json.dumps({"type": "rtm_login", "id": "l", "token": live.token(user, **token)}))
    reply = json.loads(await ws.recv())
    assert reply["type"] == "rtm_logged_in", reply
    return ws


async def _reply(ws: Any, rid: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame.get("re") == rid:
            return frame


async def test_bad_frames_get_clear_errors(live_rtm: Any) -> None:
    live = await live_rtm()
    ws = await _raw(live, "u")
    await ws.send("not json")
    assert json.loads(await ws.recv())["code"] == "invalid_message"
    await ws.send(json.dumps({"type": "rtm_frobnicate", "id": "a"}))
    assert (await _reply(ws, "a"))["code"] == "unknown_type"
    await ws.send(json.dumps({"type": "rtm_send", "id": "b", "channel": 5, "text": "x"}))
    assert (await _reply(ws, "b"))["code"] == "invalid_message"
    await ws.send(json.dumps({"type": "rtm_subscribe", "id": "c", "channel": "bad/\u0000name"}))
    assert (await _reply(ws, "c"))["code"] == "invalid_channel"
    await ws.send(json.dumps({"type": "rtm_send", "id": "d", "channel": "never", "text": "x"}))
    assert (await _reply(ws, "d"))["code"] == "not_subscribed"
    await ws.send(json.dumps({"type": "rtm_subscribe", "id": "e", "channel": "big"}))
    await _reply(ws, "e")
    await ws.send(json.dumps({"type": "rtm_send", "id": "f", "channel": "big", "text": "x" * (33 * 1024)}))
    assert (await _reply(ws, "f"))["code"] == "payload_too_large"
    await ws.send(json.dumps({"type": "rtm_send", "id": "g", "channel": "big", "text": "x" * (70 * 1024)}))
    assert json.loads(await ws.recv())["code"] == "frame_too_large"
    await ws.send(json.dumps({"type": "rtm_send", "id": "h", "channel": "big"}))
    assert (await _reply(ws, "h"))["code"] == "invalid_message"  # neither text nor data
    await ws.close()


async def test_login_and_send_need_their_privileges(live_rtm: Any) -> None:
    live = await live_rtm()
    with pytest.raises(JoinError) as refused:
        await connect_rtm(live.url, live.token("x", privileges={"join_channel": 60}))
    assert refused.value.code == "token_privilege_missing"
    with pytest.raises(JoinError) as bad:
        await connect_rtm(live.url, "not-a-token")
    assert bad.value.code == "token_malformed"
    reader = await connect_rtm(live.url, live.token("reader", privileges={"rtm_login": 60}))
    await reader.subscribe("quiet")
    with pytest.raises(RtmError) as denied:
        await reader.send("quiet", text="hi")
    assert denied.value.code == "token_privilege_missing"
    scoped = await connect_rtm(live.url, live.token("scoped", channel="mine"))
    with pytest.raises(RtmError) as other:
        await scoped.subscribe("theirs")
    assert other.value.code == "token_channel_mismatch"
    await reader.close()
    await scoped.close()


async def test_rate_limit_says_when_to_retry_and_floods_are_disconnected(live_rtm: Any) -> None:
    live = await live_rtm(messages_per_s=2, burst=5, frames_per_s=20, flood_factor=2)
    ws = await _raw(live, "fast")
    await ws.send(json.dumps({"type": "rtm_subscribe", "id": "s", "channel": "flood", "presence": False}))
    await _reply(ws, "s")
    codes = []
    for i in range(8):
        await ws.send(json.dumps({"type": "rtm_send", "id": f"m{i}", "channel": "flood", "text": "x"}))
    for i in range(8):
        codes.append(await _reply(ws, f"m{i}"))
    assert [c["type"] for c in codes[:5]] == ["rtm_ack"] * 5
    limited = codes[5]
    assert limited["code"] == "rate_limited" and 0 < limited["retry_after"] <= 0.5, codes
    for i in range(60):  # far beyond the frame limit: disconnected with a reason
        await ws.send(json.dumps({"type": "ping", "id": f"p{i}", "t": 1}))
    closing = None
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if frame["type"] == "rtm_closing":
                closing = frame
    assert closing is not None and closing["reason"] == "flood"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4029
    history = await live.service.history(None, live.app_id, rtm.History(channel="flood"))
    assert len(history.messages) == 5  # every acknowledged message is kept


async def test_ban_and_mute(live_rtm: Any) -> None:
    live = await live_rtm()
    svc = live.service
    troll = await connect_rtm(live.url, live.token("troll"))
    await troll.subscribe("mod", presence=False)
    await svc.moderate(live.app_id, "mod", "troll", "mute", active=True)
    with pytest.raises(RtmError) as muted:
        await troll.send("mod", text="spam")
    assert muted.value.code == "muted"
    await svc.moderate(live.app_id, "mod", "troll", "mute", active=False)
    await troll.send("mod", text="sorry")
    await svc.moderate(live.app_id, "mod", "troll", "ban", active=True, duration_s=3600)
    seen: list[Any] = []
    while not any(isinstance(e, rtm.Unsubscribed) for e in seen):
        seen.append(await troll.next_event(timeout=5))
    assert any(isinstance(e, rtm.Moderated) and e.action == "ban" and e.until > 0 for e in seen)
    with pytest.raises(RtmError) as banned:
        await troll._subscribe("mod", troll.channels["mod"])
    assert banned.value.code == "banned"
    with pytest.raises(RtmError):
        await troll.history("mod")
    await troll.close()


async def test_slow_consumer_is_disconnected_without_slowing_others(live_rtm: Any) -> None:
    """A member whose outbox fills (it never reads) is closed with 4008 slow_consumer and leaves the
    channel; the others get every message; nothing acknowledged is lost."""
    live = await live_rtm(outbox_frames=10)
    svc = live.service
    sleeper_outbox = Outbox(10, 1 << 20)  # nobody drains it: a receiver that never reads
    closed: list[tuple[int, str]] = []
    grant = await live.wired.platform.admission.verify(live.token("sleeper", channel="fire"), channel="fire")
    sleeper = svc.connect(grant, sleeper_outbox.push, lambda code, reason: closed.append((code, reason)))
    await svc.subscribe(sleeper, "fire", since_seq=None, presence=False, reply=lambda _s: None)
    fast = await connect_rtm(live.url, live.token("fast"))
    await fast.subscribe("fire", presence=False)
    acks = [await svc.send(None, "fire", NewMessage(live.app_id, "server", text=f"m{n}")) for n in range(30)]
    got = 0
    while got < 30:
        event = await fast.next_event(timeout=10)
        got += isinstance(event, rtm.MessageEvent)
    assert closed == [(4008, "slow_consumer")] and sleeper_outbox.close_reason == "slow_consumer"
    assert [m.conn.user_id for m in svc.hubs[(live.app_id, "fire")].members.values()] == ["fast"]
    page = await svc.history(None, live.app_id, rtm.History(channel="fire", limit=100))
    assert [m.id for m in page.messages] == [a.id for a in acks]
    await fast.close()
