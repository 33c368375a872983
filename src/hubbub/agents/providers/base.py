"""One interface per provider kind: VAD, STT, LLM, TTS.

Each kind has a capabilities record and a public method that handles timeouts, errors and
metrics; implementations override the ``_``-prefixed method only. Audio crosses these interfaces
as 16-bit signed little-endian mono PCM (``bytes``) with an explicit sample rate.

A :class:`ProviderError` marked ``retryable`` that STT, LLM or TTS raise before their result (the
transcript, the first token, the first audio) is retried once, after ``retry_backoff`` seconds,
if the call's timeout leaves room for it; a timeout itself, or a failure after output has started,
is not retried.

CPU-heavy inference (onnxruntime, CTranslate2, llama.cpp, piper) runs through
:func:`run_blocking` on one bounded pool shared by every agent in the process, so the event loop
never stalls and many agents share the cores fairly. Those libraries release the GIL while they
compute.
"""

from __future__ import annotations

import asyncio
import os
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, TypeVar

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None


def inference_pool() -> ThreadPoolExecutor:
    """The process-wide pool for blocking inference (size: $HUBBUB_INFERENCE_THREADS or the core count)."""
    global _pool
    if _pool is None:
        size = int(os.environ.get("HUBBUB_INFERENCE_THREADS", "0")) or (os.cpu_count() or 2)
        _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="hubbub-inference")
    return _pool


