"""One scenario against one server: start it, connect everyone, measure, stop it (``hubbub bench sfu``)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from hubbub.bench.sfu.loadgen import LoadGen, Scenario, SimParticipant
from hubbub.bench.sfu.report import CpuSample, ResultRow, percentile

__all__ = ["Target", "run_scenario"]


class Target(Protocol):
    """A server under test: started per scenario, one process whose CPU is measured."""

    name: str
    secure: bool  # WebRTC (ICE/DTLS/SRTP) or plain RTP

    @property
    def pid(self) -> int: ...

    async def start(self) -> None: ...

    async def join(self, gen: LoadGen, participant: SimParticipant) -> None:
        """Connect one participant: publish its streams and/or subscribe, up to connected peers."""
        ...

    async def all_joined(self, gen: LoadGen, participants: Sequence[SimParticipant]) -> None: ...

    def details(self) -> dict[str, Any]: ...

    async def stop(self) -> None: ...


async def _join_all(
    target: Target, gen: LoadGen, people: Sequence[SimParticipant], concurrency: int, log: Callable[[str], None]
) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(p: SimParticipant) -> None:
        async with gate:
            await target.join(gen, p)

    await asyncio.gather(*(one(p) for p in people))


def _missing(people: Sequence[SimParticipant]) -> int:
    """Subscriptions (participant, stream) that have not delivered a packet yet."""
    missing = 0
    for p in people:
        got: set[int] = set()
        for peer in p.subscriber_peers:
            got.update(s for s, n in peer.counts.items() if n)
        missing += len(p.expected - got)
    return missing


async def run_scenario(
    target: Target,
    scenario: Scenario,
    *,
    duration: float = 10.0,
    warmup: float = 2.0,
    setup_timeout: float = 60.0,
    concurrency: int = 16,
    log: Callable[[str], None] = lambda _msg: None,
) -> ResultRow:
    """Start the target, connect everyone, measure ``duration`` seconds, stop the target."""
    gen = LoadGen(secure=target.secure)
    people = scenario.participants()
    for p in people:
        for kind in p.kinds:
            gen.new_stream(kind, p)
    all_streams = {s.stream_id for p in people for s in p.streams}
    for p in people:
        if p.subscribes:
            p.expected = all_streams - {s.stream_id for s in p.streams}
    await target.start()
    try:
        setup_started = time.monotonic()
        publishers = [p for p in people if p.kinds]
        listeners = [p for p in people if not p.kinds]
        await asyncio.wait_for(_join_all(target, gen, publishers, concurrency, log), setup_timeout)
        gen.start_media()
        await asyncio.wait_for(_join_all(target, gen, listeners, concurrency, log), setup_timeout)
        await asyncio.wait_for(target.all_joined(gen, people), setup_timeout)
        gen.start_media()
        limit = time.monotonic() + setup_timeout
        while _missing(people) and time.monotonic() < limit:
            await asyncio.sleep(0.1)
        missing = _missing(people)
        setup_s = time.monotonic() - setup_started
        log(f"{scenario.name} on {target.name}: connected in {setup_s:.1f} s, {missing} subscriptions silent")
        await asyncio.sleep(warmup)

        meter = gen.meter
        me = os.getpid()
        start = time.monotonic()
        server0, self0 = CpuSample.take(target.pid, start), CpuSample.take(me, start)
        meter.start = start
        meter.end = start + duration
        meter.arrival_end = float("inf")  # closed below, at the moment the CPU is sampled again
        await asyncio.sleep(duration)
        end = time.monotonic()
        server1, self1 = CpuSample.take(target.pid, end), CpuSample.take(me, end)
        meter.arrival_end = end  # packets delivered while the server's CPU was being counted
        await asyncio.sleep(0.5)  # packets stamped inside the window still in flight
        await gen.stop()

        wall = end - start
        expected = sum(meter.sent_in_window.get(s, 0) for p in people if p.subscribes for s in p.expected)
        received = meter.received_in_window
        delivered = meter.arrived_in_window
        server_cpu = server1.since(server0)
        delays = meter.delays
        details: dict[str, Any] = {
            "duration_s": round(wall, 3),
            "setup_s": round(setup_s, 2),
            "participants": len(people),
            "streams": len(all_streams),
            "subscriptions": sum(len(p.expected) for p in people),
            "silent_subscriptions": missing,
            "packets_in_per_s": round(sum(meter.sent_in_window.values()) / duration, 1),
            "packets_delivered": delivered,
            "packets_expected": expected,
            "server_cpu_s": round(server_cpu, 3),
            "server_cpu_pct": round(100 * server_cpu / wall, 1),
            "generator_cpu_s": round(self1.since(self0), 3),
            "srtp_errors": meter.srtp_errors,
            "keyframe_requests": meter.keyframe_requests,
            "srtp_profile": sorted({p.profile for p in gen.peers if p.profile}),
        }
        details.update(target.details())
        return ResultRow(
            scenario=scenario.name,
            server=target.name,
            cpu_us_per_packet=(server_cpu / delivered * 1e6) if delivered else float("nan"),
            packets_per_s=delivered / wall,
            loss_pct=(100.0 * (1 - received / expected)) if expected else float("nan"),
            delay_p50_ms=percentile(delays, 0.5) * 1000,
            delay_p99_ms=percentile(delays, 0.99) * 1000,
            generator_cpu_pct=100 * self1.since(self0) / wall,
            details=details,
        )
    finally:
        await gen.stop()
        await target.stop()
