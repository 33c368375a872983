"""Per-privilege expiry on a live call: a warning first, then the expired privilege stops that
track while the user stays; a renewed token restores it."""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub.sdk import TokenExpiring, ToneTrack, TrackUnpublished, connect


async def _first(events: Any, kind: type, timeout: float) -> Any:
    async def scan() -> Any:
        async for event in events:
            if isinstance(event, kind):
                return event
        raise AssertionError(f"no {kind.__name__}")

    return await asyncio.wait_for(scan(), timeout)


async def test_publish_privilege_expiry_warns_then_stops_the_track(live: Any) -> None:
    short = live.token("alice", privileges={"join_channel": 3600, "publish_audio": 3, "subscribe": 3600})
    alice = await connect(live.url, short)
    bob = await connect(live.url, live.token("bob"))
    try:
        alice_events, bob_events = alice.events(), bob.events()
        await alice.publish(ToneTrack(440))
        await bob.wait_for_track("alice", kind="audio", timeout=15)

        warning = await _first(alice_events, TokenExpiring, timeout=5)
        assert [e.what for e in warning.expiring] == ["publish_audio"]

        gone = await _first(bob_events, TrackUnpublished, timeout=10)
        assert gone.participant.identity == "alice"
        assert alice.connected and "alice" in {p.identity for p in bob.participants.values()}

        renewed = await alice.renew_token(live.token("alice"))
        assert renewed.privileges["publish_audio"] > renewed.expires_at - 3700
        await alice.publish(ToneTrack(660))
        await bob.wait_for_track("alice", kind="audio", timeout=15)
    finally:
        await alice.disconnect()
        await bob.disconnect()
