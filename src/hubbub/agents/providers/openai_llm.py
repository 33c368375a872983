"""OpenAI-compatible chat completions, streamed (``POST {base_url}/chat/completions``).

Works with OpenAI, Azure-style gateways, vLLM, Ollama, llama.cpp's server, LM Studio and others
that speak the same protocol. This module also holds the HTTP plumbing shared by the
OpenAI-compatible STT and TTS providers: endpoint settings, one pooled ``httpx.AsyncClient`` per
provider and event loop, and the mapping of HTTP failures to :class:`ProviderError` (status and a
short reason, never the key; retryable for 408, 429 and 5xx and for connection failures).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from hubbub.schema import jsonsafe

from .base import LLM, ChatMessage, LlmCapabilities, LlmOptions, ProviderError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_MAX_ERROR_BODY = 4096
_MAX_REASON = 160


@dataclass(frozen=True, slots=True)
class OpenAIEndpoint:
    """Where and how to reach an OpenAI-compatible server."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # longest silence allowed between bytes of a response

    @classmethod
    def from_options(
        cls,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = None,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
    ) -> OpenAIEndpoint:
        """``api_key_env`` names an environment variable holding the key (keeps it out of config files)."""
        key = api_key
        if key is None and api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise ProviderError("openai", f"environment variable {api_key_env} is not set")
        return cls(
            base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
            api_key=key,
            headers=dict(headers or {}),
            connect_timeout=float(connect_timeout),
            read_timeout=float(read_timeout),
        )

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"

    def request_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers


class OpenAIHttp:
    """A pooled HTTP client for one provider, recreated if used from another event loop."""

    def __init__(self, provider: str, endpoint: OpenAIEndpoint, client: httpx.AsyncClient | None = None) -> None:
        self.provider = provider
        self.endpoint = endpoint
        self._client = client
        self._owned = client is None
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or (self._owned and (self._loop is not loop or self._client.is_closed)):
            timeout = httpx.Timeout(
                connect=self.endpoint.connect_timeout,
                read=self.endpoint.read_timeout,
                write=self.endpoint.read_timeout,
                pool=self.endpoint.connect_timeout,
            )
            self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._owned:
            await self._client.aclose()
        self._client = None

    def error_from_status(self, status: int, body: bytes) -> ProviderError:
        return ProviderError(
            self.provider,
            f"HTTP {status}: {self.reason(body) or httpx.codes.get_reason_phrase(status) or 'error'}",
            retryable=status in (408, 409, 425, 429) or status >= 500,
        )

    def error_from_exception(self, exc: httpx.HTTPError) -> ProviderError:
        if isinstance(exc, httpx.TimeoutException):
            return ProviderError(self.provider, f"timed out ({type(exc).__name__})", retryable=True)
        if isinstance(exc, httpx.TransportError):
            return ProviderError(self.provider, f"connection failed ({type(exc).__name__})", retryable=True)
        return ProviderError(self.provider, f"request failed ({type(exc).__name__})", retryable=False)

    def reason(self, body: bytes) -> str:
        """A short, single-line reason from an error body, without the API key."""
        text = body[:_MAX_ERROR_BODY].decode("utf-8", "replace")
        try:
            parsed: Any = jsonsafe.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            error = parsed.get("error", parsed)
            if isinstance(error, dict):
                error = error.get("message") or error.get("detail") or error.get("type") or ""
            elif "detail" in parsed and isinstance(parsed["detail"], str):
                error = parsed["detail"]
            text = error if isinstance(error, str) else json.dumps(error)[:_MAX_REASON]
        if self.endpoint.api_key:
            text = text.replace(self.endpoint.api_key, "***")
        text = re.sub(r"(?i)(bearer\s+|sk-)[A-Za-z0-9._\-]+", r"\1***", text)
        text = " ".join(text.split())
        return text[:_MAX_REASON] + ("..." if len(text) > _MAX_REASON else "")


async def _read_capped(response: httpx.Response) -> bytes:
    body = b""
    async for piece in response.aiter_bytes():
        body += piece
        if len(body) >= _MAX_ERROR_BODY:
            break
    return body


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The ``data`` payloads of a server-sent event stream (multi-line data joined with newlines)."""
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # comment / keep-alive
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


class OpenAILLM(LLM):
    """Streaming chat completions from any OpenAI-compatible server."""

    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        endpoint: OpenAIEndpoint | None = None,
        client: httpx.AsyncClient | None = None,
        extra_body: Mapping[str, Any] | None = None,
        context_tokens: int = 8192,
        first_token_timeout: float = 15.0,
    ) -> None:
        super().__init__(first_token_timeout=first_token_timeout)
        self.model = model
        self.endpoint = endpoint or OpenAIEndpoint()
        self.http = OpenAIHttp(self.name, self.endpoint, client)
        self.extra_body = dict(extra_body or {})
        self.capabilities = LlmCapabilities(streaming=True, local=False, context_tokens=int(context_tokens))

    async def aclose(self) -> None:
        await self.http.aclose()

    def _body(self, messages: list[ChatMessage], options: LlmOptions) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "temperature": options.temperature,
            "max_tokens": options.max_tokens,
        }
        if options.stop:
            body["stop"] = list(options.stop)
        body.update(self.extra_body)
        return body

    async def _chat(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncGenerator[str, None]:
        http = self.http
        headers = self.endpoint.request_headers() | {"Accept": "text/event-stream"}
        try:
            async with http.client().stream(
                "POST", self.endpoint.url("chat/completions"), json=self._body(messages, options), headers=headers
            ) as response:
                if not response.is_success:
                    raise http.error_from_status(response.status_code, await _read_capped(response))
                finished = False
                async for data in sse_events(response.aiter_lines()):
                    if data.strip() == "[DONE]":
                        return
                    delta, finish = self._parse_chunk(data)
                    finished = finished or finish
                    if delta:
                        yield delta
                if not finished:
                    raise ProviderError(self.name, "stream ended before the answer was complete", retryable=True)
        except httpx.HTTPError as exc:
            raise http.error_from_exception(exc) from None

    def _parse_chunk(self, data: str) -> tuple[str, bool]:
        try:
            chunk = jsonsafe.loads(data, what="a stream event")
        except ValueError:
            raise ProviderError(self.name, "malformed event in the stream", retryable=True) from None
        if not isinstance(chunk, dict):
            raise ProviderError(self.name, "malformed event in the stream", retryable=True)
        if "error" in chunk:
            reason = self.http.reason(json.dumps(chunk).encode())
            raise ProviderError(self.name, f"error in stream: {reason}", retryable=True)
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices:
            return "", False  # e.g. a usage-only chunk
        choice = choices[0] if isinstance(choices[0], dict) else {}
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        return (content if isinstance(content, str) else ""), bool(choice.get("finish_reason"))
