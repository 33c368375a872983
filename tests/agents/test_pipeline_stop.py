"""Stopping a pipeline always ends: a stage that ignores its cancellation, or hangs in ``close``,
is left behind after a bounded wait instead of holding up the agent's shutdown."""

from __future__ import annotations

import asyncio
import time

from hubbub.agents.frames import AudioIn, Frame
from hubbub.agents.pipeline import AgentContext, Pipeline, Stage
from hubbub.agents.transcripts import TranscriptLine, TranscriptStore


class _Sink:
    def publish(self, channel: str, line: TranscriptLine) -> None:
        pass


class Stubborn(Stage):
    """Swallows the first cancellation while it handles a frame (a provider's bad retry loop)."""

    name = "stubborn"

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def process(self, frame: Frame) -> None:
        self.started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await self.release.wait()  # ignores the cancellation until released


class HangsOnClose(Stage):
    name = "hangs-on-close"

    async def process(self, frame: Frame) -> None:
        self.push(frame)

    async def close(self) -> None:
        await asyncio.sleep(3600)


class Closes(Stage):
    name = "closes"

    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def test_stop_ends_despite_a_stage_that_ignores_cancellation_and_one_that_hangs_in_close() -> None:
    stubborn, hangs, closes = Stubborn(), HangsOnClose(), Closes()
    ctx = AgentContext(TranscriptStore("room1", _Sink()), fallback_line="sorry")
    pipeline = Pipeline([hangs, stubborn, closes], ctx)
    pipeline.start()
    pipeline.push(AudioIn(b"\0" * 640, 16000, time.monotonic()))
    await asyncio.wait_for(stubborn.started.wait(), 5)
    start = time.monotonic()
    await asyncio.wait_for(pipeline.stop(timeout=0.3), 10)
    took = time.monotonic() - start
    assert 0.5 <= took < 5, took  # two bounded waits: the stubborn worker, then the hanging close
    assert closes.closed  # the stages after the hanging one were still closed
    stubborn.release.set()
    await asyncio.sleep(0)
