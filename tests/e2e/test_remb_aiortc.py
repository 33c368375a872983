"""An aiortc publisher under the SFU's REMB: its VP8 encoder starts at 500 kbit/s, takes each REMB
as its target (clamped to 250 kbit/s..1.5 Mbit/s) and, on a clean loopback path, is brought up to
its maximum by the server's receive-side estimate (proto.cc.remote) at GCC's 8% a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import numpy.typing as npt

from hubbub.proto.cc.remote import RemoteEstimator
from hubbub.sdk import GeneratorVideoTrack, connect

WIDTH, HEIGHT, FPS = 320, 240, 30
REACHED_BPS = 1_200_000  # well above aiortc's 500 kbit/s start, near its 1.5 Mbit/s maximum
RAMP_TIMEOUT_S = 45.0  # 8%/s from 500 kbit/s reaches 1.2 Mbit/s in ~13 s after the first estimate (2 s)


async def _noise() -> AsyncIterator[npt.NDArray[np.uint8]]:
    """Grey with faint fresh noise every frame (+-8 levels of luma): nothing to predict, so the
    encoder spends its whole target, and little enough that it meets it (full-range noise
    overshoots 1.5 Mbit/s at the coarsest quantizer; this takes 0.49, 0.96 and 1.49 Mbit/s at
    targets of 0.5, 1 and 1.5)."""
    rng = np.random.default_rng(1)
    image = np.full((HEIGHT * 3 // 2, WIDTH), 128, dtype=np.uint8)
    while True:
        image[:HEIGHT] = rng.integers(120, 137, (HEIGHT, WIDTH), dtype=np.uint8)
        yield image.copy()


def _estimator(media: Any) -> RemoteEstimator | None:
    for rate, _sink in tuple(media.router._feedback.values()):
        if isinstance(rate, RemoteEstimator):
            return rate
    return None


async def test_aiortc_publisher_ramps_to_its_maximum_under_remb(live: Any) -> None:
    alice = await connect(live.url, live.token("alice"))
    try:
        pub = await alice.publish(GeneratorVideoTrack(_noise(), fps=FPS, pixel_format="yuv420p"))
        room = next(iter(live.platform.rooms.rooms.values()))
        media = live.platform.rooms.media_of(room)
        sender = alice._outgoing[pub.cid].sender
        assert sender is not None
        start = time.monotonic()
        first_remb = reached = None
        target = 0
        received: list[float] = []
        while time.monotonic() - start < RAMP_TIMEOUT_S:
            await asyncio.sleep(0.25)
            estimator = _estimator(media)
            encoder = getattr(sender, "_RTCRtpSender__encoder", None)
            if estimator is None or encoder is None:
                continue
            if first_remb is None and estimator.sent:
                first_remb = time.monotonic() - start
            incoming = estimator.incoming_bps(media.transport_now())
            if incoming is not None:
                received.append(incoming)
            target = encoder.target_bitrate
            if target >= REACHED_BPS and reached is None:
                reached = time.monotonic() - start
            if reached is not None and time.monotonic() - start >= reached + 2.0:
                break
        estimator = _estimator(media)
        assert estimator is not None, "an aiortc connection (abs-send-time, no transport-cc) gets REMB"
        assert reached is not None, f"encoder target {target} after {RAMP_TIMEOUT_S} s"
        # what the server received follows the target up: well above the 500 kbit/s start
        assert max(received) >= 0.8 * REACHED_BPS
        print(
            f"first REMB {first_remb:.1f} s, target >= {REACHED_BPS} at {reached:.1f} s, "
            f"REMB {estimator.last_sent_bps}, received max {max(received):.0f} last {received[-1]:.0f} bit/s"
        )
    finally:
        await alice.disconnect()
