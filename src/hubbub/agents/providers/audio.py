"""PCM helpers for providers: sample-rate conversion and WAV parsing/encoding.

Audio is 16-bit signed little-endian mono PCM (``bytes``), as everywhere in the providers.

Resampling is polyphase: conceptually the input is upsampled by ``up`` (zeros inserted), low-pass
filtered by a Kaiser-windowed sinc designed at the upsampled rate with its cut-off just below the
lower of the two Nyquist frequencies, then decimated by ``down``. Only the filter phases that land
on output samples are computed. :class:`Resampler` keeps the filter history between calls, so a
stream cut into arbitrary chunks gives the same samples as one call on the whole; :func:`resample`
is the one-shot form that also removes the filter delay, so the output lines up with the input
and lasts ``len * dst / src`` samples.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from math import gcd

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Int16Array = npt.NDArray[np.int16]

COMMON_RATES = (8_000, 16_000, 22_050, 24_000, 44_100, 48_000)

_ZERO_CROSSINGS = 16  # sinc lobes on each side, at the lower rate: ~0.08 transition band, >80 dB stop
_ROLLOFF = 0.92  # cut-off as a fraction of the lower Nyquist frequency
_KAISER_BETA = 8.6
_BLOCK = 4096  # output samples computed per vectorised step (bounds the temporary arrays)
_STRIDED_MAX_UP = 16  # up to this many phases, loop over phases instead of gathering
_STRIDED_MIN_PER_PHASE = 64  # ... or when each phase has at least this many outputs


def pcm_to_int16(pcm: bytes) -> Int16Array:
    if len(pcm) % 2:
        raise ValueError("16-bit PCM must have an even number of bytes")
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16, copy=False)


def pcm_to_float(pcm: bytes) -> npt.NDArray[np.float32]:
    """int16 PCM as float32 in [-1, 1), as speech models take it."""
    return pcm_to_int16(pcm).astype(np.float32) / 32768.0


def float_to_pcm(samples: npt.NDArray[np.floating] | FloatArray) -> bytes:
    """float samples in [-1, 1] to int16 PCM, rounded and clipped."""
    scaled = np.clip(np.rint(np.asarray(samples, dtype=np.float64) * 32767.0), -32768, 32767)
    return scaled.astype("<i2").tobytes()


def rms_dbfs(pcm: bytes) -> float:
    """Root-mean-square level in dBFS (-inf for digital silence)."""
    x = pcm_to_int16(pcm).astype(np.float64)
    if x.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(x * x)))
    return 20.0 * float(np.log10(rms / 32768.0)) if rms > 0 else float("-inf")


def _to_pcm(samples: FloatArray) -> bytes:
    """Samples in int16 units to PCM, rounded and clipped."""
    return np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes()


@dataclass(frozen=True, slots=True)
class _Polyphase:
    up: int
    down: int
    taps: int  # filter taps per phase
    phases: FloatArray  # (up, taps): phases[p, k] = h[p + k * up]
    reversed_phases: FloatArray  # phases[:, ::-1], contiguous, for the strided form
    centre: int  # filter centre, in upsampled samples: output n sits at n * down + centre


@lru_cache(maxsize=32)
def _design(src: int, dst: int) -> _Polyphase:
    g = gcd(src, dst)
    up, down = dst // g, src // g
    width = max(up, down)
    length = 2 * _ZERO_CROSSINGS * width + 1
    taps = -(-length // up)
    centre = (length - 1) // 2
    cutoff = _ROLLOFF / width  # normalised to the upsampled Nyquist frequency
    t = np.arange(length, dtype=np.float64) - centre
    h = cutoff * np.sinc(cutoff * t) * np.kaiser(length, _KAISER_BETA)
    h *= up / h.sum()  # unity gain at DC after zero-stuffing by `up`
    padded = np.zeros(taps * up, dtype=np.float64)
    padded[:length] = h
    phases = padded.reshape(taps, up).T.copy()
    return _Polyphase(up, down, taps, phases, np.ascontiguousarray(phases[:, ::-1]), centre)


class Resampler:
    """Streaming int16 PCM sample-rate converter for one audio stream.

    ``process`` takes chunks of any size and returns every output sample that the input so far
    determines; output sample ``n`` lies at time ``n / dst_rate``, aligned with the input. The
    filter looks ``lookahead`` input samples ahead (16 samples of the lower rate: 1 ms at 16 kHz),
    so that much output is held back until more input (or ``flush``) arrives. Equal rates pass
    through untouched.
    """

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        if src_rate <= 0 or dst_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {src_rate} -> {dst_rate}")
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._f = _design(src_rate, dst_rate)
        self.reset()

    @property
    def lookahead(self) -> int:
        return 0 if self.src_rate == self.dst_rate else -(-self._f.centre // self._f.up)

    def reset(self) -> None:
        self._history = np.zeros(self._f.taps - 1, dtype=np.float64)  # x[-taps+1 .. -1] = 0
        self._consumed = 0  # input samples received, excluding flush padding
        self._next_out = 0  # index of the next output sample

    def process(self, pcm: bytes) -> bytes:
        if self.src_rate == self.dst_rate:
            return pcm
        x = pcm_to_int16(pcm).astype(np.float64)
        self._consumed += x.size
        return _to_pcm(self._run(x, self._consumed, None))

    def flush(self) -> bytes:
        """Emit the held-back output up to the end of the input so far; then start a new stream."""
        if self.src_rate == self.dst_rate:
            return b""
        f = self._f
        end = -(-self._consumed * f.up // f.down)  # outputs whose time lies inside the input
        out = self._run(np.zeros(self.lookahead + 1, dtype=np.float64), self._consumed + self.lookahead + 1, end)
        self.reset()
        return _to_pcm(out)

    def _run(self, x: FloatArray, available: int, end: int | None) -> FloatArray:
        """Outputs from ``_next_out`` on whose inputs are all among the first ``available`` samples."""
        f = self._f
        buf = np.concatenate((self._history, x))
        origin = available - buf.size  # absolute index of buf[0]
        self._history = buf[buf.size - (f.taps - 1) :].copy()
        # Output n needs input floor((n * down + centre) / up) and the taps-1 samples before it.
        stop = (available * f.up - 1 - f.centre) // f.down + 1
        if end is not None:
            stop = min(stop, end)
        first = self._next_out
        if stop <= first:
            return np.zeros(0, dtype=np.float64)
        self._next_out = stop
        if f.up <= _STRIDED_MAX_UP or stop - first >= _STRIDED_MIN_PER_PHASE * f.up:
            return self._strided(buf, origin, first, stop)
        return self._gathered(buf, origin, first, stop)

    def _strided(self, buf: FloatArray, origin: int, first: int, stop: int) -> FloatArray:
        # Outputs sharing a phase are `up` apart and their input windows `down` apart: one strided
        # matrix-vector product per phase.
        f = self._f
        out = np.empty(stop - first, dtype=np.float64)
        windows = np.lib.stride_tricks.sliding_window_view(buf, f.taps)
        for j in range(min(f.up, stop - first)):
            n0 = first + j
            pos = n0 * f.down + f.centre
            start = pos // f.up - origin - (f.taps - 1)  # window start of output n0 in buf
            count = len(range(n0, stop, f.up))
            out[j :: f.up] = windows[start : start + (count - 1) * f.down + 1 : f.down] @ f.reversed_phases[pos % f.up]
        return out

    def _gathered(self, buf: FloatArray, origin: int, first: int, stop: int) -> FloatArray:
        # Many phases (22.05 kHz -> 16 kHz has 320) and a short chunk: gather each output's window.
        f = self._f
        windows = np.lib.stride_tricks.sliding_window_view(buf, f.taps)
        outputs: list[FloatArray] = []
        for start in range(first, stop, _BLOCK):
            pos = np.arange(start, min(start + _BLOCK, stop), dtype=np.int64) * f.down + f.centre
            rows = pos // f.up - origin - (f.taps - 1)
            outputs.append(np.einsum("ij,ij->i", windows[rows], f.reversed_phases[pos % f.up]))
        return np.concatenate(outputs)


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Convert a whole clip: the output is aligned with the input and ``ceil(n * dst / src)`` long."""
    if src_rate == dst_rate:
        return pcm
    r = Resampler(src_rate, dst_rate)
    return r.process(pcm) + r.flush()


