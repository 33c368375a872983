"""Participants in a call message each other over the same signaling socket (``rtm_*`` frames),
and messaging-only users on /rtm/v1 share the channel with them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets


async def _open(live: Any, path: str, user: str, first: dict[str, Any]) -> Any:
    ws = await websockets.connect(live.url.replace("http", "ws", 1) + path)
    await ws.send(json.dumps({**first, "token": live.token(user, channel="*" if path == "/rtm/v1" else "room1")}))
    return ws


async def _until(ws: Any, kind: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
    async def scan() -> dict[str, Any]:
        while True:
            frame = dict(json.loads(await ws.recv()))
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    return await asyncio.wait_for(scan(), timeout)


async def test_chat_beside_the_call_and_from_messaging_only_users(live: Any) -> None:
    alice = await _open(live, "/rtc/v1", "alice", {"type": "join", "id": "j"})
    bob = await _open(live, "/rtc/v1", "bob", {"type": "join", "id": "j"})
    carol = await _open(live, "/rtm/v1", "carol", {"type": "rtm_login", "id": "l"})
    try:
        await _until(alice, "joined")
        await _until(bob, "joined")
        await _until(carol, "rtm_logged_in")
        for ws in (alice, bob, carol):
            await ws.send(json.dumps({"type": "rtm_subscribe", "id": "s", "channel": "room1"}))
            await _until(ws, "rtm_subscribed", re="s")

        await alice.send(json.dumps({"type": "rtm_send", "id": "m1", "channel": "room1", "text": "hi from the call"}))
        ack = await _until(alice, "rtm_ack", re="m1")
        assert ack["seq"] == 1
        for ws in (bob, carol):
            got = await _until(ws, "rtm_message")
            assert got["message"]["text"] == "hi from the call" and got["message"]["sender"] == "alice"

        await carol.send(json.dumps({"type": "rtm_send", "id": "m2", "channel": "room1", "text": "hi from chat"}))
        got = await _until(bob, "rtm_message")
        assert got["message"]["seq"] == 2 and got["message"]["sender"] == "carol"

        # The signaling session is unaffected: signaling requests still answer.
        await bob.send(json.dumps({"type": "ping", "id": "p", "t": 7}))
        assert (await _until(bob, "pong", re="p"))["t"] == 7
    finally:
        for ws in (alice, bob, carol):
            await ws.close()
