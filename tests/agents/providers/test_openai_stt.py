from __future__ import annotations

import email.policy
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from email.parser import BytesParser
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hubbub.agents.providers.audio import decode_wav
from hubbub.agents.providers.base import ProviderError
from hubbub.agents.providers.openai_llm import OpenAIEndpoint
from hubbub.agents.providers.openai_stt import OpenAISTT

KEY = "sk-stt-key"
Serve = Callable[[Any], AbstractAsyncContextManager[str]]


class TranscriptionServer:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/v1/audio/transcriptions", self.transcribe, methods=["POST"])])

    async def transcribe(self, request: Request) -> Response:
        # multipart/form-data parsed with the standard library (no python-multipart needed)
        content_type = request.headers["content-type"]
        raw = b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + await request.body()
        message = BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        fields: dict[str, str] = {}
        upload: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            assert isinstance(name, str) and isinstance(payload, bytes)
            if part.get_filename():
                upload = {"filename": part.get_filename(), "type": part.get_content_type(), "data": payload}
            else:
                fields[name] = payload.decode()
        pcm, rate = decode_wav(upload["data"])
        self.seen.append(
            {
                "auth": request.headers.get("authorization"),
                "content_type": content_type.split(";")[0],
                "filename": upload["filename"],
                "file_type": upload["type"],
                "fields": fields,
                "rate": rate,
                "samples": len(pcm) // 2,
            }
        )
        if fields["model"] == "busy":
            return JSONResponse({"error": {"message": "try later"}}, 503)
        if fields["model"] == "garbled":
            return PlainTextResponse("not json")
        return JSONResponse({"text": "  What is the capital of France?  ", "language": "english"})


@pytest.fixture
async def server(serve_app: Serve) -> AsyncIterator[tuple[TranscriptionServer, str]]:
    scripted = TranscriptionServer()
    async with serve_app(scripted.app) as url:
        yield scripted, url + "/v1/"


def stt(url: str, model: str = "whisper-1") -> OpenAISTT:
    return OpenAISTT(model=model, endpoint=OpenAIEndpoint(base_url=url, api_key=KEY), prompt="geography")


async def test_posts_a_multipart_wav_and_returns_the_transcript(server: tuple[TranscriptionServer, str]) -> None:
    scripted, url = server
    provider = stt(url)
    pcm = bytes(16_000 * 2)  # one second
    result = await provider.transcribe(pcm, 16_000, language="en-US")
    await provider.aclose()
    assert result.text == "What is the capital of France?"
    assert result.language == "english" and result.audio_s == pytest.approx(1.0)
    assert scripted.seen == [
        {
            "auth": f"Bearer {KEY}",
            "content_type": "multipart/form-data",
            "filename": "audio.wav",
            "file_type": "audio/wav",
            "fields": {"model": "whisper-1", "response_format": "json", "language": "en", "prompt": "geography"},
            "rate": 16_000,
            "samples": 16_000,
        }
    ]
    assert provider.capabilities.interim is False


async def test_errors(server: tuple[TranscriptionServer, str]) -> None:
    _, url = server
    with pytest.raises(ProviderError, match="HTTP 503: try later") as caught:
        await stt(url, "busy").transcribe(bytes(320), 16_000)
    assert caught.value.retryable
    with pytest.raises(ProviderError, match="not JSON"):
        await stt(url, "garbled").transcribe(bytes(320), 16_000)


async def test_wrong_path_is_a_non_retryable_error(server: tuple[TranscriptionServer, str]) -> None:
    _, url = server
    provider = OpenAISTT(endpoint=OpenAIEndpoint(base_url=url + "nope"))
    with pytest.raises(ProviderError, match="HTTP 404") as caught:
        await provider.transcribe(bytes(320), 16_000)
    assert not caught.value.retryable
