"""The relay's tests send through it to a UDP echo target, or an ICE-TCP one that echoes RFC 4571 frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hubbub.netsim.framing import Deframer, frame
from hubbub.netsim.probe import Echo, echo_server


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    async with echo_server() as target:
        yield target


async def _echo_frames(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    deframer = Deframer()
    while chunk := await reader.read(65536):
        for packet in deframer.feed(chunk):
            writer.write(frame(packet))
    writer.close()


@pytest.fixture
async def tcp_echo() -> AsyncIterator[tuple[str, int]]:
    server = await asyncio.start_server(_echo_frames, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[:2]
    finally:
        server.close()