# --- WAV -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WavInfo:
    sample_rate: int
    channels: int
    bits: int
    data_offset: int  # where the sample data starts
    data_size: int | None  # None when the header says "unknown" (streamed WAV)


class WavError(ValueError):
    """The bytes are not a WAV file this module can read."""


_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
_UNKNOWN_SIZES = (0, 0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000)


def parse_wav_header(data: bytes) -> WavInfo | None:
    """Parse the RIFF header; ``None`` when more bytes are needed to reach the data chunk."""
    if len(data) < 12:
        return None
    riff, _size, wave = struct.unpack_from("<4sI4s", data, 0)
    if riff != b"RIFF" or wave != b"WAVE":
        raise WavError("not a RIFF/WAVE file")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while True:
        if len(data) < pos + 8:
            return None
        chunk_id, chunk_size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if chunk_id == b"data":
            if fmt is None:
                raise WavError("data chunk before fmt chunk")
            tag, channels, rate, bits = fmt
            size = None if chunk_size in _UNKNOWN_SIZES else chunk_size
            return WavInfo(rate, channels, bits, body, size)
        if len(data) < body + chunk_size:
            return None
        if chunk_id == b"fmt ":
            if chunk_size < 16:
                raise WavError("fmt chunk too short")
            tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == _EXTENSIBLE and chunk_size >= 40:
                tag = struct.unpack_from("<H", data, body + 24)[0]
            if tag not in (_PCM, _FLOAT) or (tag == _PCM and bits not in (8, 16, 24, 32)):
                raise WavError(f"unsupported WAV encoding (format {tag}, {bits} bits)")
            if tag == _FLOAT and bits != 32:
                raise WavError(f"unsupported float WAV ({bits} bits)")
            if channels < 1 or rate <= 0:
                raise WavError("invalid channel count or sample rate")
            fmt = (tag if tag == _FLOAT else _PCM, channels, rate, bits if tag == _PCM else -32)
        pos = body + chunk_size + (chunk_size & 1)


