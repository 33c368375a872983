"""The scenario demos in Chromium: the index and its quick-token form, the voice room (three
contexts: the speaking indicator lights on the one with audio), the live page (host and audience
views), the call page with an audience token and under a moderator's mute, every page on a desktop
and on a phone (no sideways scrolling, no console error), and what a user sees when something goes
wrong (denied or missing microphone, an expired token, an unreachable server). Every demo is saved
to artifacts/screenshots/.

One headless Chromium and one live server per module (the fixtures of test_call_chromium.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio

from hubbub.control.context import UserPrincipal
from hubbub.control.tokens import verify_token

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(live_module: Any) -> Any:
    """The module's live server and browser come from tests/e2e/conftest.py."""
    return live_module


Opener = Callable[..., Awaitable[Any]]


@pytest_asyncio.fixture(loop_scope="module")
async def open_page(browser: Any, server: Any) -> AsyncIterator[Opener]:
    """``await open_page(path, wait='ready', init_script=None, **query)``: a page in a new context."""
    contexts: list[Any] = []

    async def open_(path: str, *, wait: str | None = "ready", init_script: str | None = None, **query: str) -> Any:
        ctx = await browser.new_context(viewport={"width": 960, "height": 600})
        contexts.append(ctx)
        if init_script:
            await ctx.add_init_script(init_script)
        page = await ctx.new_page()
        page.on("pageerror", lambda exc: print(f"[{path}] page error: {exc}"))
        await page.goto(f"{server.url}/demo/{path}" + (f"?{urlencode(query)}" if query else ""))
        if wait is not None:
            await until(page, f"window.hubbubEvents && window.hubbubEvents.some(e => e.name === '{wait}')")
        return page

    yield open_
    for ctx in contexts:
        with contextlib.suppress(Exception):
            await ctx.close()


async def until(page: Any, expression: str, timeout: float = 15.0) -> Any:
    try:
        return await page.wait_for_function(expression, polling=50, timeout=timeout * 1000)
    except Exception as exc:
        state = await page.evaluate(
            "({state: window.hubbubState, error: window.hubbubError, events: (window.hubbubEvents || []).slice(-12)})"
        )
        raise AssertionError(f"timed out waiting for {expression!r}; page: {state}") from exc


async def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


FRAMES_FROM = """async (identity) => {
  const room = window.hubbubRoom;
  const sids = [...room.participants.values()].filter(p => p.identity === identity).map(p => p.sid);
  return (await room.getStats()).tracks
    .filter(t => t.direction === 'inbound' && t.kind === 'video' && sids.includes(t.participantSid))
    .reduce((n, t) => n + (t.framesDecoded || 0), 0);
}"""


def _getusermedia_fails(name: str) -> str:
    """An init script: getUserMedia rejects as the browser does when the user refuses, or finds nothing."""
    return (
        "navigator.mediaDevices.getUserMedia = () => "
        f"Promise.reject(new DOMException('simulated by the test', '{name}'));"
    )


# --- tests ----------------------------------------------------------------------------------------


async def test_index_explains_scenarios_and_mints_quick_tokens(open_page: Opener, server: Any) -> None:
    page = await open_page("", wait=None)
    await page.wait_for_selector("#quick")
    text = await page.inner_text("main")
    for scenario in ("1v1 video call", "Group video call", "Voice chat room", "Live show", "Talk to an agent"):
        assert scenario in text
    assert "never put your App Certificate in a web page in production" in text
    # a certificate that is too short is explained, not signed
    await page.fill("#quick [name=app_id]", server.app_id)
    await page.fill("#quick [name=certificate]", "short")
    await page.click("#quick button[type=submit]")
    await page.wait_for_function("document.getElementById('quick-error').textContent.length > 0")
    await page.fill("#quick [name=certificate]", server.certificate)
    await page.click("#quick button[type=submit]")
    await page.wait_for_selector("#links .row[data-user=bob] a[data-page='voice.html']")
    await shot(page, "demo-index")
    href = await page.get_attribute("#links .row[data-user=alice] a[data-page='voice.html']", "href")
    assert href is not None
    token = href.split("token=", 1)[1]
    from urllib.parse import unquote

    keys = await server.platform.services.projects.app_keys(server.app_id)
    verified = verify_token(unquote(token), lookup=lambda _a: keys, now=time.time(), channel="demo")
    assert (verified.user_id, verified.channel, verified.role.value) == ("alice", "demo", "host")
    # the minted link works: the voice room joins with it
    voice = await open_page(href.split("?", 1)[0], token=unquote(token))
    assert await voice.evaluate("hubbubRoom.localParticipant.identity") == "alice"


