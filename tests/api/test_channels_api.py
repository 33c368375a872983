"""REST for live channels: listing, details, kick, server-side mute and end, checked with real SDK
participants (``hubbub.sdk.connect``, aiortc) on a live server; and project isolation.

One live server per module (real sockets: HTTP, signaling, media); every test uses its own channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
import uvicorn

from hubbub.config import Settings
from hubbub.schema import signaling as sig
from hubbub.sdk.token import build_token
from hubbub.server.platform import Platform, bind_http

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

API = "/api/v1"
PASSWORD = "correct horse battery staple"


class Tenant:
    """A console user (cookie + CSRF header), one project of theirs, and an API-key client for it."""

    def __init__(self, console: httpx.AsyncClient, server: httpx.AsyncClient, app_id: str, certificate: str) -> None:
        self.console, self.server, self.app_id, self.certificate = console, server, app_id, certificate

    def token(self, user: str, channel: str, **kwargs: Any) -> str:
        return build_token(self.app_id, self.certificate, user_id=user, channel=channel, **kwargs)

    def base(self, channel: str | None = None) -> str:
        base = f"{API}/projects/{self.app_id}/channels"
        return base if channel is None else f"{base}/{quote(channel, safe='')}"


class Live:
    def __init__(self, url: str, platform: Platform, a: Tenant, b: Tenant) -> None:
        self.url, self.platform, self.a, self.b = url, platform, a, b


async def _tenant(url: str, who: str) -> Tenant:
    console = httpx.AsyncClient(base_url=url)
    email = f"{who}@example.com"
    r = await console.post(f"{API}/auth/signup", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = await console.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    console.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    r = await console.post(f"{API}/projects", json={"name": f"Project {who}"})
    assert r.status_code == 201, r.text
    app_id, certificate = r.json()["app_id"], r.json()["app_certificate"]
    r = await console.post(f"{API}/projects/{app_id}/api-keys", json={"name": "backend"})
    server = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {r.json()['api_key']}"})
    return Tenant(console, server, app_id, certificate)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    settings = Settings(
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path_factory.mktemp("channels") / "data",
        rtc_udp_port=0,
        rtc_tcp_port=0,
        log_format="json",
    )
    platform = await Platform.start(settings)
    sock = bind_http("127.0.0.1", 0)
    http = uvicorn.Server(
        uvicorn.Config(platform.app, log_config=None, access_log=False, lifespan="off", ws="websockets-sansio")
    )
    http.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(http.serve(sockets=[sock]))
    while not http.started:
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    a, b = await _tenant(url, "a"), await _tenant(url, "b")
    try:
        yield Live(url, platform, a, b)
    finally:
        for t in (a, b):
            await t.console.aclose()
            await t.server.aclose()
        http.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        await platform.close()


@pytest_asyncio.fixture(loop_scope="module")
async def joined(live: Live) -> AsyncIterator[Callable[..., Any]]:
    """``await joined(user, channel, **token_kwargs)``: an SDK participant of tenant A (left at the end)."""
    from hubbub.sdk import connect

    rooms: list[Any] = []

    async def join(user: str, channel: str, **kwargs: Any) -> Any:
        room = await connect(live.url, live.a.token(user, channel, **kwargs))
        rooms.append(room)
        return room

    yield join
    for room in rooms:
        with contextlib.suppress(Exception):
            await room.disconnect()


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    return body


async def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def next_event(room: Any, kind: type, timeout: float = 10.0, **match: Any) -> Any:
    """The next event of type ``kind`` whose attributes equal ``match``; other events are skipped."""

    async def find() -> Any:
        async for event in room.events():
            if isinstance(event, kind) and all(getattr(event, k) == v for k, v in match.items()):
                return event
        raise AssertionError(f"the room ended before a {kind.__name__} {match}")

    return await asyncio.wait_for(find(), timeout)


def record_frames(room: Any) -> list[Any]:
    """Every signaling frame the room receives from now on (the SDK keeps none about its own tracks)."""
    seen: list[Any] = []
    deliver = room._signal.on_message

    def spy(message: Any) -> None:
        seen.append(message)
        deliver(message)

    room._signal.on_message = spy
    return seen


# --- tests ----------------------------------------------------------------------------------------


async def test_lists_live_channels_with_participants_and_tracks(live: Live, joined: Any) -> None:
    from hubbub.sdk import FrameCounterTrack, ToneTrack

    a = live.a
    r = await a.server.get(a.base())
    assert r.status_code == 200 and r.json() == [], r.text  # nothing live yet: an empty list, not an error

    channel = "lobby #1"  # '#' and space are valid in channel names: the path is percent-encoded
    alice = await joined("alice", channel)
    await alice.publish(ToneTrack(440))
    await alice.publish(FrameCounterTrack(160, 120, 15))
    await joined("bob", channel, role="audience")

    for client in (a.console, a.server):  # the console owner and an API key of the project are both admins
        r = await client.get(a.base())
        assert r.status_code == 200, r.text
        [summary] = r.json()
        assert summary["channel"] == channel
        assert (summary["participants"], summary["publishers"], summary["tracks"]) == (2, 1, 2)

    r = await a.console.get(a.base(channel))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["channel"] == channel
    people = {p["identity"]: p for p in body["participants"]}
    assert set(people) == {"alice", "bob"}
    assert people["alice"]["role"] == "host" and people["bob"]["role"] == "audience"
    assert people["alice"]["joined_at"] <= people["bob"]["joined_at"]
    assert all(p["state"] == "joined" for p in people.values())
    tracks = {(t["kind"], t["source"], t["muted"]) for t in people["alice"]["tracks"]}
    assert tracks == {("audio", "microphone", False), ("video", "camera", False)}
    assert people["bob"]["tracks"] == []


async def test_unknown_channel_participant_and_track_are_404(live: Live, joined: Any) -> None:
    a = live.a
    await joined("carol", "c-404")
    problem(await a.server.get(a.base("nobody-here")), 404, "channel_not_found")
    problem(await a.server.delete(a.base("nobody-here")), 404, "channel_not_found")
    problem(await a.server.post(f"{a.base('nobody-here')}/participants/carol/kick", json={}), 404, "channel_not_found")
    problem(await a.server.post(f"{a.base('c-404')}/participants/dave/kick", json={}), 404, "participant_not_found")
    problem(await a.server.post(f"{a.base('c-404')}/tracks/TR_nope/mute", json={"muted": True}), 404, "track_not_found")
    problem(
        await a.server.post(f"{a.base('c-404')}/tracks/TR_nope/mute", json={"muted": "yes"}), 422, "invalid_request"
    )
    problem(
        await a.server.post(f"{a.base('c-404')}/participants/carol/kick", json={"reason": "x" * 300}),
        422,
        "invalid_request",
    )


async def test_other_tenants_cannot_see_or_touch_channels(live: Live, joined: Any) -> None:
    a, b = live.a, live.b
    erin = await joined("erin", "c-private")
    track = None
    from hubbub.sdk import ToneTrack

    track = await erin.publish(ToneTrack(330))
    for intruder in (b.console, b.server):  # another user, and another project's API key
        for r in (
            await intruder.get(a.base()),
            await intruder.get(a.base("c-private")),
            await intruder.post(f"{a.base('c-private')}/participants/erin/kick", json={"reason": "mine now"}),
            await intruder.post(f"{a.base('c-private')}/tracks/{track.track_sid}/mute", json={"muted": True}),
            await intruder.delete(a.base("c-private")),
        ):
            problem(r, 404, "project_not_found")
        # ... and a made-up App ID answers exactly the same
        problem(await intruder.get(f"{API}/projects/{'0' * 32}/channels"), 404, "project_not_found")
    # B sees its own (empty) project, not A's channel
    r = await b.server.get(b.base())
    assert r.status_code == 200 and r.json() == []

    async with httpx.AsyncClient(base_url=live.url) as anonymous:
        problem(await anonymous.get(a.base()), 401, "unauthenticated")
    # A cookie without the CSRF header cannot moderate
    csrf = a.console.headers.pop("X-CSRF-Token")
    try:
        problem(await a.console.delete(a.base("c-private")), 403, "csrf_failed")
    finally:
        a.console.headers["X-CSRF-Token"] = csrf
    # nothing happened to erin
    assert erin.connected and not track.muted
    room = live.platform.rooms.room(a.app_id, "c-private")
    assert room is not None and room.by_identity("erin") is not None


async def test_kick_reaches_the_participant_with_the_reason(live: Live, joined: Any) -> None:
    from hubbub.sdk import Disconnected, ParticipantLeft
    from hubbub.sdk.errors import Kicked

    a = live.a
    frank = await joined("frank", "c-kick")
    grace = await joined("grace", "c-kick")
    r = await a.console.post(f"{a.base('c-kick')}/participants/grace/kick", json={"reason": "spamming the chat"})
    assert r.status_code == 204, r.text

    gone = await next_event(grace, Disconnected)
    assert gone.reason == "kicked"
    assert isinstance(gone.error, Kicked) and gone.error.message == "spamming the chat"
    left = await next_event(frank, ParticipantLeft)
    assert (left.participant.identity, left.reason) == ("grace", "kicked")
    r = await a.console.get(a.base("c-kick"))
    assert [p["identity"] for p in r.json()["participants"]] == ["frank"]
    # kicking again: the participant is gone
    problem(await a.console.post(f"{a.base('c-kick')}/participants/grace/kick"), 404, "participant_not_found")


async def test_server_side_mute_stops_forwarding_and_tells_everyone(live: Live, joined: Any) -> None:
    from hubbub.sdk import FrameCounterTrack, TrackMuted, read_frame_counter

    a = live.a
    heidi = await joined("heidi", "c-mute")
    ivan = await joined("ivan", "c-mute")
    heidi_frames = record_frames(heidi)
    camera = await heidi.publish(FrameCounterTrack(160, 120, 15))
    video = await ivan.wait_for_track("heidi", kind="video", timeout=15)
    first = [read_frame_counter(await asyncio.wait_for(video.recv(), 10)) for _ in range(3)]
    assert any(c is not None for c in first)

    r = await a.server.post(f"{a.base('c-mute')}/tracks/{camera.track_sid}/mute", json={"muted": True})
    assert r.status_code == 200, r.text
    assert r.json()["sid"] == camera.track_sid and r.json()["muted"] is True
    event = await next_event(ivan, TrackMuted)
    assert event.publication.sid == camera.track_sid and event.muted is True

    # the publisher is told too (the frame here; its SDK's LocalTrackMuted: tests/e2e/test_server_mute.py)
    async def publisher_told() -> bool:
        return any(isinstance(m, sig.TrackMuted) and m.track_sid == camera.track_sid and m.muted for m in heidi_frames)

    await until(publisher_told, what="track_muted at the publisher")
    r = await a.server.get(a.base("c-mute"))
    [heidi_info] = [p for p in r.json()["participants"] if p["identity"] == "heidi"]
    assert heidi_info["tracks"][0]["muted"] is True

    # forwarding stops: after what was in flight, no new frame reaches ivan
    with contextlib.suppress(TimeoutError):
        while True:
            await asyncio.wait_for(video.recv(), 0.5)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(video.recv(), 1.0)

    # unmuting from the console resumes it
    r = await a.server.post(f"{a.base('c-mute')}/tracks/{camera.track_sid}/mute", json={"muted": False})
    assert r.status_code == 200 and r.json()["muted"] is False
    await next_event(ivan, TrackMuted, muted=False)
    frame = await asyncio.wait_for(video.recv(), 10)
    assert frame.width > 0


async def test_ending_a_channel_removes_everyone(live: Live, joined: Any) -> None:
    from hubbub.sdk import Disconnected

    a = live.a
    judy = await joined("judy", "c-end")
    kim = await joined("kim", "c-end")
    r = await a.console.delete(a.base("c-end"))
    assert r.status_code == 204, r.text
    for room in (judy, kim):
        gone = await next_event(room, Disconnected)
        assert gone.reason == "room_closed"
    r = await a.console.get(a.base())
    assert "c-end" not in [c["channel"] for c in r.json()]
    problem(await a.console.get(a.base("c-end")), 404, "channel_not_found")
