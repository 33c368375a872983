"""Redundant audio (RFC 2198) from a Chromium publisher: forwarded as RED to a Chromium subscriber
that negotiated it, unwrapped to plain Opus for a Python SDK subscriber that did not.

One headless Chromium (fake microphone: a beeping tone), one live server for the module.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

# The codecs of what a page's peer connection sends (publisher) and receives (subscriber).
AUDIO_CODECS = """async () => {
  const media = window.hubbubRoom && window.hubbubRoom._media;
  if (!media || !media.publisher || !media.subscriber) return null;
  const codec = (report, type) => {
    const s = [...report.values()].find(s => s.type === type && s.kind === 'audio');
    const c = s && s.codecId ? report.get(s.codecId) : null;
    return s ? {mimeType: c ? c.mimeType : '', energy: s.totalAudioEnergy || 0,
      samples: s.totalSamplesReceived || 0, concealed: s.concealedSamples || 0,
      packets: s.packetsReceived || s.packetsSent || 0} : null;
  };
  return {sent: codec(await media.publisher.getStats(), 'outbound-rtp'),
          received: codec(await media.subscriber.getStats(), 'inbound-rtp')};
}"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(live_module: Any) -> Any:
    return live_module


@pytest_asyncio.fixture(loop_scope="module")
async def pages(browser: Any, server: Any) -> AsyncIterator[list[Any]]:
    contexts: list[Any] = []
    opened: list[Any] = []
    for user in ("alice", "bob"):
        ctx = await browser.new_context()
        contexts.append(ctx)
        page = await ctx.new_page()
        query = urlencode({"token": server.token(user, "red-1"), "preset": "voice"})
        await page.goto(f"{server.url}/demo/call.html?{query}")
        await page.wait_for_function(
            "window.hubbubEvents && window.hubbubEvents.some(e => e.name === 'ready')", timeout=20_000
        )
        opened.append(page)
    yield opened
    for ctx in contexts:
        with contextlib.suppress(Exception):
            await ctx.close()


async def audio_codecs(page: Any, *, timeout: float = 20.0) -> dict[str, Any]:
    """The page's audio codecs once its inbound audio has decoded energy (heard, not silence)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await page.evaluate(AUDIO_CODECS)
        if last and last["sent"] and last["received"] and last["received"]["energy"] > 0:
            return dict(last)
        await asyncio.sleep(0.2)
    raise AssertionError(f"no audio heard; last stats {last}")


def down_tracks(server: Any, publisher: str) -> dict[str, Any]:
    """Subscriber identity -> the down-track of ``publisher``'s audio."""
    room = next(r for r in server.platform.rooms.rooms.values() if r.channel == "red-1")
    media = server.platform.rooms.media_of(room)
    owner = next(p for p in room.participants.values() if p.identity == publisher)
    sid = next(pub.sid for pub in owner.publications.values() if pub.kind == "audio")
    up = media.router.up_track(sid)
    assert up is not None and any(c.mime == "audio/red" for c in up.codecs.values()), up.codecs
    found = {p.identity: media.router.down_track(sid, p.sid) for p in room.participants.values() if p is not owner}
    return {k: v for k, v in found.items() if v is not None}


async def test_red_forwarded_to_chromium_and_unwrapped_for_the_sdk(pages: list[Any], server: Any) -> None:
    import numpy
    from av import AudioFrame

    from hubbub.sdk import connect

    alice, bob = pages
    # Chromium's stats name the decoder's codec (audio/opus) for RED too: what RED changes is on the
    # server's side, where bob's down-track forwards RED and the SDK's unwraps it.
    heard = (await audio_codecs(bob))["received"]
    assert heard["concealed"] < heard["samples"] / 2  # no loss here: mostly real audio
    await audio_codecs(alice)

    robot = await connect(server.url, server.token("robot", "red-1"))
    try:
        track = await robot.wait_for_track("alice", kind="audio", timeout=15)
        frames = [await asyncio.wait_for(track.recv(), 10) for _ in range(150)]  # 3 s of 20 ms frames
        assert all(isinstance(f, AudioFrame) for f in frames)
        peaks = [int(numpy.abs(f.to_ndarray()).max()) for f in frames if isinstance(f, AudioFrame)]
        assert max(peaks) > 1000, peaks  # the beeps decode from the plain Opus the SDK was sent
        downs = down_tracks(server, "alice")
        assert not downs["bob"].unwraps_red and downs["bob"].packets_sent > 0
        assert downs["robot"].unwraps_red and downs["robot"].packets_sent > 50
    finally:
        await robot.disconnect()
