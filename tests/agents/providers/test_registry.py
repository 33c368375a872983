from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest

from hubbub.agents.providers import registry
from hubbub.agents.providers.base import LLM, STT, TTS, VAD


def test_defaults_are_the_embedded_providers(require: Callable[[bool, str], None]) -> None:
    reasons = {(i.kind, i.name): i.reason for i in registry.describe()}
    for kind in registry.KINDS:
        name = registry.DEFAULTS[kind]
        require(not reasons[kind, name], f"the default {kind} provider {name!r} ({reasons[kind, name]})")
    assert type(registry.build_vad()).__name__ == "SileroVAD"
    assert type(registry.build_stt({})).__name__ == "WhisperSTT"
    assert type(registry.build_llm(None)).__name__ == "LlamaLLM"
    assert type(registry.build_tts({"kind": "tts"})).__name__ == "EspeakTTS"


def test_nested_and_flat_configs_build_the_same_provider(require: Callable[[bool, str], None]) -> None:
    require("espeak" in registry.available()["tts"], "espeak-ng (Debian: apt-get install espeak-ng)")
    nested = registry.build_tts({"kind": "tts", "provider": "espeak", "options": {"rate": 200, "sample_rate": 48_000}})
    flat = registry.build_tts({"name": "espeak", "rate": 200, "sample_rate": 48_000})
    for tts in (nested, flat):
        assert isinstance(tts, TTS)
        assert tts.capabilities.sample_rate == 48_000 and tts.rate == 200  # type: ignore[attr-defined]


def test_openai_providers_from_flat_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBBUB_TEST_KEY", "sk-abc")
    llm = registry.build_llm(
        {
            "provider": "openai",
            "options": {
                "model": "gpt-4o-mini",
                "base_url": "http://127.0.0.1:1/v1",
                "api_key_env": "HUBBUB_TEST_KEY",
                "headers": {"X-Org": "acme"},
                "first_token_timeout": 5,
            },
        }
    )
    assert isinstance(llm, LLM) and llm.first_token_timeout == 5
    endpoint: Any = llm.endpoint  # type: ignore[attr-defined]
    assert endpoint.request_headers() == {"X-Org": "acme", "Authorization": "Bearer sk-abc"}
    stt = registry.build_stt({"name": "openai", "model": "whisper-1", "languages": ["en", "de"]})
    assert isinstance(stt, STT) and stt.capabilities.languages == ("en", "de")
    tts = registry.build_tts({"name": "openai", "voice": "nova", "response_format": "wav", "sample_rate": 48_000})
    assert isinstance(tts, TTS) and tts.capabilities.sample_rate == 48_000


@pytest.mark.parametrize(
    ("build", "config", "error", "message"),
    [
        (
            registry.build_stt,
            {"provider": "nope"},
            registry.UnknownProviderError,
            "unknown stt provider 'nope'; known: whisper, openai",
        ),
        (
            registry.build_tts,
            {"name": "espeak", "speed": 2},
            registry.ProviderOptionError,
            "unknown option(s) 'speed'; allowed: executable, pitch, rate",
        ),
        (
            registry.build_tts,
            {"name": "espeak", "rate": "fast"},
            registry.ProviderOptionError,
            "option 'rate' must be int, got str",
        ),
        (
            registry.build_tts,
            {"name": "espeak", "rate": True},
            registry.ProviderOptionError,
            "option 'rate' must be int",
        ),
        (registry.build_tts, {"name": "espeak", "rate": 5}, registry.ProviderOptionError, "rate must be 80-500"),
        (
            registry.build_tts,
            {"name": "openai", "response_format": "mp3"},
            registry.ProviderOptionError,
            "option 'response_format' must be",
        ),
        (registry.build_llm, {"name": "openai"}, registry.ProviderOptionError, "missing required option(s) 'model'"),
        (
            registry.build_llm,
            {"kind": "stt", "name": "openai"},
            registry.RegistryError,
            "config is for a 'stt' provider",
        ),
        (
            registry.build_llm,
            {"name": "openai", "options": {"model": "a"}, "model": "b"},
            registry.RegistryError,
            "given twice",
        ),
        (
            registry.build_llm,
            {"name": "openai", "options": ["model"]},
            registry.RegistryError,
            "'options' must be a mapping",
        ),
        (
            registry.build_stt,
            {"name": "openai", "headers": {"a": 1}},
            registry.ProviderOptionError,
            "option 'headers' must be",
        ),
    ],
)
def test_clear_errors(
    build: Callable[[Any], Any],
    config: dict[str, Any],
    error: type[Exception],
    message: str,
    require: Callable[[bool, str], None],
) -> None:
    if "must be 80-500" in message:  # raised by the provider itself, so espeak-ng must be there
        require("espeak" in registry.available()["tts"], "espeak-ng (Debian: apt-get install espeak-ng)")
    with pytest.raises(error) as caught:
        build(config)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_provider_that_cannot_run_here_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def hide_llama(name: str, *args: Any) -> Any:
        return None if name == "llama_cpp" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", hide_llama)
    assert "llama" not in registry.available()["llm"]
    info = next(i for i in registry.describe() if i.name == "llama")
    assert not info.available and "scripts/build-llama.sh" in info.reason
    with pytest.raises(registry.ProviderUnavailableError, match=r"build it with scripts/build-llama\.sh") as caught:
        registry.build_llm()
    assert isinstance(caught.value, ImportError)


def test_available_lists_installed_providers_and_the_scripted_fakes() -> None:
    installed = registry.available()
    assert set(installed) == {"vad", "stt", "llm", "tts"}
    assert "openai" in installed["llm"] and "openai" in installed["stt"] and "openai" in installed["tts"]
    if importlib.util.find_spec("hubbub.agents.providers.scripted") is None:
        pytest.skip("scripted.py is not present")
    assert all("scripted" in names for names in installed.values()) and "energy" in installed["vad"]
    assert isinstance(registry.build_vad({"name": "energy", "threshold_db": -40.0}), VAD)
    llm = registry.build_llm({"name": "scripted", "replies": "Hi", "first_token_s": 0})
    assert isinstance(llm, LLM)