def samples_to_mono_pcm(raw: bytes, info: WavInfo) -> bytes:
    """Sample data of a parsed WAV (whole frames only) as int16 mono PCM."""
    width = abs(info.bits) // 8
    frame = width * info.channels
    raw = raw[: len(raw) - len(raw) % frame]
    if info.bits == 16 and info.channels == 1:
        return raw
    if info.bits == -32:
        x = np.frombuffer(raw, dtype="<f4").astype(np.float64) * 32768.0
    elif info.bits == 8:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    elif info.bits == 16:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    elif info.bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / 256.0
    else:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536.0
    if info.channels > 1:
        x = x.reshape(-1, info.channels).mean(axis=1)
    return _to_pcm(x)


def decode_wav(data: bytes) -> tuple[bytes, int]:
    """A whole WAV file as (int16 mono PCM, sample rate)."""
    info = parse_wav_header(data)
    if info is None:
        raise WavError("truncated WAV header")
    end = len(data) if info.data_size is None else min(len(data), info.data_offset + info.data_size)
    return samples_to_mono_pcm(data[info.data_offset : end], info), info.sample_rate


def encode_wav(pcm: bytes, sample_rate: int) -> bytes:
    """int16 mono PCM as a canonical 44-byte-header WAV file."""
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        _PCM,
        1,
        sample_rate,
        sample_rate * 2,
        2,
        16,
        b"data",
        len(pcm),
    )
    return header + pcm


class WavStreamDecoder:
    """Incremental WAV reader for audio that arrives in pieces (a subprocess pipe, an HTTP body).

    ``feed`` returns the int16 mono PCM completed by the new bytes; ``sample_rate`` is known once
    the header has been read.
    """

    def __init__(self) -> None:
        self._buf = b""
        self.info: WavInfo | None = None
        self._left: int | None = None

    @property
    def sample_rate(self) -> int | None:
        return self.info.sample_rate if self.info else None

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        if self.info is None:
            self.info = parse_wav_header(self._buf)
            if self.info is None:
                return b""
            self._buf = self._buf[self.info.data_offset :]
            self._left = self.info.data_size
        if self._left is not None:
            self._buf = self._buf[: self._left]
        frame = abs(self.info.bits) // 8 * self.info.channels
        usable = len(self._buf) - len(self._buf) % frame
        raw, self._buf = self._buf[:usable], self._buf[usable:]
        if self._left is not None:
            self._left -= usable
        return samples_to_mono_pcm(raw, self.info) if raw else b""
