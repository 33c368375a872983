"""quality.js in Chromium: a canvas stamped with Date.now() goes through a real VP8 peer connection
(two RTCPeerConnections in one page), and the collector reads the stamps back from the rendered frames.

The SDK's modules are served to the page by Playwright's request routing from src/hubbub/web/sdk/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from hubbub.schema.quality import StreamSample, summarise

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

SDK = Path(__file__).resolve().parents[2] / "src" / "hubbub" / "web" / "sdk"
ORIGIN = "http://quality.test"

PAGE = """<!doctype html><video id="v" width="320" height="180" muted autoplay playsinline></video>
<script type="module">
import {QualityCollector, countEncoded, drawStamp} from '/sdk/quality.js';
const [w, h] = [320, 180];
const canvas = Object.assign(document.createElement('canvas'), {width: w, height: h});
const ctx = canvas.getContext('2d');
let frame = 0;
setInterval(() => {
  ctx.fillStyle = '#808080'; ctx.fillRect(0, 0, w, h);
  ctx.fillStyle = '#fff'; ctx.fillRect((frame++ * 8) % w, 20, 16, 80);
  drawStamp(ctx, Date.now(), w, h);
}, 33);
const sender = new RTCPeerConnection(), receiver = new RTCPeerConnection();
sender.onicecandidate = (e) => e.candidate && receiver.addIceCandidate(e.candidate);
receiver.onicecandidate = (e) => e.candidate && sender.addIceCandidate(e.candidate);
const video = document.getElementById('v');
const encoded = new Map();
window.counting = null;
receiver.ontrack = (e) => {
  window.counting = countEncoded(e.receiver, encoded);
  video.srcObject = new MediaStream([e.track]); void video.play();
};
sender.addTrack(canvas.captureStream(30).getVideoTracks()[0]);
await sender.setLocalDescription(); await receiver.setRemoteDescription(sender.localDescription);
await receiver.setLocalDescription(); await sender.setRemoteDescription(receiver.localDescription);
const quality = new QualityCollector(receiver, {encoded});
quality.watch(video);
quality.start(500);
window.done = new Promise((resolve) => setTimeout(() => {
  quality.stop();
  resolve({counting: window.counting, summary: quality.summary(), stamps: quality.e2eDelaysMs.length,
           unread: quality.unreadStamps, frames: quality.renderMs.length, samples: quality.samples,
           renderMs: quality.renderMs, e2eDelaysMs: quality.e2eDelaysMs});
}, 5000));
</script>"""


async def _serve(route: Any) -> None:
    path = route.request.url.removeprefix(ORIGIN)
    if path.startswith("/sdk/") and (SDK / path.removeprefix("/sdk/")).is_file():
        await route.fulfill(body=(SDK / path.removeprefix("/sdk/")).read_text(), content_type="text/javascript")
    elif path == "/":
        await route.fulfill(body=PAGE, content_type="text/html")
    else:
        await route.fulfill(status=404)


async def test_stamps_drawn_on_a_canvas_are_read_back_after_vp8(browser: Any) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.route(f"{ORIGIN}/**", _serve)
        await page.goto(f"{ORIGIN}/")
        await page.wait_for_function("window.done !== undefined", timeout=15_000)
        result = await page.evaluate("window.done")
    finally:
        await context.close()
    assert not errors, errors
    summary = result["summary"]
    assert result["frames"] >= 60, result
    assert result["stamps"] >= 0.8 * result["frames"], result  # most rendered frames read exactly
    assert summary["e2e_delay_ms_p50"] is not None and 0 <= summary["e2e_delay_ms_p50"] < 500, summary
    assert (summary["width"], summary["height"]) == (320, 180), summary
    assert summary["recv_kbps"] > 10 and summary["send_kbps"] is None, summary  # the receiver's view
    assert summary["freeze_count"] == 0, summary
    # The encoded transform passed every frame on (the stamps above were read from them) and counted
    # them: the frames' bytes are the payload's less the VP8 descriptors (no loss here, no repair).
    assert result["counting"] is True, result
    assert 0.9 * summary["recv_kbps"] <= summary["recv_media_kbps"] < summary["recv_kbps"], summary
    # The page's samples are the schema's: Python decodes them as they are and sums them up alike.
    samples = msgspec.convert(result["samples"], list[StreamSample])
    again = summarise(samples, render_ms=result["renderMs"], e2e_delays_ms=result["e2eDelaysMs"])
    for key, value in msgspec.to_builtins(again).items():
        assert value == pytest.approx(summary[key]), key
