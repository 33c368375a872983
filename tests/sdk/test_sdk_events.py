"""The room's event buffer alone."""

from __future__ import annotations

import asyncio
import logging

import pytest

from hubbub.sdk import ActiveSpeakers, Disconnected, Reconnected, RoomEvent
from hubbub.sdk.events import EventStream


async def read_all(stream: EventStream) -> list[RoomEvent]:
    return [event async for event in stream.read()]


async def test_events_are_buffered_until_read_and_end_with_disconnected() -> None:
    stream = EventStream()
    stream.emit(Reconnected(resumed=True))
    stream.emit(Disconnected(reason="client_left"))
    stream.emit(Reconnected(resumed=False))  # after the end: never read
    assert await read_all(stream) == [Reconnected(resumed=True), Disconnected(reason="client_left")]
    assert await read_all(stream) == [Reconnected(resumed=False)]  # a second reader gets the rest, then stops


async def test_a_reader_waits_for_the_next_event() -> None:
    stream = EventStream()
    reader = asyncio.create_task(read_all(stream))
    await asyncio.sleep(0.01)
    assert not reader.done()
    stream.emit(ActiveSpeakers(speakers=()))
    await asyncio.sleep(0.01)
    assert not reader.done()
    stream.emit(Disconnected(reason="kicked"))
    assert await asyncio.wait_for(reader, 1) == [ActiveSpeakers(speakers=()), Disconnected(reason="kicked")]


async def test_a_full_backlog_drops_the_oldest(caplog: pytest.LogCaptureFixture) -> None:
    stream = EventStream(backlog=2)
    with caplog.at_level(logging.WARNING, logger="hubbub.sdk"):
        for resumed in (True, False, True):
            stream.emit(Reconnected(resumed=resumed))
    assert "event backlog full: dropping Reconnected" in caplog.text
    stream.emit(Disconnected(reason="client_left"))
    assert await read_all(stream) == [Reconnected(resumed=True), Disconnected(reason="client_left")]
