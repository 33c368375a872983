"""A moderator's mute (REST, as the console does it) seen by the muted participant's own Python SDK:
a ``LocalTrackMuted`` event with ``by_server``, the publication marked muted, and the way back
(the participant's own unmute, or the moderator's) forwarding the real media again."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx

from hubbub.control.context import UserPrincipal
from hubbub.sdk import FrameCounterTrack, LocalTrackMuted, TrackMuted, connect, read_frame_counter


async def next_event(room: Any, kind: type, timeout: float = 10.0, **match: Any) -> Any:
    """The next event of type ``kind`` whose attributes equal ``match``; other events are skipped."""

    async def find() -> Any:
        async for event in room.events():
            if isinstance(event, kind) and all(getattr(event, k) == v for k, v in match.items()):
                return event
        raise AssertionError(f"the room ended before a {kind.__name__} {match}")

    return await asyncio.wait_for(find(), timeout)


async def counted_frame(track: Any, timeout: float = 10.0) -> int:
    """The counter of the next frame that carries one (black stand-in frames carry none)."""

    async def find() -> int:
        while True:
            value = read_frame_counter(await track.recv())
            if value is not None:
                return value

    return await asyncio.wait_for(find(), timeout)


async def drain(track: Any) -> None:
    with contextlib.suppress(TimeoutError):
        while True:
            await asyncio.wait_for(track.recv(), 0.5)


async def test_a_rest_mute_reaches_the_muted_participant(live: Any) -> None:
    _, api_key = await live.platform.services.api_keys.create(UserPrincipal(live.owner_id), live.app_id, "moderator")
    rest = httpx.AsyncClient(base_url=live.url, headers={"authorization": f"Bearer {api_key}"})
    heidi = await connect(live.url, live.token("heidi", "m-room"))
    ivan = await connect(live.url, live.token("ivan", "m-room"))
    try:
        camera = await heidi.publish(FrameCounterTrack(160, 120, 15))
        video = await ivan.wait_for_track("heidi", kind="video", timeout=15)
        await counted_frame(video)
        url = f"/api/v1/projects/{live.app_id}/channels/m-room/tracks/{camera.track_sid}/mute"

        r = await rest.post(url, json={"muted": True})
        assert r.status_code == 200, r.text
        told = await next_event(heidi, LocalTrackMuted)
        assert (told.publication, told.muted, told.by_server) == (camera, True, True)
        assert camera.muted
        await next_event(ivan, TrackMuted, muted=True)
        await drain(video)

        # the participant unmutes with its own request: no longer by the server, and the media flows again
        await camera.unmute()
        told = await next_event(heidi, LocalTrackMuted)
        assert (told.muted, told.by_server) == (False, False)
        assert not camera.muted
        await counted_frame(video)

        # muted and unmuted again by the moderator: the real track (counted frames) resumes
        assert (await rest.post(url, json={"muted": True})).status_code == 200
        assert (await next_event(heidi, LocalTrackMuted)).muted is True
        await drain(video)
        assert (await rest.post(url, json={"muted": False})).status_code == 200
        told = await next_event(heidi, LocalTrackMuted)
        assert (told.muted, told.by_server) == (False, True)
        assert not camera.muted
        await counted_frame(video)
    finally:
        await rest.aclose()
        await heidi.disconnect()
        await ivan.disconnect()
