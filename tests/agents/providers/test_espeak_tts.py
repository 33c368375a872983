from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable
from typing import Any, cast

import pytest

from hubbub.agents.providers import espeak_tts
from hubbub.agents.providers.audio import rms_dbfs
from hubbub.agents.providers.base import ProviderError

SENTENCE = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def espeak(require: Callable[[bool, str], None]) -> None:
    require(espeak_tts.is_available(), "espeak-ng (Debian: apt-get install espeak-ng)")


@pytest.mark.parametrize("rate", [16_000, 48_000])
async def test_speaks_a_sentence_of_plausible_length(espeak: None, rate: int) -> None:
    tts = espeak_tts.EspeakTTS(sample_rate=rate)
    chunks = [c async for c in tts.synthesize(SENTENCE)]
    pcm = b"".join(chunks)
    seconds = len(pcm) / 2 / rate
    assert 1.5 < seconds < 5.0, seconds  # 9 words at 175 words per minute, plus pauses
    assert rms_dbfs(pcm) > -35  # speech, not silence
    assert len(chunks) > 1 and all(len(c) % 2 == 0 for c in chunks)  # streamed as it is synthesised
    assert tts.capabilities.sample_rate == rate and tts.capabilities.streaming


@pytest.mark.parametrize("rate", [16_000, 48_000])
async def test_round_trip_through_whisper_recovers_the_words(espeak: None, whisper_stt: Any, rate: int) -> None:
    # espeak's robotic voice trips tiny.en on some phrases ("a cup of" -> "a current"); these are stable.
    tts = espeak_tts.EspeakTTS(sample_rate=rate)
    pcm = b"".join([c async for c in tts.synthesize("Please call my mother tomorrow morning.")])
    text = (await whisper_stt.transcribe(pcm, rate)).text.lower()
    for word in ("please", "call", "mother", "tomorrow", "morning"):
        assert word in text, text


async def test_text_is_never_taken_for_an_option(espeak: None) -> None:
    tts = espeak_tts.EspeakTTS()
    pcm = b"".join([c async for c in tts.synthesize("--version -h")])
    assert len(pcm) > 16_000  # spoken, not a version banner
    assert [c async for c in tts.synthesize("   ")] == []


async def test_closing_early_kills_the_process(espeak: None) -> None:
    tts = espeak_tts.EspeakTTS()
    stream = cast(AsyncGenerator[bytes, None], tts.synthesize(SENTENCE * 20))
    async with contextlib.aclosing(stream):
        async for _ in stream:
            break
    assert tts.metrics.calls == 1


async def test_missing_program_and_bad_options() -> None:
    with pytest.raises(ProviderError, match="not found"):
        async for _ in espeak_tts.EspeakTTS(executable="no-such-espeak").synthesize("hi"):
            pass
    with pytest.raises(ValueError, match="voice"):
        espeak_tts.EspeakTTS(voice="-w /tmp/x")
    with pytest.raises(ValueError, match="rate"):
        espeak_tts.EspeakTTS(rate=5)
