"""Scripted providers: deterministic fakes of every kind, for tests, benchmarks and demos.

- :class:`ScriptedLLM` streams given replies word by word after a fixed first-token delay, at a
  fixed token rate; it counts calls that were cancelled (interruption depends on that);
- :class:`ScriptedSTT` returns given texts in turn;
- :class:`ScriptedTTS` speaks a tone (or noise) whose length is proportional to the text;
- :class:`EnergyVAD` is a real, cheap detector: RMS energy against a threshold in dBFS.

Each can be told to fail (``fail=ProviderError(...)``) or hang (``hang=True``), to exercise the
agent's error handling without a broken network.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Callable, Sequence

import numpy as np

from hubbub.agents.providers.base import (
    LLM,
    STT,
    TTS,
    VAD,
    ChatMessage,
    LlmCapabilities,
    LlmOptions,
    ProviderError,
    SttCapabilities,
    Transcript,
    TtsCapabilities,
    VadCapabilities,
)

Reply = str | Sequence[str] | Callable[[list[ChatMessage]], str]


class ScriptedLLM(LLM):
    name = "scripted-llm"
    capabilities = LlmCapabilities(streaming=True, local=False)

    def __init__(
        self,
        replies: Reply = "Hello! How can I help you today?",
        *,
        first_token_s: float = 0.2,
        tokens_per_s: float = 50.0,
        fail: ProviderError | None = None,
        hang: bool = False,
        first_token_timeout: float = 15.0,
    ) -> None:
        super().__init__(first_token_timeout=first_token_timeout)
        self.replies = replies
        self.first_token_s = first_token_s
        self.tokens_per_s = tokens_per_s
        self.fail = fail
        self.hang = hang
        self.calls = 0
        self.cancelled = 0
        self.completed = 0
        self.last_messages: list[ChatMessage] = []

    def reply_for(self, messages: list[ChatMessage]) -> str:
        if callable(self.replies):
            return self.replies(messages)
        if isinstance(self.replies, str):
            return self.replies
        return self.replies[min(self.calls - 1, len(self.replies) - 1)]

    async def _chat(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncGenerator[str, None]:
        self.calls += 1
        self.last_messages = messages
        finished = False
        try:
            if self.hang:
                await asyncio.Event().wait()
            await asyncio.sleep(self.first_token_s)
            if self.fail is not None:
                raise self.fail
            words = self.reply_for(messages).split(" ")
            for i, word in enumerate(words):
                if i:
                    await asyncio.sleep(1 / self.tokens_per_s)
                yield word if i == 0 else " " + word
            finished = True
            self.completed += 1
        finally:
            if not finished and self.fail is None:
                self.cancelled += 1


class ScriptedSTT(STT):
    name = "scripted-stt"
    capabilities = SttCapabilities(sample_rate=16_000, interim=False)

    def __init__(
        self,
        texts: str | Sequence[str] = "hello",
        *,
        delay_s: float = 0.0,
        fail: ProviderError | None = None,
        hang: bool = False,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(timeout=timeout)
        self.texts = [texts] if isinstance(texts, str) else list(texts)
        self.delay_s = delay_s
        self.fail = fail
        self.hang = hang
        self.calls = 0
        self.audio_s: list[float] = []

    async def _transcribe(self, pcm: bytes, sample_rate: int, language: str | None) -> Transcript:
        self.calls += 1
        self.audio_s.append(len(pcm) / 2 / sample_rate)
        if self.hang:
            await asyncio.Event().wait()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail is not None:
            raise self.fail
        text = self.texts[min(self.calls - 1, len(self.texts) - 1)]
        return Transcript(text=text, language=language or "en", audio_s=self.audio_s[-1])


class ScriptedTTS(TTS):
    """A tone (``sound="tone"``) or white noise, ``seconds_per_char`` long per character, in chunks."""

    name = "scripted-tts"

    def __init__(
        self,
        *,
        sample_rate: int = 16_000,
        seconds_per_char: float = 0.05,
        first_audio_s: float = 0.0,
        chunk_s: float = 0.2,
        freq_hz: float = 330.0,
        amplitude: float = 0.3,
        sound: str = "tone",
        fail: ProviderError | None = None,
        hang: bool = False,
        timeout: float = 20.0,
    ) -> None:
        super().__init__(timeout=timeout)
        self.capabilities = TtsCapabilities(sample_rate=sample_rate, streaming=True)
        self.seconds_per_char = seconds_per_char
        self.first_audio_s = first_audio_s
        self.chunk_s = chunk_s
        self.freq_hz = freq_hz
        self.amplitude = amplitude
        self.sound = sound
        self.fail = fail
        self.hang = hang
        self.texts: list[str] = []

    def _samples(self, start: int, count: int) -> bytes:
        if self.sound == "noise":
            wave = np.random.default_rng(start).uniform(-1, 1, count) * self.amplitude
        else:
            n = np.arange(start, start + count, dtype=np.float64)
            wave = np.sin(2 * math.pi * self.freq_hz * n / self.capabilities.sample_rate) * self.amplitude
        return (wave * 32767).astype("<i2").tobytes()

    async def _synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        self.texts.append(text)
        if self.hang:
            await asyncio.Event().wait()
        if self.first_audio_s:
            await asyncio.sleep(self.first_audio_s)
        if self.fail is not None:
            raise self.fail
        rate = self.capabilities.sample_rate
        total = max(1, int(len(text) * self.seconds_per_char * rate))
        step = max(1, int(self.chunk_s * rate))
        for start in range(0, total, step):
            yield self._samples(start, min(step, total - start))


class EnergyVAD(VAD):
    """Speech probability from RMS energy: 0 below ``threshold_db`` dBFS, rising to 1 at +``span_db``."""

    name = "energy-vad"

    def __init__(
        self, *, sample_rate: int = 16_000, frame_ms: int = 20, threshold_db: float = -45.0, span_db: float = 6.0
    ) -> None:
        super().__init__()
        self.capabilities = VadCapabilities(sample_rate=sample_rate, frame_samples=sample_rate * frame_ms // 1000)
        self.threshold_db = threshold_db
        self.span_db = span_db

    async def _speech_probability(self, frame: bytes) -> float:
        return self.probability(frame)

    def probability(self, frame: bytes) -> float:
        samples = np.frombuffer(frame, dtype="<i2").astype(np.float64) / 32768.0
        if not len(samples):
            return 0.0
        rms = math.sqrt(float(np.mean(samples * samples)))
        db = 20 * math.log10(rms) if rms > 1e-9 else -120.0
        return min(1.0, max(0.0, 0.5 + (db - self.threshold_db) / self.span_db))
