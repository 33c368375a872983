from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hubbub.agents.providers.audio import encode_wav, pcm_to_int16
from hubbub.agents.providers.base import ProviderError
from hubbub.agents.providers.openai_llm import OpenAIEndpoint
from hubbub.agents.providers.openai_tts import OpenAITTS

Serve = Callable[[Any], AbstractAsyncContextManager[str]]


def tone(rate: int, seconds: float, freq: float = 440.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * 0.4 * 32767).astype("<i2").tobytes()


class SpeechServer:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.app = Starlette(routes=[Route("/audio/speech", self.speech, methods=["POST"])])

    async def speech(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.bodies.append(body)
        self.auth.append(request.headers.get("authorization"))
        if body["voice"] == "forbidden":
            return JSONResponse({"error": {"message": "invalid api key"}}, 401)
        audio = tone(24_000, 0.5) if body["response_format"] == "pcm" else encode_wav(tone(22_050, 0.5), 22_050)

        async def pieces() -> AsyncIterator[bytes]:
            for i in range(0, len(audio), 777):  # odd sizes: samples split across pieces
                yield audio[i : i + 777]

        return StreamingResponse(pieces(), media_type="application/octet-stream")


@pytest.fixture
async def server(serve_app: Serve) -> AsyncIterator[tuple[SpeechServer, str]]:
    scripted = SpeechServer()
    async with serve_app(scripted.app) as url:
        yield scripted, url


def dominant_hz(pcm: bytes, rate: int) -> float:
    x = pcm_to_int16(pcm).astype(np.float64)
    return float(np.argmax(np.abs(np.fft.rfft(x))) * rate / len(x))


@pytest.mark.parametrize(("fmt", "rate"), [("pcm", 16_000), ("pcm", 48_000), ("wav", 16_000), ("wav", 48_000)])
async def test_streams_audio_resampled_to_the_output_rate(
    server: tuple[SpeechServer, str], fmt: str, rate: int
) -> None:
    scripted, url = server
    tts = OpenAITTS(
        endpoint=OpenAIEndpoint(base_url=url, api_key="k"),
        voice="nova",
        response_format=fmt,  # type: ignore[arg-type]
        sample_rate=rate,
        speed=1.2,
    )
    chunks = [c async for c in tts.synthesize("Hello there.")]
    await tts.aclose()
    pcm = b"".join(chunks)
    assert len(chunks) > 1 and all(len(c) % 2 == 0 for c in chunks)
    assert len(pcm) // 2 == pytest.approx(rate * 0.5, abs=2)
    assert dominant_hz(pcm, rate) == pytest.approx(440, abs=3)
    assert scripted.bodies[0] == {
        "model": "tts-1",
        "input": "Hello there.",
        "voice": "nova",
        "response_format": fmt,
        "speed": 1.2,
    }
    assert scripted.auth == ["Bearer k"]
    assert tts.capabilities.streaming and tts.capabilities.sample_rate == rate


async def test_auth_error_is_not_retryable(server: tuple[SpeechServer, str]) -> None:
    _, url = server
    tts = OpenAITTS(endpoint=OpenAIEndpoint(base_url=url), voice="forbidden")
    with pytest.raises(ProviderError, match="HTTP 401: invalid api key") as caught:
        async for _ in tts.synthesize("Hi"):
            pass
    assert not caught.value.retryable


async def test_empty_text_makes_no_request(server: tuple[SpeechServer, str]) -> None:
    scripted, url = server
    tts = OpenAITTS(endpoint=OpenAIEndpoint(base_url=url))
    assert [c async for c in tts.synthesize("  ")] == []
    assert scripted.bodies == []


def test_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="response_format"):
        OpenAITTS(response_format="mp3")  # type: ignore[arg-type]
