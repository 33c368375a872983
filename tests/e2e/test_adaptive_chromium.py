"""Adaptive stream and dynacast with Chromium on both sides: a `group` simulcast publisher (320x180
`h` and 640x360 `f`) and a subscriber that shows the video with ``publication.attach(element)``.

The element shrunk to 160x90 gets the lower layer; hidden, nothing (``stream_state`` paused
``not_wanted``, its bytes stop); shown again, the video again. With the only subscriber on the
lower layer, the publisher stops encoding `f` after the hold time, and starts again when the
subscriber asks for the top layer. Waits poll getStats.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from test_simulcast_chromium import (  # type: ignore[import-not-found]  # a sibling, on sys.path under pytest
    open_call,
    server,
)

from hubbub.rooms.dynacast import HOLD

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]
__all__ = ["server"]  # the fixture, from test_simulcast_chromium

VIDEO_IN = """async () => {
  const report = await window.hubbubRoom._subscriber?.getStats();
  for (const s of report ? report.values() : []) {
    if (s.type === 'inbound-rtp' && s.kind === 'video')
      return {width: s.frameWidth || 0, decoded: s.framesDecoded || 0, bytes: s.bytesReceived || 0};
  }
  return {width: 0, decoded: 0, bytes: 0};
}"""

LAYERS_OUT = """async () => {
  const report = await window.hubbubRoom._publisher?.getStats();
  const out = {};
  for (const s of report ? report.values() : []) {
    if (s.type === 'outbound-rtp' && s.kind === 'video' && s.rid)
      out[s.rid] = {active: s.active !== false, bytes: s.bytesSent || 0};
  }
  return out;
}"""

F_STOPPED = f"async () => {{ const l = await ({LAYERS_OUT})(); return l.f && !l.f.active ? l : null; }}"

ATTACH = """() => {
  for (const p of window.hubbubRoom.participants.values())
    for (const pub of p.tracks.values()) if (pub.kind === 'video' && pub.track) {
      const el = document.createElement('video');
      el.id = 'adaptive'; el.autoplay = true; el.muted = true; el.playsInline = true;
      el.style.cssText = 'width: 640px; height: 360px; position: fixed; top: 0; left: 0; z-index: 9';
      document.body.append(pub.attach(el));
      window.adaptiveStates = [];
      window.hubbubRoom.on('trackStreamStateChanged', (_pub, _p, s) => window.adaptiveStates.push(s));
      return pub.trackSid;
    }
  return null;
}"""


async def until(what: str, check: Callable[[], Awaitable[Any]], timeout: float) -> tuple[float, Any]:
    """Seconds until ``check`` returns something true, and that."""
    start = time.monotonic()
    while True:
        got = await check()
        if got:
            return time.monotonic() - start, got
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.2)


async def test_the_element_chooses_the_layer_hidden_pauses_and_unwanted_layers_stop(browser: Any, server: Any) -> None:
    room_name = "c-adaptive"
    pub = await open_call(browser, server, room_name, "pub", preset="group")
    sub = await open_call(browser, server, room_name, "sub", preset="voice", publish="0")
    try:

        async def video_in() -> dict[str, int]:
            return dict(await sub.evaluate(VIDEO_IN))

        async def decoding(ok: Callable[[int], bool]) -> dict[str, int] | None:
            before = await video_in()
            await asyncio.sleep(0.3)
            now = await video_in()
            return now if ok(now["width"]) and now["decoded"] > before["decoded"] else None

        await until("the first picture", lambda: decoding(lambda w: w > 0), 20)
        _, track_sid = await until("a received video", lambda: sub.evaluate(ATTACH), 5)
        took, at = await until("the top layer for a 640x360 element", lambda: decoding(lambda w: w == 640), 15)
        print(f"640x360 element: {at} after {took:.1f} s")

        await sub.evaluate(
            "() => { const el = document.getElementById('adaptive'); "
            "el.style.width = '160px'; el.style.height = '90px'; }"
        )
        took, at = await until("the lower layer for a 160x90 element", lambda: decoding(lambda w: w == 320), 15)
        shrunk = time.monotonic() - took
        held = await pub.evaluate(LAYERS_OUT)
        print(f"160x90 element: {at} after {took:.1f} s; publisher {held}")
        assert held["f"]["active"]  # within the hold time: still encoded

        await sub.evaluate("() => { document.getElementById('adaptive').style.display = 'none'; }")
        took, _ = await until(
            "stream_state paused not_wanted",
            lambda: sub.evaluate(
                "() => window.adaptiveStates.some(s => s.state === 'paused' && s.reason === 'not_wanted')"
            ),
            10,
        )
        await asyncio.sleep(1.0)  # what was in flight arrives
        start = await video_in()
        await asyncio.sleep(2.0)
        paused = await video_in()
        print(f"hidden: paused after {took:.1f} s; bytes {start['bytes']} -> {paused['bytes']}")
        assert paused["bytes"] - start["bytes"] < 2_000  # no video (a stray padding or RTCP-less packet at most)

        await sub.evaluate("() => { document.getElementById('adaptive').style.display = ''; }")
        took, at = await until("the video when shown again", lambda: decoding(lambda w: w == 320), 15)
        states = await sub.evaluate("() => window.adaptiveStates")
        print(f"shown again: {at} after {took:.1f} s; states {states}")
        assert states[-1]["state"] == "active"

        # The only subscriber wants the 320x180 layer: `f` stops after the hold time.
        took, _ = await until("the publisher's f layer stopped", lambda: pub.evaluate(F_STOPPED), HOLD + 10)
        await asyncio.sleep(1.0)
        f_before = (await pub.evaluate(LAYERS_OUT))["f"]["bytes"]
        await asyncio.sleep(2.0)
        out = await pub.evaluate(LAYERS_OUT)
        print(f"f stopped {time.monotonic() - shrunk - 3.0:.1f} s after the shrink; then {out} (f was {f_before})")
        assert out["f"]["bytes"] == f_before and out["h"]["active"]

        await sub.evaluate("sid => window.hubbubRoom.setVideoQuality(sid, 'high')", track_sid)
        took, at = await until("the top layer again", lambda: decoding(lambda w: w == 640), 15)
        out = await pub.evaluate(LAYERS_OUT)
        print(f"asked for high: {at} after {took:.1f} s; publisher {out}")
        assert out["f"]["active"] and out["f"]["bytes"] > f_before
    finally:
        for page in (pub, sub):
            await page.context.close()


async def test_an_aiortc_subscriber_hides_a_video_and_hears_it_paused(browser: Any, server: Any) -> None:
    """The Python SDK's ``set_video_quality(visible=False)``: the server pauses the video
    (``TrackStreamStateChanged`` paused ``not_wanted``, ``publication.stream_state``) and resumes it
    when asked for again."""
    from hubbub.sdk import TrackStreamStateChanged, connect

    room_name = "c-adaptive-sdk"
    pub = await open_call(browser, server, room_name, "pub", preset="group")
    sdk = await connect(server.url, server.token("py", room_name))
    try:
        await sdk.wait_for_track("pub", kind="video", timeout=15)
        publication = next(
            t for p in sdk.participants.values() for t in p.tracks.values() if t.kind == "video" and t.track
        )
        events = sdk.events()

        async def next_state() -> TrackStreamStateChanged:
            async for event in events:
                if isinstance(event, TrackStreamStateChanged):
                    return event
            raise AssertionError("the room ended")

        await sdk.set_video_quality(publication.sid, visible=False)
        paused = await asyncio.wait_for(next_state(), 5)
        assert (paused.state, paused.reason, publication.stream_state) == ("paused", "not_wanted", "paused")
        await sdk.set_video_quality(publication.sid, "low")
        resumed = await asyncio.wait_for(next_state(), 5)
        assert (resumed.state, publication.stream_state) == ("active", "active")
    finally:
        await sdk.disconnect()
        await pub.context.close()