async def run_blocking(fn: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(inference_pool(), fn, *args)


RETRY_BACKOFF_S = 0.25  # the pause before the one retry of a retryable failure


class ProviderError(Exception):
    """A provider failed. ``retryable`` says whether the same call may succeed if repeated."""

    def __init__(self, provider: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.retryable = retryable


def _may_retry(error: ProviderError, deadline: float, backoff: float) -> bool:
    """Whether one retry fits: the error says so and the backoff leaves as much again of the budget."""
    return error.retryable and deadline - time.perf_counter() > 2 * backoff


async def _first_retried(
    make: Callable[[], AsyncGenerator[T, None]],
    deadline: float,
    backoff: float,
    on_timeout: Callable[[], ProviderError],
) -> AsyncGenerator[T, None]:
    """The items of ``make()``; a retryable failure before the first item starts it once more.

    The first item must come by ``deadline`` (``on_timeout()`` is raised otherwise, never retried);
    a failure after output started is raised as it is.
    """
    stream, retried = make(), False
    try:
        while True:
            try:
                first = await asyncio.wait_for(anext(stream), deadline - time.perf_counter())
                break
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise on_timeout() from None
            except ProviderError as error:
                if retried or not _may_retry(error, deadline, backoff):
                    raise
                retried = True
                await stream.aclose()
                await asyncio.sleep(backoff)
                stream = make()
        yield first
        async for item in stream:
            yield item
    finally:
        await stream.aclose()


@dataclass(slots=True)
class ProviderMetrics:
    calls: int = 0
    errors: int = 0
    total_s: float = 0.0
    last_s: float = 0.0

    def record(self, seconds: float, ok: bool) -> None:
        self.calls += 1
        self.total_s += seconds
        self.last_s = seconds
        if not ok:
            self.errors += 1


# --- VAD ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VadCapabilities:
    sample_rate: int  # the rate frames must have
    frame_samples: int  # samples per frame given to speech_probability


class VAD(ABC):
    """Voice activity: a speech probability per fixed-size frame. Stateful per audio stream."""

    name = "vad"
    capabilities: VadCapabilities

    def __init__(self) -> None:
        self.metrics = ProviderMetrics()

    async def speech_probability(self, frame: bytes) -> float:
        started = time.perf_counter()
        try:
            p = await self._speech_probability(frame)
        except ProviderError:
            self.metrics.record(time.perf_counter() - started, False)
            raise
        self.metrics.record(time.perf_counter() - started, True)
        return p

    @abstractmethod
    async def _speech_probability(self, frame: bytes) -> float: ...

    def reset(self) -> None:  # noqa: B027 - stateless detectors need not override it
        """Forget the stream's state (between utterances or streams)."""


# --- STT ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SttCapabilities:
    sample_rate: int = 16_000
    languages: tuple[str, ...] = ("en",)
    interim: bool = False  # cheap enough to call repeatedly on a growing utterance


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str = ""
    final: bool = True
    audio_s: float = 0.0


class STT(ABC):
    name = "stt"
    capabilities: SttCapabilities

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.retry_backoff = RETRY_BACKOFF_S
        self.metrics = ProviderMetrics()

    async def transcribe(self, pcm: bytes, sample_rate: int, *, language: str | None = None) -> Transcript:
        started = time.perf_counter()
        deadline = started + self.timeout
        retried = False
        while True:
            try:
                result = await asyncio.wait_for(
                    self._transcribe(pcm, sample_rate, language), deadline - time.perf_counter()
                )
                break
            except TimeoutError:
                self.metrics.record(time.perf_counter() - started, False)
                raise ProviderError(self.name, f"no transcript within {self.timeout:.0f} s", retryable=True) from None
            except ProviderError as error:
                if not retried and _may_retry(error, deadline, self.retry_backoff):
                    retried = True
                    await asyncio.sleep(self.retry_backoff)
                    continue
                self.metrics.record(time.perf_counter() - started, False)
                raise
        self.metrics.record(time.perf_counter() - started, True)
        return result

    @abstractmethod
    async def _transcribe(self, pcm: bytes, sample_rate: int, language: str | None) -> Transcript: ...


# --- LLM ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class LlmCapabilities:
    streaming: bool = True
    local: bool = False
    context_tokens: int = 8192


@dataclass(slots=True)
class LlmOptions:
    temperature: float = 0.7
    max_tokens: int = 256
    stop: Sequence[str] = field(default_factory=tuple)


class LLM(ABC):
    """Chat completion as a stream of text deltas. Cancelling the consuming task (or closing the
    iterator) must stop generation promptly: interruption depends on it."""

    name = "llm"
    capabilities: LlmCapabilities

    def __init__(self, first_token_timeout: float = 15.0) -> None:
        self.first_token_timeout = first_token_timeout
        self.retry_backoff = RETRY_BACKOFF_S
        self.metrics = ProviderMetrics()

    async def chat(self, messages: Sequence[ChatMessage], options: LlmOptions | None = None) -> AsyncIterator[str]:
        started = time.perf_counter()
        history, opts = list(messages), options or LlmOptions()

        def timed_out() -> ProviderError:
            return ProviderError(self.name, f"no first token within {self.first_token_timeout:.0f} s", retryable=True)

        deadline = started + self.first_token_timeout
        stream = _first_retried(lambda: self._chat(history, opts), deadline, self.retry_backoff, timed_out)
        ok = False
        try:
            async for delta in stream:
                yield delta
            ok = True
        finally:
            await stream.aclose()
            self.metrics.record(time.perf_counter() - started, ok)

    @abstractmethod
    def _chat(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncGenerator[str, None]: ...


# --- TTS ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TtsCapabilities:
    sample_rate: int
    streaming: bool = False  # yields audio before the whole sentence is synthesised


class TTS(ABC):
    """Text to speech as a stream of PCM chunks at ``capabilities.sample_rate``."""

    name = "tts"
    capabilities: TtsCapabilities

    def __init__(self, timeout: float = 20.0) -> None:
        self.timeout = timeout
        self.retry_backoff = RETRY_BACKOFF_S
        self.metrics = ProviderMetrics()

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        started = time.perf_counter()

        def timed_out() -> ProviderError:
            return ProviderError(self.name, f"no audio within {self.timeout:.0f} s", retryable=True)

        stream = _first_retried(lambda: self._synthesize(text), started + self.timeout, self.retry_backoff, timed_out)
        ok = False
        try:
            async for chunk in stream:
                yield chunk
            ok = True
        finally:
            await stream.aclose()
            self.metrics.record(time.perf_counter() - started, ok)

    @abstractmethod
    def _synthesize(self, text: str) -> AsyncGenerator[bytes, None]: ...
