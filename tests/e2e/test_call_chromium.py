"""Chromium participants (the Web SDK and the demo call page) talk through the SFU.

One headless Chromium per module (Playwright, Debian's /usr/bin/chromium, fake camera and
microphone: a moving test pattern and a beeping tone), one browser context per participant, one
live server per module; every test uses its own channel. Waits poll the pages' WebRTC statistics.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
# Small pictures keep four participants' encoders and decoders within two cores.
PRESET = "voice"

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(live_module: Any) -> Any:
    """The module's live server (tests/e2e/conftest.py); every test uses its own channel."""
    return live_module


def page_url(server: Any, user: str, room: str, token: str | None = None, **query: str) -> str:
    """The call page for ``user`` with a token for channel ``room`` (query ``channel`` overrides it)."""
    return f"{server.url}/demo/call.html?" + urlencode(
        {"token": token or server.token(user, room), "preset": PRESET, **query}
    )


Opener = Callable[..., Awaitable[Any]]


@pytest_asyncio.fixture(loop_scope="module")
async def open_page(browser: Any, server: Any) -> AsyncIterator[Opener]:
    """``await open_page(user, room, **query)``: a new context with the call page joined to ``room``
    (after the page event ``wait``, ``ready`` by default: joined and publishing)."""
    contexts: list[Any] = []

    async def open_(user: str, room: str, *, wait: str | None = "ready", token: str | None = None, **query: str) -> Any:
        ctx = await browser.new_context(viewport={"width": 960, "height": 600})
        contexts.append(ctx)
        page = await ctx.new_page()
        page.on("pageerror", lambda exc: print(f"[{user}] page error: {exc}"))
        await page.goto(page_url(server, user, room, token, **query))
        if wait is not None:
            await until(page, f"window.hubbubEvents && window.hubbubEvents.some(e => e.name === '{wait}')")
        return page

    yield open_
    for ctx in contexts:
        with contextlib.suppress(Exception):
            await ctx.close()


# --- page helpers ---------------------------------------------------------------------------------


async def until(page: Any, expression: str, timeout: float = 15.0) -> Any:
    """Poll a JavaScript expression until it is truthy; fail with the page's state if it never is."""
    try:
        return await page.wait_for_function(expression, polling=50, timeout=timeout * 1000)
    except Exception as exc:
        state = await page.evaluate(
            "({state: window.hubbubState, error: window.hubbubError, events: window.hubbubEvents})"
        )
        raise AssertionError(f"timed out waiting for {expression!r}; page: {state}") from exc


INBOUND = """async () => {
  const room = window.hubbubRoom;
  if (!room) return [];
  const ids = new Map([...room.participants.values()].map(p => [p.sid, p.identity]));
  return (await room.getStats()).tracks.filter(t => t.direction === 'inbound').map(t => ({
    identity: ids.get(t.participantSid) || '', trackSid: t.trackSid, kind: t.kind,
    framesDecoded: t.framesDecoded, audioLevel: t.audioLevel || 0, energy: t.totalAudioEnergy || 0}));
}"""


