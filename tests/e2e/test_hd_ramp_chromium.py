"""A Chromium `1v1-hd` publisher (1280x720) ramps up through the SFU on a clean loopback network.

The SFU's transport-wide CC feedback is all a publisher's estimate has to go on: the lab page's
publisher (`/lab/?role=publish`, a 1280x720 canvas published with the `1v1-hd` preset) and a
Chromium subscriber join one channel, and the publisher connection's getStats is polled:
candidate-pair ``availableOutgoingBitrate`` (the estimate: what the network allows) and the video's
sent bitrate must reach 1.5 Mbit/s within the deadline, and the subscriber must receive over
1 Mbit/s. The sent bitrate is held to it only while the encoder is not limited
(``qualityLimitationReason`` "none"): on two shared cores Chromium's encoder may be CPU-limited
("cpu"), or still at the lower resolution it started with at its 300 kbit/s start rate and scales
up from only slowly ("bandwidth", with the estimate already above the target); then the estimate
alone is held to 1.5 Mbit/s. The numbers are printed either way.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

TARGET_BPS = 1_500_000
RECEIVED_BPS = 1_000_000
DEADLINE_S = 15.0  # from the first decoded frame

# The publisher connection's estimate, the video it sends (bytes, size, why it is limited), and
# the subscriber connection's received video bytes.
SENT = """async () => {
  const pc = window.hubbubRoom && window.hubbubRoom._publisher;
  if (!pc) return null;
  const out = {estimate: 0, bytes: 0, width: 0, reason: '', at: performance.now()};
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'candidate-pair' && s.availableOutgoingBitrate)
      out.estimate = Math.max(out.estimate, s.availableOutgoingBitrate);
    if (s.type === 'outbound-rtp' && s.kind === 'video') {
      out.bytes += s.bytesSent || 0;
      out.width = Math.max(out.width, s.frameWidth || 0);
      out.reason = s.qualityLimitationReason || out.reason;
    }
  });
  return out;
}"""

RECEIVED = """async () => {
  const pc = window.hubbubRoom && window.hubbubRoom._subscriber;
  if (!pc) return null;
  const out = {bytes: 0, decoded: 0, width: 0, at: performance.now()};
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out.bytes += s.bytesReceived || 0;
      out.decoded += s.framesDecoded || 0;
      out.width = Math.max(out.width, s.frameWidth || 0);
    }
  });
  return out;
}"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(live_module: Any) -> Any:
    return live_module


async def open_lab(browser: Any, server: Any, role: str, user: str, channel: str) -> Any:
    ctx = await browser.new_context(viewport={"width": 800, "height": 480})
    page = await ctx.new_page()
    page.on("pageerror", lambda exc: print(f"[{user}] page error: {exc}"))
    query = {"role": role, "token": server.token(user, channel), "width": "1280", "height": "720", "fps": "30"}
    await page.goto(f"{server.url}/lab/?" + urlencode(query))
    await page.wait_for_function("window.lab && (window.lab.ready || window.lab.error)", polling=50, timeout=30_000)
    assert await page.evaluate("window.lab.error") is None
    return page


def _rate(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Bits per second between two samples (``at`` in milliseconds)."""
    return 8000.0 * float(b["bytes"] - a["bytes"]) / max(float(b["at"] - a["at"]), 1.0)


# Known open: about 3 runs in 7 here (2 loaded cores) Chromium's initial probes give no result and
# its estimate climbs from the 300 kbit/s start at ~5-8%/s (about 1 Mbit/s after 15 s); the other
# runs reach ~3.5 Mbit/s within 0.6 s, though the encoder may stay at 640 or 960 wide for the
# whole run ("bandwidth": it dropped its size at the 300 kbit/s start), so the subscriber
# receives under 1 Mbit/s. Arrival times are still read in the event loop, after the
# loop gets to the datagram (one per iteration on plain asyncio, beside Playwright's traffic); the
# kernel's receive time (SIOCGSTAMPNS) carried with the packet is the next step.
async def test_hd_publisher_ramps_to_1_5_mbps(browser: Any, server: Any) -> None:
    channel = f"hd-{int(time.time() * 1000) % 10_000_000}"
    publisher = await open_lab(browser, server, "publish", "hd-pub", channel)
    subscriber = await open_lab(browser, server, "subscribe", "hd-sub", channel)
    try:
        async with asyncio.timeout(30):
            while not ((await subscriber.evaluate(RECEIVED)) or {}).get("decoded"):
                await asyncio.sleep(0.2)
        started = time.monotonic()
        sent: list[dict[str, Any]] = [await publisher.evaluate(SENT)]
        received: list[dict[str, Any]] = [await subscriber.evaluate(RECEIVED)]
        reached: float | None = None  # seconds until the estimate and the sent video both got there
        best_sent = best_received = 0.0
        while time.monotonic() - started < DEADLINE_S:
            await asyncio.sleep(0.5)
            sent.append(await publisher.evaluate(SENT))
            received.append(await subscriber.evaluate(RECEIVED))
            # a rate over the last second (two samples back), not one half-second's burst
            window = -3 if len(sent) >= 3 else 0
            send_bps = _rate(sent[window], sent[-1])
            recv_bps = _rate(received[window], received[-1])
            best_sent, best_received = max(best_sent, send_bps), max(best_received, recv_bps)
            estimate = sent[-1]["estimate"]
            encoder_limited = sent[-1]["reason"] not in ("", "none")
            if reached is None and estimate >= TARGET_BPS and (encoder_limited or send_bps >= TARGET_BPS):
                reached = time.monotonic() - started
            if reached is not None and best_received > RECEIVED_BPS:
                break
        last = sent[-1]
        summary = (
            f"estimate {last['estimate'] / 1e3:.0f} kbit/s, sent up to {best_sent / 1e3:.0f} kbit/s at"
            f" width {last['width']}, qualityLimitationReason {last['reason']!r},"
            f" received up to {best_received / 1e3:.0f} kbit/s, reached after {reached} s"
        )
        print(summary)
        assert reached is not None, f"the publisher did not reach 1.5 Mbit/s in {DEADLINE_S:.0f} s: {summary}"
        assert best_received > RECEIVED_BPS, summary
    finally:
        for page in (publisher, subscriber):
            await page.context.close()
