"""The scenario demos in Chromium: the index and its quick-token form, the voice room (three
contexts: the speaking indicator lights on the one with audio), the live page (host and audience
views), and what a user sees when something goes wrong (denied or missing microphone, an expired
token, an unreachable server). Every demo is saved to artifacts/screenshots/.

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