async def inbound(page: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """``(identity, kind) -> stats`` of what the page receives."""
    return {(t["identity"], t["kind"]): t for t in await page.evaluate(INBOUND)}


async def wait_decoding(page: Any, identities: list[str], *, audio: bool = True, timeout: float = 20.0) -> None:
    """Each identity's video decodes (framesDecoded grows between two samples) and, with ``audio``,
    its audio is heard (audioLevel > 0 or totalAudioEnergy grows)."""
    deadline = time.monotonic() + timeout
    pending = {(i, "video") for i in identities} | ({(i, "audio") for i in identities} if audio else set())
    base: dict[tuple[str, str], float] = {}
    now: dict[tuple[str, str], dict[str, Any]] = {}
    while pending:
        now = await inbound(page)
        for key in list(pending):
            stats = now.get(key)
            if stats is None:
                continue
            if key[1] == "video":
                value, done = stats["framesDecoded"], base.get(key, 0) > 0 and stats["framesDecoded"] > base[key]
            else:
                value = stats["energy"]
                done = stats["audioLevel"] > 0 or (key in base and stats["energy"] > base[key])
            if done:
                pending.discard(key)
            elif key not in base or base[key] == 0:
                base[key] = value
        if not pending:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not decoding {sorted(pending)}; last stats {now}")
        await asyncio.sleep(0.1)


async def frames_decoded(page: Any, identity: str) -> int:
    return int((await inbound(page)).get((identity, "video"), {}).get("framesDecoded", 0))


async def events(page: Any) -> list[dict[str, Any]]:
    return list(await page.evaluate("window.hubbubEvents"))


# --- tests ----------------------------------------------------------------------------------------


async def test_chromium_to_chromium_call(open_page: Opener) -> None:
    alice = await open_page("alice", "c-1v1")
    bob = await open_page("bob", "c-1v1")
    await asyncio.gather(wait_decoding(alice, ["bob"]), wait_decoding(bob, ["alice"]))
    # The stats overlay shows rates once a second: let it fill in before the picture.
    await until(alice, "/[1-9]\\d* kb\\/s/.test(document.querySelector('#grid .tile:not(.local) .stats').textContent)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await alice.screenshot(path=str(SCREENSHOTS / "demo-call.png"))
    assert await alice.locator("#grid .tile:not(.local) .name").inner_text() == "bob"


async def test_group_of_four_chromium_and_aiortc(open_page: Opener, server: Any) -> None:
    from hubbub.sdk import FrameCounterTrack, ToneTrack, connect, read_frame_counter

    channel = "c-group"
    robots = [await connect(server.url, server.token(name, channel)) for name in ("r1", "r2")]
    try:
        for i, robot in enumerate(robots):
            await robot.publish(ToneTrack(440 + 220 * i))
            await robot.publish(FrameCounterTrack(160, 120, 15))
        carol, dave = await open_page("carol", channel), await open_page("dave", channel)
        await asyncio.gather(
            wait_decoding(carol, ["dave", "r1", "r2"], audio=False),
            wait_decoding(dave, ["carol", "r1", "r2"], audio=False),
        )

        async def frames_from(robot: Any, identity: str, count: int) -> list[Any]:
            track = await robot.wait_for_track(identity, kind="video", timeout=15)
            return [await asyncio.wait_for(track.recv(), 10) for _ in range(count)]

        for me, other in ((robots[0], "r2"), (robots[1], "r1")):
            for browser_user in ("carol", "dave"):
                frames = await frames_from(me, browser_user, 3)
                assert all(f.width > 0 and f.height > 0 for f in frames)
            counters = [read_frame_counter(f) for f in await frames_from(me, other, 8)]
            seen = [c for c in counters if c is not None]
            assert len(seen) >= 4 and seen == sorted(seen) and seen[-1] > seen[0], counters
    finally:
        for robot in robots:
            await robot.disconnect()


async def test_mute_stops_and_unmute_resumes_video(open_page: Opener) -> None:
    alice = await open_page("alice", "c-mute")
    bob = await open_page("bob", "c-mute")
    await wait_decoding(bob, ["alice"], audio=False)

    await alice.click("#mute-cam")
    muted = "hubbubEvents.some(e => e.name === 'trackMuted' && e.identity === 'alice' && e.kind === 'video' && {})"
    await until(bob, muted.format("e.detail === true"))
    await asyncio.sleep(0.5)  # frames already in flight or in the jitter buffer
    before = await frames_decoded(bob, "alice")
    await asyncio.sleep(1.0)
    assert await frames_decoded(bob, "alice") == before, "video kept flowing while muted"

    await alice.click("#mute-cam")
    await until(bob, muted.format("e.detail === false"))
    deadline = time.monotonic() + 10
    while await frames_decoded(bob, "alice") <= before + 2:
        assert time.monotonic() < deadline, "video did not resume after unmute"
        await asyncio.sleep(0.1)


async def test_leave_and_rejoin(open_page: Opener) -> None:
    alice = await open_page("alice", "c-rejoin")
    bob = await open_page("bob", "c-rejoin")
    await wait_decoding(alice, ["bob"], audio=False)

    await bob.click("#leave")
    await until(alice, "hubbubEvents.some(e => e.name === 'participantLeft' && e.identity === 'bob')")
    await until(bob, "window.hubbubState === 'disconnected'")
    assert await alice.locator("#grid .tile:not(.local)").count() == 0

    bob_again = await open_page("bob", "c-rejoin")
    await asyncio.gather(wait_decoding(alice, ["bob"]), wait_decoding(bob_again, ["alice"]))


async def test_reconnect_resumes_with_new_peer_connections(open_page: Opener) -> None:
    alice = await open_page("alice", "c-resume")
    bob = await open_page("bob", "c-resume")
    await wait_decoding(alice, ["bob"], audio=False)
    sid_before = await bob.evaluate("hubbubRoom.localParticipant.sid")
    old_pcs = await bob.evaluate("window.oldPcs = [hubbubRoom._publisher, hubbubRoom._subscriber]; true")
    assert old_pcs
    await bob.evaluate("hubbubRoom._ws.close()")  # the network drops the signaling connection
    await until(bob, "hubbubEvents.some(e => e.name === 'reconnected' && e.detail === true)")
    assert await bob.evaluate("hubbubRoom.localParticipant.sid") == sid_before
    assert await bob.evaluate(
        "hubbubRoom._publisher !== oldPcs[0] && hubbubRoom._subscriber !== oldPcs[1] && !!hubbubRoom._subscriber"
    )
    before = await frames_decoded(alice, "bob")
    await asyncio.gather(wait_decoding(alice, ["bob"], audio=False), wait_decoding(bob, ["alice"], audio=False))
    assert await frames_decoded(alice, "bob") > before
    assert not [e for e in await events(alice) if e["name"] == "participantLeft"]


async def test_events_arrive_in_order(open_page: Opener) -> None:
    alice = await open_page("alice", "c-order")
    await open_page("bob", "c-order")
    await until(alice, "hubbubEvents.filter(e => e.name === 'trackSubscribed' && e.identity === 'bob').length === 2")
    seq = [e for e in await events(alice) if e.get("identity") == "bob"]
    names = [e["name"] for e in seq]
    assert names[0] == "participantJoined", names
    joined_sid = seq[0]["participantSid"]
    assert {e["kind"] for e in seq if e["name"] == "trackSubscribed" and e["participantSid"] == joined_sid} == {
        "audio",
        "video",
    }
    states = [e["detail"] for e in await events(alice) if e["name"] == "connectionStateChanged"]
    assert states[:2] == ["connecting", "connected"], states


async def test_token_for_another_channel_is_refused(open_page: Opener) -> None:
    # The token is for channel c-room-a; the page asks to join c-room-b.
    page = await open_page("mallory", "c-room-a", wait=None, channel="c-room-b")
    await until(page, "window.hubbubError !== null && window.hubbubState === 'error'")
    error = await page.evaluate("window.hubbubError")
    assert error == {"name": "JoinError", "code": "token_channel_mismatch", "message": error["message"]}
    assert "token_channel_mismatch" in await page.locator("#error").inner_text()


async def test_audience_token_cannot_publish(open_page: Opener, server: Any) -> None:
    token = server.token("viewer", "c-audience", role="audience")
    page = await open_page("viewer", "c-audience", token=token)
    # the page joins to watch (tests/e2e/test_demos_chromium.py); the SDK refuses to publish, typed:
    assert await page.evaluate("window.hubbubError") is None
    assert await page.evaluate("window.hubbubRoom.state") == "connected"
    caught = await page.evaluate("""async () => {
      const track = (await navigator.mediaDevices.getUserMedia({audio: true})).getAudioTracks()[0];
      try { await hubbubRoom.publishTrack(track); return null; }
      catch (err) { return [err instanceof Hubbub.PermissionDeniedError, err instanceof Hubbub.HubbubError, err.code]; }
    }""")
    assert caught == [True, True, "permission_denied"]


async def test_call_setup_time(open_page: Opener, record_property: Callable[[str, object], None]) -> None:
    await open_page("host", "c-setup")
    guest = await open_page("guest", "c-setup", wait="firstFrame")
    timings = await guest.evaluate("window.hubbubTimings")
    assert timings["setupMs"] > 0
    # The element can present the first frame before getStats (cached by the browser for a moment) counts it.
    deadline = time.monotonic() + 5.0
    while await frames_decoded(guest, "host") == 0:
        assert time.monotonic() < deadline, "a frame was rendered but getStats never counted one decoded"
        await asyncio.sleep(0.05)
    setup_ms = round(timings["setupMs"], 1)
    start = timings["connectStart"]
    joined_ms = round(timings["joined"] - start, 1)
    log = await events(guest)
    subscribed = [e["t"] for e in log if e["name"] == "trackSubscribed" and e["kind"] == "video"]
    subscribed_ms = round(subscribed[0] - start, 1)
    via = next(e["via"] for e in log if e["name"] == "firstFrame")
    assert via in ("rendered", "getStats")
    print(
        f"\ncall setup (connect() to the first remote video frame, {via}, getUserMedia excluded): {setup_ms} ms"
        f" (joined at {joined_ms} ms, remote video track at {subscribed_ms} ms)"
    )
    record_property("call_setup_ms", setup_ms)
    record_property("call_setup_joined_ms", joined_ms)


def _can_block_udp() -> bool:
    import shutil
    import subprocess

    if os.geteuid() != 0 or shutil.which("nft") is None:
        return False
    return subprocess.run(["nft", "list", "tables"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_block_udp(), reason="needs root and nftables to block UDP")
async def test_call_falls_back_to_ice_tcp_when_udp_is_blocked(open_page: Opener, server: Any) -> None:
    """A network that drops UDP to the media port: Chromium reaches the SFU over ICE-TCP (RFC 6544)."""
    import subprocess

    udp_port = server.platform.transport.udp_address[1]
    table = f"hubbub_no_udp_{os.getpid()}"
    rules = (
        f"table inet {table} {{\n  chain out {{\n    type filter hook output priority 0;\n"
        f"    udp dport {udp_port} drop\n  }}\n}}\n"
    )
    subprocess.run(["nft", "-f", "-"], input=rules.encode(), check=True)
    try:
        alice = await open_page("alice", "c-tcp")
        bob = await open_page("bob", "c-tcp")
        await asyncio.gather(wait_decoding(alice, ["bob"]), wait_decoding(bob, ["alice"]))
        room = server.platform.rooms.room(server.app_id, "c-tcp")
        assert room is not None
        media = server.platform.rooms.media_of(room)
        peers = [peer for p in room.participants.values() for peer in media.participant(p).peers()]
        assert peers and all(peer.over_tcp for peer in peers), "some peer connected without ICE-TCP"
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], check=False)


async def test_chat_panel_beside_the_call(open_page: Opener) -> None:
    """The call page's chat panel: what one participant types, the other reads (messaging)."""
    alice = await open_page("alice", "c-chat")
    bob = await open_page("bob", "c-chat")
    for page in (alice, bob):
        await until(page, "window.hubbubEvents.some(e => e.name === 'chatReady')")
    await alice.fill("#chat input[name=text]", "hello from alice")
    await alice.press("#chat input[name=text]", "Enter")
    await until(bob, "document.querySelector('#chat .hubbub-chat-log').textContent.includes('hello from alice')")
    assert "alice" in await bob.locator("#chat .hubbub-chat-log").inner_text()
