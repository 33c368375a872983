"""The transport's clock (``RtcTransportServer.now``), which media handlers read per datagram as
the arrival time that transport-wide CC feedback reports, resolves well below a millisecond on
uvloop too (uvloop's ``loop.time`` counts whole milliseconds)."""

from __future__ import annotations

import time

import uvloop

from hubbub.proto.certificate import Certificate
from hubbub.transport.server import RtcTransportServer


async def _distinct_readings(span: float) -> tuple[int, float]:
    async with RtcTransportServer(certificate=Certificate.generate(time.time()), host="127.0.0.1") as server:
        first = server.now()
        seen = {first}
        deadline = time.perf_counter() + span
        while time.perf_counter() < deadline:
            seen.add(server.now())
        return len(seen), max(seen) - first


def test_transport_clock_is_finer_than_a_millisecond_on_uvloop() -> None:
    distinct, elapsed = uvloop.run(_distinct_readings(0.004))
    assert elapsed >= 0.003
    assert distinct > 20  # a whole-millisecond clock gives at most 5 readings in 4 ms