async def test_voice_room_lights_up_the_speaker(open_page: Opener, server: Any) -> None:
    channel = "v-room"
    speaker = await open_page("voice.html", token=server.token("sam", channel))
    listeners = [
        await open_page("voice.html", token=server.token(name, channel), publish="0") for name in ("lee", "kai")
    ]
    pages = [speaker, *listeners]
    for page in pages:  # everyone sees three taken seats
        await until(page, "document.querySelectorAll('.seat[data-identity]').length === 3")
        await until(page, "document.querySelector(\".seat[data-identity='sam']\").classList.contains('speaking')")
    for page in pages:
        spoke = await page.evaluate("window.hubbubSpoke")
        assert set(spoke) == {"sam"}, spoke  # the listeners never light up
        assert (
            await page.locator(".seat.speaking[data-identity='lee'], .seat.speaking[data-identity='kai']").count() == 0
        )
    await until(listeners[0], "document.getElementById('quality-label').textContent.length > 0", timeout=10)
    await until(listeners[0], "/down [1-9]\\d* kb\\/s/.test(document.getElementById('overlay').textContent)")
    await shot(listeners[0], "demo-voice")

    # the speaker mutes: the others see the muted badge
    await speaker.click("#mute-mic")
    await until(listeners[1], "document.querySelector(\".seat[data-identity='sam']\").classList.contains('mic-muted')")


async def test_live_host_and_audience(open_page: Opener, server: Any) -> None:
    channel = "l-show"
    host = await open_page("live.html", token=server.token("star", channel), preset="voice")
    assert await host.evaluate("window.hubbubView") == "host"
    viewer = await open_page("live.html", token=server.token("fan", channel, role="audience"))
    assert await viewer.evaluate("window.hubbubView") == "audience"
    deadline = time.monotonic() + 20
    while await viewer.evaluate(FRAMES_FROM, "star") == 0:
        assert time.monotonic() < deadline, "the audience never decoded the host's video"
        await asyncio.sleep(0.1)
    assert await viewer.inner_text("#host-name") == "star"
    assert await viewer.evaluate("hubbubRoom.localParticipant.publications.size") == 0
    assert not await viewer.is_visible("#mute-cam")  # nothing to publish in the audience view
    await until(host, "document.getElementById('viewers').textContent === '1'")
    await until(viewer, "/[1-9]\\d* kb\\/s/.test(document.getElementById('stage-stats').textContent)")
    await shot(host, "demo-live-host")
    await shot(viewer, "demo-live-audience")

    # the host leaves: the audience is told, the stage empties
    await host.click("#leave")
    await until(viewer, "!document.getElementById('stage').classList.contains('on-air')")
    assert "host has left" in await viewer.inner_text("#placeholder")


@pytest.mark.parametrize(
    ("dom_error", "code", "words"),
    [("NotAllowedError", "device_denied", "refused"), ("NotFoundError", "device_not_found", "No microphone")],
)
async def test_voice_room_without_a_microphone_still_listens(
    open_page: Opener, server: Any, dom_error: str, code: str, words: str
) -> None:
    page = await open_page(
        "voice.html", token=server.token("mic-less", "v-nomic"), init_script=_getusermedia_fails(dom_error)
    )
    error = await page.evaluate("window.hubbubError")
    assert (error["name"], error["code"]) == ("DeviceError", code)
    assert words in await page.inner_text("#error")
    assert await page.evaluate("hubbubRoom.state") == "connected"  # joined anyway, to listen
    assert await page.is_disabled("#mute-mic")
    if code == "device_denied":
        await shot(page, "demo-voice-mic-denied")


