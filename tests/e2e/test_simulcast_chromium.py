"""Chromium simulcast through the SFU: a `group` publisher sends rid layers (RFC 8853), each
subscriber gets the one it asks for, and a switch up reaches the top layer without a freeze.

One headless Chromium (the module's), one live server, the demo call page for every participant
(the publisher with the `group` preset: 640x360 at the top and 320x180 below, the two layers
libwebrtc encodes at that size; the subscribers publish nothing, to keep two cores for the
encoders). Waits poll getStats.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

# preset -> (its top layer's width, its rids lowest first)
PRESETS = {"group": (640, ["h", "f"]), "live-host": (1280, ["q", "h", "f"])}

VIDEO_IN = """async () => {
  const room = window.hubbubRoom;
  if (!room) return null;
  const report = await room._subscriber?.getStats();
  if (!report) return null;
  for (const s of report.values()) {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      return {width: s.frameWidth || 0, decoded: s.framesDecoded || 0, freezes: s.freezeCount || 0,
              frozen: s.totalFreezesDuration || 0};
    }
  }
  return null;
}"""

VIDEO_TRACK = """() => {
  for (const p of window.hubbubRoom.participants.values())
    for (const t of p.tracks.values()) if (t.kind === 'video') return t.trackSid;
  return null;
}"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(live_module: Any) -> Any:
    return live_module


async def open_call(browser: Any, server: Any, room: str, user: str, **query: str) -> Any:
    ctx = await browser.new_context(viewport={"width": 960, "height": 600})
    page = await ctx.new_page()
    page.on("pageerror", lambda exc: print(f"[{user}] page error: {exc}"))
    await page.goto(f"{server.url}/demo/call.html?" + urlencode({"token": server.token(user, room), **query}))
    await page.wait_for_function(
        "window.hubbubEvents && window.hubbubEvents.some(e => e.name === 'ready')", polling=50, timeout=15_000
    )
    return page


async def video_in(page: Any) -> dict[str, float]:
    got = await page.evaluate(VIDEO_IN)
    return got or {"width": 0, "decoded": 0, "freezes": 0, "frozen": 0.0}


async def wait_width(page: Any, ok: Any, timeout: float) -> tuple[float, dict[str, float]]:
    """Seconds until the received video's width satisfies ``ok`` while frames keep decoding."""
    start = time.monotonic()
    last = await video_in(page)
    while True:
        await asyncio.sleep(0.1)
        now = await video_in(page)
        if ok(now["width"]) and now["decoded"] > last["decoded"]:
            return time.monotonic() - start, now
        last = now
        if time.monotonic() - start > timeout:
            raise AssertionError(f"the video never reached the wanted width: {now}")


@pytest.mark.parametrize("preset", sorted(PRESETS))
async def test_each_subscriber_gets_the_layer_it_asks_for_and_switches_up_without_a_freeze(
    browser: Any, server: Any, preset: str
) -> None:
    top, rids = PRESETS[preset]
    room_name = f"c-simulcast-{preset}"
    pub = await open_call(browser, server, room_name, "pub", preset=preset)
    low = await open_call(browser, server, room_name, "low", preset="voice", publish="0")
    high = await open_call(browser, server, room_name, "high", preset="voice", publish="0")
    await asyncio.gather(wait_width(low, lambda w: w > 0, 20), wait_width(high, lambda w: w > 0, 20))

    track_sid = await low.evaluate(VIDEO_TRACK)
    room = server.platform.rooms.room(server.app_id, room_name)
    router = server.platform.rooms.media_of(room).router
    up = router.up_track(track_sid)
    assert up is not None and up.simulcast and [layer.rid for layer in up.layers] == rids
    await low.evaluate("sid => window.hubbubRoom.setVideoQuality(sid, 'low')", track_sid)
    took_low, at_low = await wait_width(low, lambda w: 0 < w <= top // 2, 15)
    layers = [(i.rid, i.active, i.width, i.height, i.bitrates) for i in up.layer_infos(router_now(server))]
    print(f"layers: {layers}; low after {took_low:.1f} s at {at_low}")
    _, at_high = await wait_width(high, lambda w: w == top, 15)
    print(f"high at {at_high}")
    assert at_low["width"] in (top // 4, top // 2)

    before = await video_in(low)
    await low.evaluate("sid => window.hubbubRoom.setVideoQuality(sid, 'high')", track_sid)
    took, after = await wait_width(low, lambda w: w == top, 5)
    await asyncio.sleep(1.0)
    settled = await video_in(low)
    print(f"switch up: {took:.2f} s; before {before}, at the top {after}, 1 s later {settled}")
    assert settled["decoded"] > after["decoded"]  # still decoding on the top layer
    assert settled["frozen"] - before["frozen"] < 0.5  # no freeze across the switch (seconds)

    # Temporal layer 0 only (what an allocator does first): a quarter of the frames, still decoded.
    low_sid = next(p.sid for p in room.participants.values() if p.identity == "low")
    assert router.set_target_layer(track_sid, low_sid, len(rids) - 1, 0, now=router_now(server))
    await asyncio.sleep(1.0)
    start = await video_in(low)
    await asyncio.sleep(2.0)
    capped = await video_in(low)
    router.set_target_layer(track_sid, low_sid, len(rids) - 1, 3, now=router_now(server))
    await asyncio.sleep(1.0)
    start_full = await video_in(low)
    await asyncio.sleep(2.0)
    full = await video_in(low)
    fps_capped = (capped["decoded"] - start["decoded"]) / 2
    fps_full = (full["decoded"] - start_full["decoded"]) / 2
    print(f"temporal cap 0: {fps_capped:.1f} frames/s decoded, then all layers: {fps_full:.1f} ({full})")
    assert 0 < fps_capped < fps_full * 0.6 and full["width"] == top
    for page in (pub, low, high):
        await page.context.close()


def router_now(server: Any) -> float:
    return float(server.platform.transport.now())


async def test_an_aiortc_subscriber_asks_for_the_lower_layer(browser: Any, server: Any) -> None:
    """The Python SDK's Room.set_video_quality: what aiortc decodes goes from the top layer to
    the one below it (the `group` preset's two)."""
    from av import VideoFrame

    from hubbub.sdk import connect

    room_name = "c-simulcast-sdk"
    pub = await open_call(browser, server, room_name, "pub", preset="group")
    sdk = await connect(server.url, server.token("py", room_name))
    try:
        track = await sdk.wait_for_track("pub", kind="video", timeout=15)

        async def width_reaches(width: int, timeout: float) -> float:
            start = time.monotonic()
            while time.monotonic() - start < timeout:
                frame = await asyncio.wait_for(track.recv(), 5)
                if isinstance(frame, VideoFrame) and frame.width == width:
                    return time.monotonic() - start
            raise AssertionError(f"aiortc never decoded a {width}-wide picture")

        await width_reaches(640, 15)
        room = server.platform.rooms.room(server.app_id, room_name)
        owner = next(p for p in room.participants.values() if p.identity == "pub")
        video_sid = next(sid for sid, p in owner.publications.items() if p.kind == "video")
        await sdk.set_video_quality(video_sid, "low")
        took = await width_reaches(320, 5)
        print(f"aiortc subscriber on the lower layer {took:.2f} s after asking")
    finally:
        await sdk.disconnect()
        await pub.context.close()
