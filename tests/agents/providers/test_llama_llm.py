"""The embedded llama.cpp provider with SmolLM2-135M-Instruct (demo quality).

The Paris prompt is greedy (temperature 0) and its system prompt asks for one short sentence:
with that the 135M model answers "The capital of France is Paris." every time (a bare system
prompt such as "You are a concise geography assistant." makes it ramble in French).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from typing import cast

import pytest

from hubbub.agents.providers.base import ChatMessage, LlmOptions, ProviderError
from hubbub.agents.providers.llama_llm import LlamaLLM

SYSTEM = ChatMessage("system", "You are a helpful assistant. Answer in one short sentence.")
LONG = [ChatMessage("user", "Write a very long story about a dragon who learns to cook.")]


async def test_answers_a_simple_question(llama_llm: LlamaLLM) -> None:
    messages = [SYSTEM, ChatMessage("user", "What is the capital of France?")]
    deltas = [d async for d in llama_llm.chat(messages, LlmOptions(temperature=0.0, max_tokens=40))]
    assert len(deltas) > 1  # streamed, not one blob
    assert "Paris" in "".join(deltas)
    assert llama_llm.capabilities.local and llama_llm.capabilities.streaming


async def test_cancelling_the_consumer_stops_generation_within_about_a_token(llama_llm: LlamaLLM) -> None:
    received: list[str] = []

    async def consume() -> None:
        async for delta in llama_llm.chat(LONG, LlmOptions(temperature=0.0, max_tokens=400)):
            received.append(delta)

    task = asyncio.create_task(consume())
    while len(received) < 3:
        await asyncio.sleep(0.002)
    started = time.perf_counter()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    stopped_ms = (time.perf_counter() - started) * 1000
    assert llama_llm.active_generations == 0  # the pool thread is free again
    assert stopped_ms < 300, f"generation went on for {stopped_ms:.0f} ms after cancellation"
    assert len(received) < 20


async def test_closing_the_iterator_stops_generation(llama_llm: LlamaLLM) -> None:
    count = 0
    stream = cast(AsyncGenerator[str, None], llama_llm.chat(LONG, LlmOptions(temperature=0.0, max_tokens=400)))
    async with contextlib.aclosing(stream):
        async for _ in stream:
            count += 1
            if count == 3:
                break
    assert llama_llm.active_generations == 0


async def test_concurrent_conversations_share_the_model_in_turn(llama_llm: LlamaLLM) -> None:
    async def ask(question: str) -> str:
        messages = [SYSTEM, ChatMessage("user", question)]
        return "".join([d async for d in llama_llm.chat(messages, LlmOptions(temperature=0.0, max_tokens=24))])

    one, two = await asyncio.gather(ask("What is the capital of France?"), ask("What is the capital of France?"))
    assert one == two and "Paris" in one


async def test_a_missing_model_file_is_a_provider_error() -> None:
    llm = LlamaLLM(model_path="/nonexistent/model.gguf")
    with pytest.raises(ProviderError, match="no GGUF model"):
        async for _ in llm.chat([ChatMessage("user", "hi")]):
            pass
    assert llm.metrics.errors == 1 and llm.active_generations == 0
