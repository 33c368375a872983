"""A participant whose connection drops resumes within the window without leaving the room; after
the window it is removed and the others are told."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from hubbub.sdk import FrameCounterTrack, ParticipantLeft, Reconnected, ToneTrack, connect, read_frame_counter


def _cut_signaling(room: Any) -> None:
    """What a network loss does to the client's WebSocket: the TCP connection is gone."""
    room._signal._ws.transport.abort()


async def _next_counter(track: Any) -> int:
    while True:
        value = read_frame_counter(await asyncio.wait_for(track.recv(), 10))
        if value is not None:
            return value


async def _wait_for(events: Any, kind: type, timeout: float) -> Any:
    async def scan() -> Any:
        async for event in events:
            if isinstance(event, kind):
                return event
        return None

    return await asyncio.wait_for(scan(), timeout)


async def test_dropped_participant_resumes_in_place(live: Any) -> None:
    alice = await connect(live.url, live.token("alice"))
    bob = await connect(live.url, live.token("bob"))
    try:
        await alice.publish(ToneTrack(440))
        await alice.publish(FrameCounterTrack(320, 240, 15))
        video = await bob.wait_for_track("alice", kind="video", timeout=15)
        before = await _next_counter(video)
        bob_sid = bob.local_participant.sid
        alice_events = alice.events()

        _cut_signaling(bob)
        reconnected = await _wait_for(bob.events(), Reconnected, timeout=10)
        assert reconnected.resumed, "the server gave bob a new participant instead of resuming"
        assert bob.local_participant.sid == bob_sid

        video = await bob.wait_for_track("alice", kind="video", timeout=15)
        after = await _next_counter(video)
        assert after > before
        # Alice never saw bob leave.
        left = []
        while True:
            try:
                event = await asyncio.wait_for(alice_events.__anext__(), 0.2)
            except (TimeoutError, StopAsyncIteration):
                break
            if isinstance(event, ParticipantLeft):
                left.append(event)
        assert left == []
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_participant_gone_past_the_window_is_removed(live: Any) -> None:
    live.platform.rooms.settings = type(live.platform.rooms.settings)(reconnect_window=0.5)
    alice = await connect(live.url, live.token("alice"))
    try:
        events = alice.events()
        # A bare client joins, then its network vanishes: no leave, no resume.
        ws = await websockets.connect(live.url.replace("http", "ws", 1) + "/rtc/v1")
        await ws.send(json.dumps({"type": "join", "token": live.token("bob")}))
        joined = json.loads(await ws.recv())
        assert joined["type"] == "joined"
        ws.transport.abort()
        left = await _wait_for(events, ParticipantLeft, timeout=5)
        assert left.participant.identity == "bob"
        assert left.reason == "connection_lost"
    finally:
        await alice.disconnect()
