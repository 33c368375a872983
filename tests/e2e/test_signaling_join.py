"""Joining a room where media is already published: one subscriber offer for all of it, sent after
``joined`` or, when the client asks (``inline_offer``), inside it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from hubbub.sdk import FrameCounterTrack, ToneTrack, connect


async def _frames_after(ws: Any, quiet: float = 0.6) -> list[dict[str, Any]]:
    """Every frame until the socket has been quiet for ``quiet`` seconds."""
    out = []
    while True:
        try:
            out.append(json.loads(await asyncio.wait_for(ws.recv(), quiet)))
        except TimeoutError:
            return out


def _media_kinds(sdp: str) -> list[str]:
    return [line.split()[0][2:] for line in sdp.splitlines() if line.startswith("m=")]


async def _publishing(live: Any, user: str) -> Any:
    room = await connect(live.url, live.token(user, "c-join"))
    await room.publish(ToneTrack(440))
    await room.publish(FrameCounterTrack(160, 120, 10))
    return room


async def test_joining_gets_one_offer_for_every_published_track(live: Any) -> None:
    alice = await _publishing(live, "alice")
    try:
        async with websockets.connect(live.url.replace("http", "ws", 1) + "/rtc/v1", max_size=2**22) as ws:
            await ws.send(json.dumps({"type": "join", "id": "j", "token": live.token("bob", "c-join")}))
            joined = json.loads(await ws.recv())
            assert joined["type"] == "joined" and joined["re"] == "j" and not joined.get("offer")
            frames = await _frames_after(ws)
        offers = [f for f in frames if f["type"] == "offer"]
        assert len(offers) == 1, [f["type"] for f in frames]
        assert sorted(_media_kinds(offers[0]["sdp"])) == ["audio", "video"]
        updates = [f for f in frames if f["type"] == "subscription"]
        assert len(updates) == 2 and frames.index(offers[0]) > max(frames.index(u) for u in updates)
    finally:
        await alice.disconnect()


async def test_inline_offer_rides_in_joined(live: Any) -> None:
    alice = await _publishing(live, "alice")
    try:
        async with websockets.connect(live.url.replace("http", "ws", 1) + "/rtc/v1", max_size=2**22) as ws:
            join = {"type": "join", "id": "j", "token": live.token("bob", "c-join"), "inline_offer": True}
            await ws.send(json.dumps(join))
            joined = json.loads(await ws.recv())
            assert joined["type"] == "joined" and sorted(_media_kinds(joined["offer"])) == ["audio", "video"]
            frames = await _frames_after(ws)
            assert [f for f in frames if f["type"] == "offer"] == []
            # It is answered like any subscriber offer.
            await ws.send(json.dumps({"type": "answer", "id": "a", "sdp": "v=0"}))
            reply = json.loads(await ws.recv())
            assert reply["re"] == "a" and reply["type"] == "error" and reply["code"] == "invalid_sdp"
    finally:
        await alice.disconnect()
