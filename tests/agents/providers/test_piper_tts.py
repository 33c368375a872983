"""Piper is an optional extra (GPL-3.0): skipped when not installed, unless models are required."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hubbub.agents.providers import piper_tts
from hubbub.agents.providers.audio import rms_dbfs


@pytest.fixture(scope="module")
def piper(require: Callable[[bool, str], None]) -> piper_tts.PiperTTS:
    require(piper_tts.is_available(), "piper-tts (optional extra, GPL-3.0)")
    tts = piper_tts.PiperTTS(sample_rate=16_000)
    tts.preload()
    return tts


async def test_speaks_each_sentence_as_a_chunk(piper: piper_tts.PiperTTS) -> None:
    chunks = [c async for c in piper.synthesize("Hello there. How are you today?")]
    assert len(chunks) == 2
    pcm = b"".join(chunks)
    assert 1.0 < len(pcm) / 32_000 < 5.0
    assert rms_dbfs(pcm) > -30


async def test_round_trip_through_whisper_recovers_the_words(piper: piper_tts.PiperTTS, whisper_stt: Any) -> None:
    pcm = b"".join([c async for c in piper.synthesize("The quick brown fox jumps over the lazy dog.")])
    text = (await whisper_stt.transcribe(pcm, 16_000)).text.lower()
    for word in ("quick", "brown", "fox", "lazy", "dog"):
        assert word in text, text


async def test_48k_output(piper: piper_tts.PiperTTS) -> None:
    tts = piper_tts.PiperTTS(sample_rate=48_000)
    pcm = b"".join([c async for c in tts.synthesize("Good morning.")])
    assert 0.4 < len(pcm) / 96_000 < 3.0
