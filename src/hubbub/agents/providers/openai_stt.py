"""OpenAI-compatible transcription (``POST {base_url}/audio/transcriptions``, multipart WAV).

Works with OpenAI (``whisper-1``, ``gpt-4o-mini-transcribe``), faster-whisper servers, vLLM, and
others speaking the same protocol. One request per utterance; interim results would cost one
request each, so ``capabilities.interim`` is false.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from hubbub.schema import jsonsafe

from .audio import encode_wav
from .base import STT, ProviderError, SttCapabilities, Transcript
from .openai_llm import OpenAIEndpoint, OpenAIHttp


class OpenAISTT(STT):
    name = "openai-stt"

    def __init__(
        self,
        *,
        model: str = "whisper-1",
        endpoint: OpenAIEndpoint | None = None,
        client: httpx.AsyncClient | None = None,
        languages: Iterable[str] = ("en",),
        prompt: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(timeout=timeout)
        self.model = model
        self.endpoint = endpoint or OpenAIEndpoint()
        self.http = OpenAIHttp(self.name, self.endpoint, client)
        self.prompt = prompt
        self.capabilities = SttCapabilities(sample_rate=16_000, languages=tuple(languages), interim=False)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _transcribe(self, pcm: bytes, sample_rate: int, language: str | None) -> Transcript:
        audio_s = len(pcm) / 2 / sample_rate
        data: dict[str, str] = {"model": self.model, "response_format": "json"}
        if language:
            data["language"] = language.split("-")[0]
        if self.prompt:
            data["prompt"] = self.prompt
        files = {"file": ("audio.wav", encode_wav(pcm, sample_rate), "audio/wav")}
        try:
            response = await self.http.client().post(
                self.endpoint.url("audio/transcriptions"),
                data=data,
                files=files,
                headers=self.endpoint.request_headers(),
            )
        except httpx.HTTPError as exc:
            raise self.http.error_from_exception(exc) from None
        if not response.is_success:
            raise self.http.error_from_status(response.status_code, response.content)
        try:
            body: Any = jsonsafe.loads(response.content, what="the response")
        except ValueError:
            raise ProviderError(self.name, "response is not JSON", retryable=True) from None
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise ProviderError(self.name, "response has no 'text'", retryable=True)
        detected = body.get("language")
        return Transcript(
            text=text.strip(),
            language=detected if isinstance(detected, str) else (language or ""),
            final=True,
            audio_s=audio_s,
        )
