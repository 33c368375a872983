"""Active speakers come from the RFC 6464 audio level the publisher puts on its packets."""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub.sdk import ActiveSpeakers, ToneTrack, connect


async def test_the_one_with_audio_is_the_active_speaker(live: Any) -> None:
    alice = await connect(live.url, live.token("alice"))
    bob = await connect(live.url, live.token("bob"))
    try:
        events = bob.events()
        await alice.publish(ToneTrack(440))

        async def first_speakers() -> ActiveSpeakers:
            async for event in events:
                if isinstance(event, ActiveSpeakers) and event.speakers:
                    return event
            raise AssertionError("events ended")

        event = await asyncio.wait_for(first_speakers(), 10)
        assert [s.participant_sid for s in event.speakers] == [alice.local_participant.sid]
        assert 0 < event.speakers[0].level <= 1
    finally:
        await alice.disconnect()
        await bob.disconnect()
