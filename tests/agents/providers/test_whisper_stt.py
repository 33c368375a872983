from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hubbub.agents.providers.base import ProviderError
from hubbub.agents.providers.whisper_stt import WhisperSTT


async def test_transcribes_espeak_speech(whisper_stt: WhisperSTT, espeak_speech: Callable[..., bytes]) -> None:
    pcm = espeak_speech("What is the capital of France")
    result = await whisper_stt.transcribe(pcm, 16_000)
    text = result.text.lower()
    assert "capital" in text and "france" in text, result.text
    assert result.final and result.language == "en"
    assert result.audio_s == pytest.approx(len(pcm) / 32_000)
    assert whisper_stt.capabilities.interim is True


async def test_other_sample_rates_are_resampled(whisper_stt: WhisperSTT, espeak_speech: Callable[..., bytes]) -> None:
    result = await whisper_stt.transcribe(espeak_speech("Turn on the lights please", 48_000), 48_000)
    assert "lights" in result.text.lower(), result.text


async def test_empty_audio_and_unsupported_language(whisper_stt: WhisperSTT) -> None:
    assert (await whisper_stt.transcribe(b"", 16_000)).text == ""
    with pytest.raises(ProviderError, match="not supported"):
        await whisper_stt.transcribe(bytes(3200), 16_000, language="fr")


def test_the_model_is_loaded_once_and_shared(whisper_stt: WhisperSTT) -> None:
    other = WhisperSTT()
    assert other._model() is whisper_stt._model()


def test_a_missing_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    stt = WhisperSTT(model_path=str(tmp_path))
    with pytest.raises(ProviderError, match="no CTranslate2 Whisper model"):
        stt.preload()
