"""Silero VAD (MIT) on onnxruntime, without torch.

The ONNX model ships inside the ``silero-vad`` package (installed with ``--no-deps``: its torch
dependency is only for the PyTorch path). One ``InferenceSession`` is shared by every stream in the
process (``run`` is thread-safe); each :class:`SileroVAD` keeps its own recurrent state and the
last 64 samples of context, which the model expects in front of every 512-sample frame.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from .audio import pcm_to_int16
from .base import VAD, ProviderError, VadCapabilities, run_blocking

SAMPLE_RATE = 16_000
FRAME_SAMPLES = 512  # 32 ms
_CONTEXT = 64
_STATE_SHAPE = (2, 1, 128)


class _Session(Protocol):
    def run(self, output_names: None, input_feed: dict[str, npt.NDArray[Any]]) -> list[npt.NDArray[Any]]: ...


_session: _Session | None = None
_session_lock = threading.Lock()


def silero_model_path() -> Path:
    """The bundled ``silero_vad.onnx``, found without importing the package (which imports torch)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ProviderError("silero", "the silero-vad package is not installed (pip install --no-deps silero-vad)")
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / "silero_vad.onnx"
        if path.is_file():
            return path
    raise ProviderError("silero", "silero-vad is installed but its data/silero_vad.onnx is missing")


def is_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("silero_vad") is not None


def _shared_session() -> _Session:
    global _session
    with _session_lock:
        if _session is None:
            try:
                ort: Any = importlib.import_module("onnxruntime")  # no type hints shipped
            except ImportError as exc:
                raise ProviderError("silero", "onnxruntime is not installed") from exc
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1  # one frame is ~0.1 ms of work: threads only add overhead
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            _session = cast(
                _Session,
                ort.InferenceSession(
                    str(silero_model_path()), sess_options=options, providers=["CPUExecutionProvider"]
                ),
            )
        return _session


class SileroVAD(VAD):
    """Speech probability per 32 ms frame (512 samples at 16 kHz) for one audio stream."""

    name = "silero"
    capabilities = VadCapabilities(sample_rate=SAMPLE_RATE, frame_samples=FRAME_SAMPLES)

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()  # frames of one stream must be evaluated in order
        self.reset()

    @staticmethod
    def preload() -> None:
        """Load the model now instead of on the first frame."""
        _shared_session()

    def reset(self) -> None:
        self._state = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros((1, _CONTEXT), dtype=np.float32)

    async def _speech_probability(self, frame: bytes) -> float:
        if len(frame) != FRAME_SAMPLES * 2:
            raise ProviderError(
                self.name, f"frame must be {FRAME_SAMPLES} samples of 16-bit PCM, got {len(frame)} bytes"
            )
        return await run_blocking(self.process_frame, frame)

    def process_frame(self, frame: bytes) -> float:
        """Synchronous form (for callers already on an inference thread)."""
        samples = pcm_to_int16(frame).astype(np.float32)[None, :] / 32768.0
        session = _shared_session()
        with self._lock:
            x = np.concatenate((self._context, samples), axis=1)
            out, state = session.run(
                None, {"input": x, "state": self._state, "sr": np.array(SAMPLE_RATE, dtype=np.int64)}
            )
            self._state = state
            self._context = x[:, -_CONTEXT:]
        return float(out.reshape(-1)[0])
