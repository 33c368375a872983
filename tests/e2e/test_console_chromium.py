"""The console in Chromium, end to end: sign up, create a project, generate tokens, two browser
contexts join the 1v1 demo and decode each other's video, the console lists both in the live
channel, mutes a track, kicks one (the reason reaches the kicked page) and ends the channel; then
usage (Chart.js) and the docs page. Every console page is saved to artifacts/screenshots/.

One headless Chromium and one live server per module (the fixtures of test_call_chromium.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PRESET = "voice"  # small pictures: two participants' codecs stay within two cores
EMAIL, PASSWORD = "dev@example.com", "a long passphrase"
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(live_module: Any) -> Any:
    """The module's live server and browser come from tests/e2e/conftest.py."""
    return live_module


async def shot(page: Any, name: str) -> None:
    """A PNG of the page in artifacts/screenshots (and a small JPEG beside it, for the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.jpg"), type="jpeg", quality=70)


async def until(page: Any, expression: str, timeout: float = 15.0) -> Any:
    try:
        return await page.wait_for_function(expression, polling=50, timeout=timeout * 1000)
    except Exception as exc:
        state = await page.evaluate(
            "({state: window.hubbubState, error: window.hubbubError, text: document.body.innerText.slice(0, 600)})"
        )
        raise AssertionError(f"timed out waiting for {expression!r}; page: {state}") from exc


FRAMES_FROM = """async (identity) => {
  const room = window.hubbubRoom;
  if (!room) return 0;
  const sids = [...room.participants.values()].filter(p => p.identity === identity).map(p => p.sid);
  const stats = (await room.getStats()).tracks;
  return stats.filter(t => t.direction === 'inbound' && t.kind === 'video' && sids.includes(t.participantSid))
              .reduce((n, t) => n + (t.framesDecoded || 0), 0);
}"""


async def wait_frames(page: Any, identity: str, timeout: float = 20.0) -> int:
    """Poll getStats until this page has decoded video frames from ``identity``."""
    deadline = time.monotonic() + timeout
    while True:
        frames = int(await page.evaluate(FRAMES_FROM, identity))
        if frames > 0:
            return frames
        assert time.monotonic() < deadline, f"no video decoded from {identity}"
        await asyncio.sleep(0.1)


async def test_console_sign_up_to_kick(browser: Any, server: Any) -> None:
    console_ctx = await browser.new_context(viewport={"width": 1200, "height": 800})
    call_contexts: list[Any] = []
    try:
        page = await console_ctx.new_page()
        page.on("pageerror", lambda exc: print(f"[console] page error: {exc}"))
        await page.goto(f"{server.url}/console/")

        # --- sign up (a wrong password on sign-in first: the problem's detail is shown) -------------
        await page.wait_for_selector("#signin-form")
        await page.fill("#signin-form [name=email]", EMAIL)
        await page.fill("#signin-form [name=password]", PASSWORD)
        await page.click("#signin-form button[type=submit]")
        await page.wait_for_selector(".notice.error")
        assert "password" in (await page.inner_text(".notice.error")).lower()
        await shot(page, "console-signin")
        await page.click("a[href='#/signup']")
        await page.wait_for_selector("#signup-form")
        await shot(page, "console-signup")
        await page.fill("#signup-form [name=email]", EMAIL)
        await page.fill("#signup-form [name=password]", PASSWORD)
        await page.click("#signup-form button[type=submit]")
        await page.wait_for_selector("#project-list .empty")
        assert "No projects yet" in await page.inner_text("#project-list")
        await shot(page, "console-projects-empty")

        # --- a project: the certificate is shown once, with a warning and a copy button --------------
        await page.fill("#create-project [name=name]", "My video app")
        await page.click("#create-project button[type=submit]")
        await page.wait_for_selector("#certificate-box .secret-value")
        certificate = await page.inner_text("#certificate-box .secret-value")
        assert len(certificate) == 32
        assert "only time" in await page.inner_text("#certificate-box")
        app_id = await page.get_attribute("#project-list tr[data-app-id]", "data-app-id")
        assert app_id
        await shot(page, "console-projects")
        await page.click("#certificate-box .dismiss")
        assert await page.locator("#certificate-box").count() == 0

        # --- project detail: API key, testing mode, certificate rotation ----------------------------
        await page.click("#project-list a.project-link")
        await page.wait_for_selector("#app-id")
        assert await page.inner_text("#app-id") == app_id
        await page.fill("#create-key [name=name]", "backend")
        await page.click("#create-key button[type=submit]")
        await page.wait_for_selector("#api-key-box .secret-value")
        assert (await page.inner_text("#api-key-box .secret-value")).count(".") == 1
        await page.check("#testing-mode")
        await page.wait_for_selector("#mode .badge.insecure")
        await page.uncheck("#testing-mode")
        await page.wait_for_selector("#mode .badge.ok")
        await page.click("#rotate")
        await page.wait_for_selector("#certificate-box .secret-value")
        rotated = await page.inner_text("#certificate-box .secret-value")
        assert rotated != certificate and len(rotated) == 32
        await shot(page, "console-project")

        # --- the token generator ------------------------------------------------------------------------
        await page.click("[data-tab=tokens]")
        await page.wait_for_selector("#token-form")
        tokens = {}
        for user in ("alice", "bob"):
            await page.fill("#token-form [name=user_id]", user)
            await page.fill("#token-form [name=channel]", "console-1v1")
            await page.click("#token-form button[type=submit]")
            await page.wait_for_function(
                f"document.querySelector('#token-result h2')?.textContent === 'Token for {user}'", polling=50
            )
            tokens[user] = await page.input_value("#token-value")
        assert tokens["alice"] != tokens["bob"]
        await shot(page, "console-tokens")
        # a bad input shows the problem's detail
        await page.fill("#token-form [name=channel]", "no/slashes")
        await page.click("#token-form button[type=submit]")
        await page.wait_for_selector("#token-result .notice.error")
        assert "channel" in (await page.inner_text("#token-result .notice.error")).lower()

        # --- two contexts join the 1v1 demo with those tokens and decode each other ---------------------
        calls = {}
        for user in ("alice", "bob"):
            ctx = await browser.new_context(viewport={"width": 960, "height": 600})
            call_contexts.append(ctx)
            call = await ctx.new_page()
            call.on("pageerror", lambda exc, u=user: print(f"[{u}] page error: {exc}"))
            await call.goto(f"{server.url}/demo/call.html?" + urlencode({"token": tokens[user], "preset": PRESET}))
            await until(call, "window.hubbubEvents && window.hubbubEvents.some(e => e.name === 'ready')")
            calls[user] = call
        alice, bob = calls["alice"], calls["bob"]
        await asyncio.gather(wait_frames(alice, "bob"), wait_frames(bob, "alice"))
        await until(
            alice, "/[1-9]\\d* kb\\/s/.test(document.querySelector('#grid .tile:not(.local) .stats').textContent)"
        )
        await shot(alice, "demo-call-1v1")

        # --- the console lists both in the live channel ---------------------------------------------
        await page.click("[data-tab=channels]")
        card = ".channel[data-channel='console-1v1']"
        await page.wait_for_selector(f"{card} tr[data-identity=alice] .chip[data-kind=video]", timeout=10_000)
        await page.wait_for_selector(f"{card} tr[data-identity=bob] .chip[data-kind=video]", timeout=10_000)
        await shot(page, "console-channels")

        # --- a server-side mute reaches the other participant -----------------------------------------
        await page.click(f"{card} tr[data-identity=alice] .chip[data-kind=video] button.mute")
        await until(
            bob,
            "hubbubEvents.some(e => e.name === 'trackMuted' && e.identity === 'alice' && e.kind === 'video'"
            " && e.detail)",
        )
        await page.wait_for_selector(f"{card} tr[data-identity=alice] .chip.muted-track[data-kind=video]")

        # --- a kick reaches the kicked page with its reason -------------------------------------------
        reason = "Kicked from the console test: see you later"
        await page.fill("#kick-reason", reason)
        kick = page.locator(f"{card} tr[data-identity=bob] button.danger")
        await kick.click()
        await kick.click()  # "Kick now?"
        await until(bob, "window.hubbubError && window.hubbubError.code === 'kicked'")
        assert reason in await bob.inner_text("#error")
        await until(bob, "window.hubbubState === 'disconnected'")
        await shot(bob, "demo-call-kicked")
        await until(
            alice,
            "hubbubEvents.some(e => e.name === 'participantLeft' && e.identity === 'bob' && e.detail === 'kicked')",
        )
        await page.wait_for_function(
            f'!document.querySelector("{card} tr[data-identity=bob]")', polling=100, timeout=10_000
        )

        # --- ending the channel removes everyone -------------------------------------------------------
        end = page.locator(f"{card} .spread button.danger")
        await end.click()
        await end.click()
        await until(alice, "window.hubbubError && window.hubbubError.code === 'room_closed'")
        await page.wait_for_selector("#channel-list .empty", timeout=10_000)
        assert "No live channels" in await page.inner_text("#channel-list")
        await shot(page, "console-channels-empty")

        # --- usage: stacked bars from Chart.js ---------------------------------------------------------
        svc = server.platform.services
        project_id = await svc.projects.project_id_of(app_id)
        assert project_id is not None
        now = svc.clock()
        for days_ago, audio, video in ((6, 12.0, 30.0), (4, 45.5, 8.0), (2, 20.0, 64.0), (0, 5.0, 18.5)):
            at = now - days_ago * 86_400
            await svc.usage.record(project_id, at=at, audio_minutes=audio, video_minutes=video)
        await page.click("[data-tab=usage]")
        await until(page, "window.hubbubUsageChart && window.hubbubUsageChart.data.datasets.length === 2")
        datasets = await page.evaluate(
            "hubbubUsageChart.data.datasets.map(d => [d.label, d.data.reduce((a, b) => a + b, 0)])"
        )
        assert datasets == [["Audio", 82.5], ["Video", 120.5]]
        assert await page.evaluate(
            "hubbubUsageChart.options.scales.x.stacked && hubbubUsageChart.options.scales.y.stacked"
        )
        today = dt.datetime.now(dt.UTC).date().isoformat()[5:]
        assert today in await page.evaluate("hubbubUsageChart.data.labels")
        await shot(page, "console-usage")

        # --- docs, and a small screen -------------------------------------------------------------------
        await page.goto(f"{server.url}/console/#/docs")
        await page.wait_for_selector("a[href='/docs']")
        await shot(page, "console-docs")
        await page.set_viewport_size({"width": 390, "height": 800})
        await page.goto(f"{server.url}/console/#/projects")
        await page.wait_for_selector("#project-list tr[data-app-id]")
        overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the projects page scrolls sideways on a phone by {overflow}px"
        await shot(page, "console-projects-phone")
    finally:
        for ctx in call_contexts:
            with contextlib.suppress(Exception):
                await ctx.close()
        await console_ctx.close()
