"""Measuring a relay: a UDP echo target and a probe that sends numbered, timestamped packets through it.

The tests of the relay and ``hubbub bench netsim`` use them.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

# sequence number, send time. Times are time.monotonic(), not the loop's clock: uvloop's has
# millisecond steps, and a measurement should not share the relay's rounding.
HEADER = struct.Struct("!Id")


class _Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.sources: set[tuple[str, int]] = set()
        self.arrivals: dict[int, float] = {}  # a probe packet's sequence number -> when it first came
        self.bytes_at: list[tuple[float, int]] = []  # (arrival, size) of every datagram

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sources.add(addr)
        now = time.monotonic()
        self.bytes_at.append((now, len(data)))
        if len(data) >= HEADER.size:
            self.arrivals.setdefault(HEADER.unpack_from(data)[0], now)
        assert self.transport is not None
        self.transport.sendto(data, addr)


@dataclass
class Echo:
    address: tuple[str, int]
    protocol: _Echo


@contextlib.asynccontextmanager
async def echo_server(host: str = "127.0.0.1") -> AsyncIterator[Echo]:
    """A UDP target that sends every datagram back to where it came from."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(_Echo, local_addr=(host, 0))
    try:
        yield Echo(transport.get_extra_info("sockname")[:2], protocol)
    finally:
        transport.close()


@dataclass
class Received:
    """seq -> arrival times (more than one when duplicated), and the send time of each seq."""

    arrivals: dict[int, list[float]] = field(default_factory=dict)
    sent: dict[int, float] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)

    def delays(self) -> list[float]:
        return [times[0] - self.sent[seq] for seq, times in self.arrivals.items()]


class _Client(asyncio.DatagramProtocol):
    def __init__(self, received: Received) -> None:
        self.received = received

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        seq, _ = HEADER.unpack_from(data)
        self.received.arrivals.setdefault(seq, []).append(time.monotonic())
        self.received.order.append(seq)


async def probe(
    address: tuple[str, int], count: int, rate_pps: float, size: int = 200, settle: float = 0.5
) -> Received:
    """Send ``count`` packets of ``size`` bytes at ``rate_pps`` to ``address``; collect the echoes."""
    loop = asyncio.get_running_loop()
    received = Received()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Client(received), remote_addr=address)
    try:
        start = loop.time()
        pad = b"\0" * (size - HEADER.size)
        for seq in range(count):
            due = start + seq / rate_pps
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            now = time.monotonic()
            received.sent[seq] = now
            transport.sendto(HEADER.pack(seq, now) + pad)
        await asyncio.sleep(settle)
    finally:
        transport.close()
    return received


def loss_runs(lost: list[bool]) -> list[int]:
    """The lengths of the runs of consecutive lost packets (``lost[i]``: packet ``i`` was lost)."""
    return [len(run) for run in "".join("x" if x else "." for x in lost).split(".") if run]
