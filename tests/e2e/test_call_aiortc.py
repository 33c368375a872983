"""aiortc participants talk through the SFU: what one sends, the other receives intact."""

from __future__ import annotations

import asyncio
from typing import Any

from av import AudioFrame, VideoFrame

from hubbub.control.context import UserPrincipal
from hubbub.sdk import FrameCounterTrack, ToneTrack, connect, detect_tone, read_frame_counter


async def test_audio_and_video_cross_the_sfu(live: Any) -> None:
    alice = await connect(live.url, live.token("alice"))
    bob = await connect(live.url, live.token("bob"))
    try:
        await alice.publish(ToneTrack(440))
        await alice.publish(FrameCounterTrack(320, 240, 15))
        video = await bob.wait_for_track("alice", kind="video", timeout=15)
        audio = await bob.wait_for_track("alice", kind="audio", timeout=15)
        counters: list[int] = []
        while len(counters) < 10:
            frame = await asyncio.wait_for(video.recv(), 10)
            assert isinstance(frame, VideoFrame)
            value = read_frame_counter(frame)
            if value is not None:
                counters.append(value)
        assert counters == sorted(counters) and len(set(counters)) >= 8
        frames = [await asyncio.wait_for(audio.recv(), 5) for _ in range(50)]
        assert all(isinstance(f, AudioFrame) for f in frames)
        assert detect_tone([f for f in frames if isinstance(f, AudioFrame)], 440) > 0.5
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_call_minutes_are_metered_per_project(live: Any) -> None:
    """Participant-minutes land in the project's usage: video for those who receive video."""
    alice = await connect(live.url, live.token("alice"))
    bob = await connect(live.url, live.token("bob"))
    try:
        await alice.publish(FrameCounterTrack(160, 120, 10))
        video = await bob.wait_for_track("alice", kind="video", timeout=15)
        for _ in range(10):
            await asyncio.wait_for(video.recv(), 10)
    finally:
        await alice.disconnect()
        await bob.disconnect()
    live.platform.rooms.flush_usage(force=True)
    usage, owner = live.platform.services.usage, UserPrincipal(live.owner_id)
    for _ in range(50):  # the flush writes in the background
        today = (await usage.query(owner, live.app_id, None, None))[-1]
        if today.video_minutes > 0:
            break
        await asyncio.sleep(0.05)
    assert today.video_minutes > 0  # bob received video
    assert today.audio_minutes > 0  # alice received nothing: counted as audio


async def test_late_subscriber_to_a_muted_track_gets_nothing_until_unmute(live: Any) -> None:
    alice = await connect(live.url, live.token("alice"))
    try:
        pub = await alice.publish(FrameCounterTrack(160, 120, 10))
        room = next(iter(live.platform.rooms.rooms.values()))
        owner = next(p for p in room.participants.values() if p.identity == "alice")
        live.platform.rooms.admin_mute(live.app_id, room.channel, pub.track_sid, True)
        bob = await connect(live.url, live.token("bob"))
        try:
            await bob.wait_for_track("alice", kind="video", timeout=15)
            router = live.platform.rooms.media_of(room).router
            down = router.down_track(pub.track_sid, next(p.sid for p in room.participants.values() if p is not owner))
            assert down is not None and down.muted
            await asyncio.sleep(0.5)
            assert down.packets_sent == 0
        finally:
            await bob.disconnect()
    finally:
        await alice.disconnect()
