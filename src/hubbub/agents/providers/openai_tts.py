"""OpenAI-compatible speech synthesis (``POST {base_url}/audio/speech``), streamed.

``response_format`` is ``"pcm"`` (raw 16-bit mono at ``source_rate``: 24 kHz for OpenAI) or
``"wav"`` (rate read from the header). Audio is resampled to the configured output rate as it
arrives, so playback can start before the whole sentence has been sent.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Literal

import httpx

from .audio import Resampler, WavError, WavStreamDecoder
from .base import TTS, ProviderError, TtsCapabilities
from .openai_llm import OpenAIEndpoint, OpenAIHttp, _read_capped


class OpenAITTS(TTS):
    name = "openai-tts"

    def __init__(
        self,
        *,
        model: str = "tts-1",
        voice: str = "alloy",
        endpoint: OpenAIEndpoint | None = None,
        client: httpx.AsyncClient | None = None,
        response_format: Literal["pcm", "wav"] = "pcm",
        source_rate: int = 24_000,
        sample_rate: int = 16_000,
        speed: float | None = None,
        timeout: float = 20.0,
    ) -> None:
        super().__init__(timeout=timeout)
        if response_format not in ("pcm", "wav"):
            raise ValueError(f"response_format must be 'pcm' or 'wav', not {response_format!r}")
        self.model = model
        self.voice = voice
        self.endpoint = endpoint or OpenAIEndpoint()
        self.http = OpenAIHttp(self.name, self.endpoint, client)
        self.response_format = response_format
        self.source_rate = int(source_rate)
        self.speed = speed
        self.capabilities = TtsCapabilities(sample_rate=int(sample_rate), streaming=True)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        if not text.strip():
            return
        body: dict[str, Any] = {
            "model": self.model,
            "input": text,
            "voice": self.voice,
            "response_format": self.response_format,
        }
        if self.speed is not None:
            body["speed"] = self.speed
        out_rate = self.capabilities.sample_rate
        try:
            async with self.http.client().stream(
                "POST", self.endpoint.url("audio/speech"), json=body, headers=self.endpoint.request_headers()
            ) as response:
                if not response.is_success:
                    raise self.http.error_from_status(response.status_code, await _read_capped(response))
                wav = WavStreamDecoder() if self.response_format == "wav" else None
                resampler = None if wav else Resampler(self.source_rate, out_rate)
                carry = b""
                async for piece in response.aiter_bytes():
                    if wav is not None:
                        pcm = wav.feed(piece)
                        if resampler is None and wav.sample_rate is not None:
                            resampler = Resampler(wav.sample_rate, out_rate)
                    else:
                        data = carry + piece
                        cut = len(data) - len(data) % 2
                        pcm, carry = data[:cut], data[cut:]
                    if pcm and resampler is not None:
                        out = resampler.process(pcm)
                        if out:
                            yield out
                if resampler is None:
                    raise ProviderError(self.name, "response ended before the WAV header", retryable=True)
                tail = resampler.flush()
                if tail:
                    yield tail
        except httpx.HTTPError as exc:
            raise self.http.error_from_exception(exc) from None
        except WavError as exc:
            raise ProviderError(self.name, f"bad WAV in response: {exc}", retryable=False) from None
