from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hubbub.agents.providers.base import ChatMessage, LlmOptions, ProviderError
from hubbub.agents.providers.openai_llm import OpenAIEndpoint, OpenAILLM, sse_events

KEY = "sk-test-secret-123456"
Serve = Callable[[Any], AbstractAsyncContextManager[str]]


class ScriptedServer:
    """Chat completions whose behaviour is picked by the requested model name."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.release = asyncio.Event()
        self.stream_closed = asyncio.Event()
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    @staticmethod
    def event(payload: object) -> bytes:
        return f"data: {json.dumps(payload)}\n\n".encode()

    def delta(self, text: str, finish: str | None = None) -> bytes:
        return self.event({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]})

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append((dict(request.headers), body))
        model = body["model"]
        if model.startswith("status-"):
            status = int(model.removeprefix("status-"))
            return JSONResponse({"error": {"message": f"Rate limited for key {KEY}, slow down", "type": "x"}}, status)
        if model == "html-error":
            return Response("<html><body>Bad\n gateway</body></html>", 502, media_type="text/html")
        return StreamingResponse(self.streams[model](self), media_type="text/event-stream")

    async def ok(self) -> AsyncIterator[bytes]:
        yield b": keep-alive comment\n\n"
        yield self.event({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
        for word in ["The", " capital", " is", " Paris."]:
            yield self.delta(word)
        yield self.delta("", "stop")
        yield self.event({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
        yield b"data: [DONE]\n\n"

    async def stall(self) -> AsyncIterator[bytes]:
        yield b": accepted\n\n"
        await self.release.wait()

    async def slow(self) -> AsyncIterator[bytes]:
        try:
            for i in range(1000):
                yield self.delta(f" w{i}")
                await asyncio.sleep(0.01)
        finally:
            self.stream_closed.set()

    async def broken(self) -> AsyncIterator[bytes]:
        yield self.delta("Hello")
        await asyncio.sleep(0.05)
        raise RuntimeError("server died mid-stream")  # uvicorn drops the connection: incomplete chunked body

    async def malformed(self) -> AsyncIterator[bytes]:
        yield self.delta("Hello")
        yield b"data: {not json\n\n"

    async def no_done(self) -> AsyncIterator[bytes]:
        yield self.delta("Hello")

    async def error_event(self) -> AsyncIterator[bytes]:
        yield self.delta("Hel")
        yield self.event({"error": {"message": "model overloaded", "type": "server_error"}})

    streams: dict[str, Callable[[ScriptedServer], AsyncIterator[bytes]]] = {
        "ok": ok,
        "stall": stall,
        "slow": slow,
        "broken": broken,
        "malformed": malformed,
        "no-done": no_done,
        "error-event": error_event,
    }


@pytest.fixture
async def server(serve_app: Serve) -> AsyncIterator[tuple[ScriptedServer, str]]:
    scripted = ScriptedServer()
    async with serve_app(scripted.app) as url:
        yield scripted, url + "/v1"
        scripted.release.set()


def llm(url: str, model: str, **kwargs: Any) -> OpenAILLM:
    endpoint = OpenAIEndpoint(base_url=url, api_key=KEY, headers={"X-Tenant": "acme"}, read_timeout=5)
    return OpenAILLM(model=model, endpoint=endpoint, **kwargs)


MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "Capital of France?")]


async def collect(provider: OpenAILLM, options: LlmOptions | None = None) -> list[str]:
    try:
        return [d async for d in provider.chat(MESSAGES, options)]
    finally:
        await provider.aclose()


async def test_streams_deltas_and_sends_the_expected_request(server: tuple[ScriptedServer, str]) -> None:
    scripted, url = server
    provider = llm(url, "ok", extra_body={"top_p": 0.5})
    assert await collect(provider, LlmOptions(temperature=0.2, max_tokens=32, stop=["\n\n"])) == [
        "The",
        " capital",
        " is",
        " Paris.",
    ]
    headers, body = scripted.requests[0]
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["x-tenant"] == "acme"
    assert body == {
        "model": "ok",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}],
        "stream": True,
        "temperature": 0.2,
        "max_tokens": 32,
        "stop": ["\n\n"],
        "top_p": 0.5,
    }
    assert provider.metrics.calls == 1 and provider.metrics.errors == 0


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (500, True), (503, True), (400, False), (401, False)])
async def test_http_errors_carry_status_and_reason_but_never_the_key(
    server: tuple[ScriptedServer, str], status: int, retryable: bool
) -> None:
    _, url = server
    with pytest.raises(ProviderError) as caught:
        await collect(llm(url, f"status-{status}"))
    error = caught.value
    assert error.retryable is retryable
    assert f"HTTP {status}" in str(error) and "Rate limited" in str(error)
    assert KEY not in str(error) and "secret" not in str(error)


async def test_a_non_json_error_body_becomes_a_short_single_line_reason(server: tuple[ScriptedServer, str]) -> None:
    _, url = server
    with pytest.raises(ProviderError, match=r"HTTP 502: <html><body>Bad gateway</body></html>") as caught:
        await collect(llm(url, "html-error"))
    assert caught.value.retryable


async def test_a_stalled_server_hits_the_first_token_timeout(server: tuple[ScriptedServer, str]) -> None:
    _, url = server
    provider = llm(url, "stall", first_token_timeout=0.3)
    started = asyncio.get_running_loop().time()
    with pytest.raises(ProviderError, match="no first token") as caught:
        await collect(provider)
    assert caught.value.retryable
    assert asyncio.get_running_loop().time() - started < 2


async def test_a_connection_dropped_mid_stream_is_a_retryable_error(server: tuple[ScriptedServer, str]) -> None:
    _, url = server
    received: list[str] = []
    with pytest.raises(ProviderError, match="connection failed") as caught:
        async for delta in llm(url, "broken").chat(MESSAGES):
            received.append(delta)
    assert received == ["Hello"] and caught.value.retryable


@pytest.mark.parametrize(
    ("model", "message"),
    [("malformed", "malformed event"), ("no-done", "ended before"), ("error-event", "model overloaded")],
)
async def test_bad_streams_are_provider_errors(server: tuple[ScriptedServer, str], model: str, message: str) -> None:
    _, url = server
    with pytest.raises(ProviderError, match=message):
        await collect(llm(url, model))


async def test_cancelling_the_consumer_closes_the_http_stream(server: tuple[ScriptedServer, str]) -> None:
    scripted, url = server
    provider = llm(url, "slow")
    received: list[str] = []

    async def consume() -> None:
        async for delta in provider.chat(MESSAGES):
            received.append(delta)

    task = asyncio.create_task(consume())
    while len(received) < 3:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(scripted.stream_closed.wait(), 2)  # the server saw the client go away
    await provider.aclose()


async def test_connection_refused_is_retryable() -> None:
    provider = OpenAILLM(model="x", endpoint=OpenAIEndpoint(base_url="http://127.0.0.1:9", connect_timeout=2))
    with pytest.raises(ProviderError, match="connection failed") as caught:
        await collect(provider)
    assert caught.value.retryable


def test_endpoint_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBBUB_TEST_LLM_KEY", "sk-from-env")
    endpoint = OpenAIEndpoint.from_options(base_url="http://h/v1/", api_key_env="HUBBUB_TEST_LLM_KEY")
    assert endpoint.request_headers() == {"Authorization": "Bearer sk-from-env"}
    assert endpoint.url("chat/completions") == "http://h/v1/chat/completions"
    assert "sk-from-env" not in repr(endpoint)
    with pytest.raises(ProviderError, match="HUBBUB_TEST_MISSING is not set"):
        OpenAIEndpoint.from_options(api_key_env="HUBBUB_TEST_MISSING")


async def test_sse_parser_joins_multi_line_data_and_skips_comments() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in [": hi", "event: message", "data: a", "data:b", "", "", "id: 3", "data: c\r", ""]:
            yield line

    assert [e async for e in sse_events(lines())] == ["a\nb", "c"]
