from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest

from hubbub.agents.providers import silero_vad
from hubbub.agents.providers.base import ProviderError

FRAME_BYTES = silero_vad.FRAME_SAMPLES * 2


@pytest.fixture(scope="module")
def vad_available(require: Callable[[bool, str], None]) -> None:
    require(silero_vad.is_available(), "silero-vad + onnxruntime (pip install --no-deps silero-vad onnxruntime)")
    silero_vad.SileroVAD.preload()


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


async def probabilities(vad: silero_vad.SileroVAD, pcm: bytes) -> list[float]:
    return [await vad.speech_probability(f) for f in frames(pcm)]


async def test_speech_is_detected_and_silence_and_noise_are_not(
    vad_available: None, espeak_speech: Callable[..., bytes]
) -> None:
    vad = silero_vad.SileroVAD()
    assert vad.capabilities.sample_rate == 16_000 and vad.capabilities.frame_samples == 512
    speech = await probabilities(vad, espeak_speech("The weather is lovely today, let us go for a walk."))
    voiced = sum(p > 0.5 for p in speech) / len(speech)
    assert voiced > 0.7, np.round(speech, 2)
    assert max(speech) > 0.95

    vad.reset()
    silence = await probabilities(vad, bytes(16_000 * 2))
    assert max(silence) < 0.1

    vad.reset()
    noise = np.random.default_rng(7).normal(0, 3000, 16_000 * 2).clip(-32768, 32767).astype("<i2").tobytes()
    assert max(await probabilities(vad, noise)) < 0.3


async def test_each_stream_keeps_its_own_state(vad_available: None, espeak_speech: Callable[..., bytes]) -> None:
    a_pcm = espeak_speech("Good morning")
    b_pcm = np.random.default_rng(3).normal(0, 500, len(a_pcm) // 2).astype("<i2").tobytes()
    alone_a = await probabilities(silero_vad.SileroVAD(), a_pcm)
    alone_b = await probabilities(silero_vad.SileroVAD(), b_pcm)
    a, b = silero_vad.SileroVAD(), silero_vad.SileroVAD()
    mixed_a, mixed_b = [], []
    for fa, fb in zip(frames(a_pcm), frames(b_pcm), strict=True):
        mixed_a.append(await a.speech_probability(fa))
        mixed_b.append(await b.speech_probability(fb))
    assert mixed_a == pytest.approx(alone_a, abs=1e-6)
    assert mixed_b == pytest.approx(alone_b, abs=1e-6)


async def test_reset_forgets_the_stream(vad_available: None, espeak_speech: Callable[..., bytes]) -> None:
    vad = silero_vad.SileroVAD()
    pcm = espeak_speech("Hello there")
    first = await probabilities(vad, pcm)
    vad.reset()
    assert await probabilities(vad, pcm) == pytest.approx(first, abs=1e-6)


async def test_wrong_frame_size_is_an_error(vad_available: None) -> None:
    vad = silero_vad.SileroVAD()
    with pytest.raises(ProviderError, match="512 samples"):
        await vad.speech_probability(bytes(320 * 2))
    assert vad.metrics.errors == 1


def test_a_frame_costs_well_under_its_duration(vad_available: None) -> None:
    vad = silero_vad.SileroVAD()
    frame = np.random.default_rng(1).normal(0, 1000, 512).astype("<i2").tobytes()
    vad.process_frame(frame)
    started = time.perf_counter()
    for _ in range(100):
        vad.process_frame(frame)
    per_frame_ms = (time.perf_counter() - started) * 10
    assert per_frame_ms < 8, f"{per_frame_ms:.2f} ms per 32 ms frame"
