"""ICE-TCP through the relay: RFC 4571 frames delayed, rate-limited and dropped whole, never cut or reordered."""

from __future__ import annotations

import asyncio
import struct

from hubbub.netsim import Impairment, Relay
from hubbub.netsim.framing import Deframer, frame


def test_the_deframer_cuts_a_stream_anywhere() -> None:
    stream = b"".join(frame(bytes([i]) * i) for i in range(1, 40))
    for step in (1, 3, 7, 64):
        deframer = Deframer()
        packets = [p for i in range(0, len(stream), step) for p in deframer.feed(stream[i : i + step])]
        assert packets == [bytes([i]) * i for i in range(1, 40)] and deframer.pending == 0


async def exchange(address: tuple[str, int], count: int, gap: float) -> tuple[list[int], float]:
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(*address)
    started = loop.time()
    for seq in range(count):
        writer.write(frame(struct.pack("!I", seq) + b"x" * 196))
        await asyncio.sleep(gap)
    await writer.drain()
    deframer = Deframer()
    got: list[int] = []
    last = started
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), 1.0)
            if not chunk:
                break
            got += [struct.unpack_from("!I", p)[0] for p in deframer.feed(chunk)]
            last = loop.time()
    except TimeoutError:
        pass
    writer.close()
    return got, last - started  # until the last frame came back


async def test_frames_are_delayed_and_dropped_whole_and_stay_in_order(tcp_echo: tuple[str, int]) -> None:
    impaired = Impairment(loss=0.2, delay_ms=30, jitter_ms=10, reorder=True)  # TCP ignores reorder
    async with Relay(to=("127.0.0.1", 9), tcp_to=tcp_echo, up=impaired, seed=11) as relay:
        got, _ = await exchange(relay.address, 500, 0.001)
        stats = relay.stats()
    assert got == sorted(got) and len(set(got)) == len(got)
    assert stats["up"]["dropped"]["loss"] == 500 - len(got)
    assert 0.12 < 1 - len(got) / 500 < 0.28


async def test_the_rate_limit_applies_to_frames(tcp_echo: tuple[str, int]) -> None:
    async with Relay(to=("127.0.0.1", 9), tcp_to=tcp_echo, down=Impairment(rate_kbps=400), seed=12) as relay:
        got, took = await exchange(relay.address, 200, 0.0)  # 200 frames of 202 bytes at 400 kbit/s: ~0.8 s
        assert relay.stats()["down"]["forwarded"] == 200
    assert got == list(range(200))
    assert 0.7 < took < 3.0
