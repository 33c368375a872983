"""The whole pipeline with scripted providers, in real time but without a network.

A ``Rig`` feeds 20 ms frames of 16 kHz audio (a tone for speech, zeros for silence) and plays the
agent's outgoing track the way aiortc's sender would, recording each frame's energy.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from hubbub.agents.config import Providers, parse_config
from hubbub.agents.frames import AudioIn
from hubbub.agents.pipeline import AgentContext
from hubbub.agents.providers.base import ProviderError
from hubbub.agents.providers.scripted import EnergyVAD, ScriptedLLM, ScriptedSTT, ScriptedTTS
from hubbub.agents.session import build_pipeline
from hubbub.agents.stages.output import AgentAudioTrack
from hubbub.agents.transcripts import TranscriptLine, TranscriptStore

VOICE = (np.sin(2 * math.pi * 220 * np.arange(320) / 16000) * 0.3 * 32767).astype("<i2").tobytes()
SILENCE = bytes(640)
LONG_REPLY = " ".join(f"Sentence number {i} is here." for i in range(1, 30))


class Sink:
    def __init__(self) -> None:
        self.lines: list[TranscriptLine] = []

    def publish(self, channel: str, line: TranscriptLine) -> None:
        self.lines.append(line)


class Rig:
    def __init__(self, providers: Providers, **config: Any) -> None:
        self.config = parse_config({"channel": "room1", "idle_timeout_s": 0, **config})
        self.providers = providers
        self.sink = Sink()
        self.ctx = AgentContext(TranscriptStore("room1", self.sink), fallback_line=self.config.fallback_line)
        self.track = AgentAudioTrack()
        self.pipeline = build_pipeline(self.config, providers, self.ctx, self.track)
        self.played: list[tuple[float, float]] = []  # (time, rms) of each outgoing frame

    async def __aenter__(self) -> Rig:
        self.pipeline.start()
        self._player = asyncio.create_task(self._play())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._player.cancel()
        await self.pipeline.stop()

    async def _play(self) -> None:
        while True:
            frame = await self.track.recv()
            samples = frame.to_ndarray().astype(np.float64) / 32768
            self.played.append((time.monotonic(), float(np.sqrt(np.mean(samples**2)))))

    async def say(self, seconds: float, voiced: bool = True) -> None:
        start = time.monotonic()
        for i in range(int(seconds / 0.02)):
            delay = start + (i + 1) * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.pipeline.push(AudioIn(VOICE if voiced else SILENCE, 16000, time.monotonic()))

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.01)

    def speaking(self) -> bool:
        return bool(self.played) and self.played[-1][1] > 0.01


def providers(**kw: Any) -> Providers:
    return Providers(
        vad=kw.get("vad", EnergyVAD()),
        stt=kw.get("stt", ScriptedSTT("what is the capital of france")),
        llm=kw.get("llm", ScriptedLLM("Paris is the capital of France.", first_token_s=0.05)),
        tts=kw.get("tts", ScriptedTTS(seconds_per_char=0.01)),
    )


@pytest.fixture
async def loop_ready() -> AsyncIterator[None]:
    yield


async def test_a_spoken_question_gets_a_spoken_answer_with_metrics() -> None:
    async with Rig(providers(), turn={"silence_ms": 300}) as rig:
        await rig.say(0.2, voiced=False)
        await rig.say(0.6)
        await rig.say(0.5, voiced=False)
        await rig.wait_for(lambda: rig.ctx.turns and rig.ctx.turns[-1].spoken_text)
        turn = rig.ctx.turns[-1]
        assert turn.user_text == "what is the capital of france"
        assert turn.spoken_text == "Paris is the capital of France."
        m = turn.as_dict()
        assert m["first_packet_ms"] is not None and m["first_packet_ms"] >= m["tts_first_audio_ms"]
        assert m["llm_first_token_ms"] >= m["stt_final_ms"]
        assert turn.end_of_turn_t is not None and turn.speech_end_t is not None
        assert 250 <= (turn.end_of_turn_t - turn.speech_end_t) * 1000 < 600  # the 300 ms silence rule
        assert m["overhead_ms"] is not None and m["overhead_ms"] < 100
        history = [(m.role, m.content) for m in rig.ctx.conversation.messages()]
        assert history == [("user", "what is the capital of france"), ("assistant", "Paris is the capital of France.")]
        finals = [(line.speaker, line.text) for line in rig.sink.lines if line.final]
        assert finals == [("user", "what is the capital of france"), ("agent", "Paris is the capital of France.")]
        assert rig.ctx.state == "listening" and not rig.ctx.agent_busy


async def test_barge_in_silences_the_track_cancels_the_llm_and_truncates_history() -> None:
    llm = ScriptedLLM(LONG_REPLY, first_token_s=0.05, tokens_per_s=20)  # still generating when cut
    async with Rig(providers(llm=llm, tts=ScriptedTTS(seconds_per_char=0.03)), turn={"silence_ms": 300}) as rig:
        await rig.say(0.5)
        await rig.say(0.4, voiced=False)
        await rig.wait_for(rig.speaking)
        await rig.say(0.6, voiced=False)  # the agent talks for a while
        onset = time.monotonic()
        await rig.say(0.3)  # the user talks over it
        silent_at = next(t for t, rms in rig.played if t > onset and rms < 0.001)
        assert (silent_at - onset) * 1000 < 160 + 60  # min speech + a frame or two
        await rig.wait_for(lambda: llm.cancelled == 1)
        turn = rig.ctx.turns[0]
        assert turn.interrupted and turn.interrupt_t is not None and turn.silent_t is not None
        assert (turn.silent_t - turn.interrupt_t) * 1000 <= 25  # the next frame after the flush
        spoken = rig.ctx.conversation.history()[1]
        assert spoken["interrupted"] is True
        assert spoken["content"] and LONG_REPLY.startswith(str(spoken["content"]).rstrip("."))
        assert len(str(spoken["content"])) < len(LONG_REPLY) / 2
        await asyncio.sleep(0.1)
        assert all(rms < 0.001 for t, rms in rig.played if t > silent_at)


async def test_own_short_noises_do_not_interrupt_and_off_mode_never_does() -> None:
    llm = ScriptedLLM(LONG_REPLY, first_token_s=0.05, tokens_per_s=200)
    async with Rig(providers(llm=llm), interruption={"mode": "off"}, turn={"silence_ms": 300}) as rig:
        await rig.say(0.4)
        await rig.say(0.4, voiced=False)
        await rig.wait_for(rig.speaking)
        await rig.say(0.5)
        assert rig.speaking() and not rig.ctx.turns[0].interrupted
    async with Rig(providers(llm=ScriptedLLM(LONG_REPLY, first_token_s=0.05)), turn={"silence_ms": 300}) as rig:
        await rig.say(0.4)
        await rig.say(0.4, voiced=False)
        await rig.wait_for(rig.speaking)
        await rig.say(0.1)  # 100 ms: under the 160 ms minimum
        await rig.say(0.2, voiced=False)
        assert rig.speaking() and not rig.ctx.turns[0].interrupted


async def test_llm_failure_reports_and_speaks_the_fallback_line() -> None:
    llm = ScriptedLLM(fail=ProviderError("scripted-llm", "connection refused", retryable=True), first_token_s=0.01)
    errors: list[tuple[str, str, str]] = []
    async with Rig(providers(llm=llm), turn={"silence_ms": 200}) as rig:
        rig.ctx.on_error = lambda *e: errors.append(e)
        await rig.say(0.3)
        await rig.say(0.3, voiced=False)
        await rig.wait_for(lambda: rig.ctx.turns and rig.ctx.turns[-1].spoken_text)
        assert errors[0][:2] == ("llm", "llm_failed") and "connection refused" in errors[0][2]
        assert rig.ctx.turns[-1].kind == "fallback"
        assert rig.ctx.turns[-1].spoken_text == rig.config.fallback_line


async def test_hung_providers_time_out_instead_of_hanging() -> None:
    stt = ScriptedSTT(hang=True, timeout=0.3)
    errors: list[tuple[str, str, str]] = []
    async with Rig(providers(stt=stt), turn={"silence_ms": 200}) as rig:
        rig.ctx.on_error = lambda *e: errors.append(e)
        await rig.say(0.3)
        await rig.say(0.3, voiced=False)
        await rig.wait_for(lambda: errors, timeout=3)
        assert errors[0][0] == "stt" and "no transcript" in errors[0][2]
        await rig.wait_for(lambda: rig.ctx.turns and rig.ctx.turns[-1].spoken_text)  # the fallback line
    tts = ScriptedTTS(hang=True, timeout=0.3)
    async with Rig(providers(tts=tts), turn={"silence_ms": 200}) as rig:
        rig.ctx.on_error = lambda *e: errors.append(e)
        await rig.say(0.3)
        await rig.say(0.3, voiced=False)
        await rig.wait_for(lambda: any(e[0] == "tts" for e in errors), timeout=3)
        await rig.wait_for(lambda: not rig.ctx.agent_busy)  # the turn ends; the agent listens again
        assert rig.ctx.state == "listening"