async def test_live_host_without_a_camera_is_told_why(open_page: Opener, server: Any) -> None:
    page = await open_page(
        "live.html", token=server.token("camless", "l-nocam"), init_script=_getusermedia_fails("NotFoundError")
    )
    error = await page.evaluate("window.hubbubError")
    assert error["code"] == "device_not_found"
    assert "not live" in await page.inner_text("#placeholder")


async def test_expired_token_and_unreachable_server_do_not_hang(open_page: Opener, server: Any) -> None:
    expired = server.token("late", "v-expired", now=int(time.time()) - 7200, expires_in=60)
    page = await open_page("voice.html", wait=None, token=expired)
    await until(page, "window.hubbubState === 'error'")
    error = await page.evaluate("window.hubbubError")
    assert (error["name"], error["code"]) == ("JoinError", "token_expired")
    assert "get a new one" in await page.inner_text("#error")
    await shot(page, "demo-voice-expired-token")

    started = time.monotonic()
    page = await open_page("live.html", wait=None, token=server.token("lost", "l-x"), server="http://127.0.0.1:9")
    await until(page, "window.hubbubState === 'error'", timeout=12)
    error = await page.evaluate("window.hubbubError")
    assert (error["name"], error["code"]) == ("ConnectionError", "server_unreachable")
    assert "did not answer" in await page.inner_text("#error")
    assert time.monotonic() - started < 12


# --- the call page: watching with an audience token, a moderator's mute ---------------------------

COUNT_GETUSERMEDIA = """
window.getUserMediaCalls = 0;
const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = (c) => { window.getUserMediaCalls++; return real(c); };
"""


async def test_call_page_with_an_audience_token_watches_without_a_camera(open_page: Opener, server: Any) -> None:
    from hubbub.sdk import FrameCounterTrack, ToneTrack, connect

    channel = "c-watch"
    host = await connect(server.url, server.token("presenter", channel))
    try:
        await host.publish(FrameCounterTrack(320, 180, 15))
        await host.publish(ToneTrack(440))
        token = server.token("viewer", channel, role="audience")
        page = await open_page("call.html", token=token, preset="voice", init_script=COUNT_GETUSERMEDIA)
        deadline = time.monotonic() + 20
        while await page.evaluate(FRAMES_FROM, "presenter") == 0:
            assert time.monotonic() < deadline, "the audience never decoded the host's video"
            await asyncio.sleep(0.1)
        assert await page.evaluate("window.getUserMediaCalls") == 0
        assert await page.evaluate("window.hubbubError") is None
        assert not await page.is_visible("#error")
        assert await page.locator("#grid .tile.local").count() == 0
        assert await page.locator("#grid .tile").count() == 1
        assert await page.inner_text("#grid .tile .name") == "presenter"
        stats = await page.evaluate("hubbubRoom.getStats()")
        assert not [t for t in stats["tracks"] if t["direction"] == "outbound"]
        assert await page.evaluate("hubbubRoom.localParticipant.publications.size") == 0
        assert not await page.is_visible("#mute-cam") and not await page.is_visible("#mute-mic")
        assert "watching" in await page.inner_text("#role-badge")
        await shot(page, "demo-call-audience")
    finally:
        await host.disconnect()


