"""The provider base retries a retryable failure once, before any output, within the call's timeout."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

import pytest

from hubbub.agents.providers.base import ChatMessage, LlmOptions, ProviderError, Transcript
from hubbub.agents.providers.scripted import ScriptedLLM, ScriptedSTT, ScriptedTTS

MESSAGES = [ChatMessage("user", "hi")]
PCM = b"\x00\x00" * 1600


def transient(name: str) -> ProviderError:
    return ProviderError(name, "HTTP 503: overloaded", retryable=True)


class FlakyLLM(ScriptedLLM):
    """Fails its first ``failures`` calls with ``error`` before the first token, then answers."""

    def __init__(self, error: ProviderError, failures: int = 1, first_token_timeout: float = 15.0) -> None:
        super().__init__("Hello there", first_token_s=0.01, tokens_per_s=1000, first_token_timeout=first_token_timeout)
        self.error, self.failures = error, failures

    async def _chat(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncGenerator[str, None]:
        self.fail = self.error if self.calls < self.failures else None
        async for delta in super()._chat(messages, options):
            yield delta


class FlakySTT(ScriptedSTT):
    def __init__(self, error: ProviderError, failures: int = 1) -> None:
        super().__init__("hello")
        self.error, self.failures = error, failures

    async def _transcribe(self, pcm: bytes, sample_rate: int, language: str | None) -> Transcript:
        self.fail = self.error if self.calls < self.failures else None
        return await super()._transcribe(pcm, sample_rate, language)


class FlakyTTS(ScriptedTTS):
    def __init__(self, error: ProviderError, failures: int = 1, timeout: float = 20.0) -> None:
        super().__init__(seconds_per_char=0.01, timeout=timeout)
        self.error, self.failures = error, failures

    async def _synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        self.fail = self.error if len(self.texts) < self.failures else None
        async for chunk in super()._synthesize(text):
            yield chunk


async def reply(llm: ScriptedLLM) -> str:
    return "".join([d async for d in llm.chat(MESSAGES)])


async def test_a_retryable_llm_failure_before_the_first_token_is_retried_once() -> None:
    llm = FlakyLLM(transient("scripted-llm"))
    assert await reply(llm) == "Hello there"
    assert llm.calls == 2
    assert (llm.metrics.calls, llm.metrics.errors) == (1, 0)


async def test_an_llm_failure_that_persists_or_is_not_retryable_is_raised() -> None:
    llm = FlakyLLM(transient("scripted-llm"), failures=5)
    with pytest.raises(ProviderError, match="overloaded"):
        await reply(llm)
    assert llm.calls == 2 and (llm.metrics.calls, llm.metrics.errors) == (1, 1)
    llm = FlakyLLM(ProviderError("scripted-llm", "HTTP 401: bad key", retryable=False))
    with pytest.raises(ProviderError, match="bad key"):
        await reply(llm)
    assert llm.calls == 1


async def test_a_timeout_is_not_retried_and_a_retry_stays_within_the_timeout() -> None:
    llm = ScriptedLLM(hang=True, first_token_timeout=0.3)
    started = time.perf_counter()
    with pytest.raises(ProviderError, match="no first token"):
        await reply(llm)
    assert llm.calls == 1 and time.perf_counter() - started < 0.6
    llm = FlakyLLM(transient("scripted-llm"), first_token_timeout=0.4)  # no room for a 0.25 s backoff
    with pytest.raises(ProviderError, match="overloaded"):
        await reply(llm)
    assert llm.calls == 1


async def test_a_failure_after_the_first_token_is_not_retried() -> None:
    class Broken(ScriptedLLM):
        async def _chat(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncGenerator[str, None]:
            self.calls += 1
            yield "Hello"
            raise transient(self.name)

    llm, received = Broken(), []
    with pytest.raises(ProviderError, match="overloaded"):
        async for delta in llm.chat(MESSAGES):
            received.append(delta)
    assert received == ["Hello"] and llm.calls == 1


async def test_stt_retries_a_retryable_failure_once() -> None:
    stt = FlakySTT(transient("scripted-stt"))
    assert (await stt.transcribe(PCM, 16_000)).text == "hello"
    assert stt.calls == 2 and (stt.metrics.calls, stt.metrics.errors) == (1, 0)
    stt = FlakySTT(transient("scripted-stt"), failures=5)
    with pytest.raises(ProviderError, match="overloaded"):
        await stt.transcribe(PCM, 16_000)
    assert stt.calls == 2


async def test_tts_retries_a_retryable_failure_before_the_first_audio_once() -> None:
    tts = FlakyTTS(transient("scripted-tts"))
    audio = b"".join([chunk async for chunk in tts.synthesize("Hi there.")])
    assert audio and tts.texts == ["Hi there.", "Hi there."]
    assert (tts.metrics.calls, tts.metrics.errors) == (1, 0)
    tts = FlakyTTS(ProviderError("scripted-tts", "bad voice", retryable=False))
    with pytest.raises(ProviderError, match="bad voice"):
        async for _ in tts.synthesize("Hi."):
            pass
    assert tts.texts == ["Hi."]