async def test_call_page_shows_a_moderators_mute_on_the_own_tile(open_page: Opener, server: Any) -> None:
    import httpx

    channel = "c-hostmute"
    _, api_key = await server.platform.services.api_keys.create(
        UserPrincipal(server.owner_id), server.app_id, "moderator"
    )
    page = await open_page("call.html", token=server.token("guest", channel), preset="voice")
    sids = await page.evaluate(
        "Object.fromEntries([...hubbubRoom.localParticipant.publications.values()].map(p => [p.kind, p.trackSid]))"
    )
    base = f"/api/v1/projects/{server.app_id}/channels/{channel}/tracks"
    own_tile = "#grid .tile.local"
    own_text = f"document.querySelector('{own_tile}').textContent"
    async with httpx.AsyncClient(base_url=server.url, headers={"authorization": f"Bearer {api_key}"}) as rest:
        r = await rest.post(f"{base}/{sids['video']}/mute", json={"muted": True})
        assert r.status_code == 200, r.text
        await until(page, f"{own_text}.includes('Camera muted by the host')")
        assert await page.inner_text("#mute-cam") == "Start camera"
        assert await page.evaluate("(sid) => hubbubRoom.localParticipant.publications.get(sid).muted", sids["video"])
        assert (await rest.post(f"{base}/{sids['audio']}/mute", json={"muted": True})).status_code == 200
        await until(page, f"{own_text}.includes('Mic and camera muted by the host')")
        assert await page.inner_text("#mute-mic") == "Unmute mic"
        await shot(page, "demo-call-muted-by-host")

        # the participant unmutes the camera itself; the moderator unmutes the microphone
        await page.click("#mute-cam")
        await until(page, f"!{own_text}.includes('amera muted by the host')")
        assert await page.inner_text("#mute-cam") == "Stop camera"
        assert "Mic muted by the host" in await page.inner_text(own_tile)
        assert (await rest.post(f"{base}/{sids['audio']}/mute", json={"muted": False})).status_code == 200
        await until(page, f"!{own_text}.includes('muted by the host')")
        assert await page.inner_text("#mute-mic") == "Mute mic"
    room = server.platform.rooms.room(server.app_id, channel)
    assert room is not None
    [guest] = [p for p in room.participants.values() if p.identity == "guest"]
    assert not any(pub.muted for pub in guest.publications.values())


# --- every page on a desktop and on a phone -----------------------------------------------------

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.mark.parametrize("size", list(SIZES))
async def test_every_demo_page_fits_the_screen_without_errors(
    browser: Any, server: Any, screenshots: Path, size: str
) -> None:
    width, height = SIZES[size]
    ctx = await browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    problems: list[str] = []
    try:
        pages: dict[str, str] = {
            "index": "",
            "call-join": "call.html",
            "call": "call.html?" + urlencode({"token": server.token(f"ann-{size}", f"fit-{size}"), "preset": "voice"}),
            "voice": "voice.html?" + urlencode({"token": server.token(f"bea-{size}", f"fitv-{size}")}),
            "live": "live.html?" + urlencode({"token": server.token(f"cy-{size}", f"fitl-{size}"), "preset": "voice"}),
            "agent": "agent.html?"
            + urlencode({"token": server.token(f"dee-{size}", f"fita-{size}"), "app": server.app_id}),
        }
        for name, path in pages.items():
            page = await ctx.new_page()
            page.on("console", lambda msg, n=name: problems.append(f"{n}: {msg.text}") if msg.type == "error" else None)
            page.on("pageerror", lambda exc, n=name: problems.append(f"{n}: {exc}"))
            await page.goto(f"{server.url}/demo/{path}")
            if "token=" in path and name != "agent":
                await until(page, "window.hubbubEvents && window.hubbubEvents.some(e => e.name === 'ready')")
                # the stats line fills the header after a second: it must fit too
                await until(page, "document.getElementById('overlay').textContent.length > 0")
            if name == "call":
                await until(page, "window.hubbubEvents.some(e => e.name === 'chatReady')")
            await page.wait_for_load_state("networkidle")
            scroll, inner = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            await page.screenshot(path=str(screenshots / f"demo-{name}-{width}x{height}.png"), full_page=True)
            assert scroll <= inner, f"{name} at {width}x{height} scrolls sideways: {scroll} > {inner}"
            await page.close()
    finally:
        await ctx.close()
    assert not problems, problems
