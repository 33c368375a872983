"""Media sources for publishing, and probes that check what was received.

Sources (all are aiortc :class:`~aiortc.MediaStreamTrack` objects; pass them to
:meth:`hubbub.sdk.Room.publish`):

- :class:`ToneTrack` -- a sine tone, 48 kHz mono, 20 ms frames;
- :class:`FrameCounterTrack` -- video whose top rows carry the frame number as large black and
  white blocks that survive VP8 compression; :func:`read_frame_counter` reads it back;
- :class:`GeneratorAudioTrack` / :class:`GeneratorVideoTrack` -- wrap your own async generator of
  numpy arrays (TTS output, rendered frames, ...);
- :func:`file_tracks` -- the audio and video of a media file, through aiortc's ``MediaPlayer``.

Probes: :func:`read_frame_counter` and :func:`detect_tone` (the share of a signal's power at one
frequency), used by tests to prove media really flowed end to end.

Every source paces itself on the wall clock (the way a camera or microphone would), so the
encoder sees real time; generators may produce as fast as they like.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

__all__ = [
    "FileTracks",
    "FrameCounterTrack",
    "GeneratorAudioTrack",
    "GeneratorVideoTrack",
    "ToneTrack",
    "detect_tone",
    "file_tracks",
    "read_frame_counter",
    "stand_in_track",
]

AUDIO_SAMPLE_RATE = 48_000
AUDIO_PTIME = 0.020
VIDEO_CLOCK_RATE = 90_000
_VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)


class _Pacer:
    """Sleeps until the wall-clock time at which media position ``t`` (seconds) is due."""

    def __init__(self) -> None:
        self._start: float | None = None

    async def wait(self, t: float) -> None:
        now = time.monotonic()
        if self._start is None:
            self._start = now - t
        delay = self._start + t - now
        if delay > 0:
            await asyncio.sleep(delay)


# --- audio --------------------------------------------------------------------------------------


class ToneTrack(MediaStreamTrack):
    """A continuous sine tone at ``freq_hz``: 48 kHz mono s16, 20 ms frames, phase-continuous.

    ``amplitude`` is relative to full scale (0..1).
    """

    kind = "audio"

    def __init__(self, freq_hz: float = 440.0, *, amplitude: float = 0.3, sample_rate: int = AUDIO_SAMPLE_RATE) -> None:
        super().__init__()
        if not 0 < freq_hz < sample_rate / 2:
            raise ValueError(f"freq_hz must be between 0 and {sample_rate / 2} Hz")
        self.freq_hz = freq_hz
        self.amplitude = amplitude
        self.sample_rate = sample_rate
        self._samples = int(sample_rate * AUDIO_PTIME)
        self._pts = 0
        self._pacer = _Pacer()

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait(self._pts / self.sample_rate)
        n = np.arange(self._pts, self._pts + self._samples, dtype=np.float64)
        wave = np.sin(2 * math.pi * self.freq_hz * n / self.sample_rate) * self.amplitude * 32767
        frame = _audio_frame(wave.astype(np.int16), self.sample_rate, 1, self._pts)
        self._pts += self._samples
        return frame


def _audio_frame(samples: npt.NDArray[np.int16], sample_rate: int, channels: int, pts: int) -> AudioFrame:
    """An s16 packed frame from interleaved samples."""
    layout = "mono" if channels == 1 else "stereo"
    frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=layout)
    frame.sample_rate = sample_rate
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, sample_rate)
    return frame


class GeneratorAudioTrack(MediaStreamTrack):
    """Audio from an async generator of numpy arrays.

    Each array holds samples at ``sample_rate``: int16, or float in -1..1; shape ``(n,)`` for mono
    or ``(n, channels)`` interleaved. Arrays may have any length; the track cuts them into 20 ms
    frames and pads the last one with silence. When the generator ends, the track ends.
    """

    kind = "audio"

    def __init__(
        self, source: AsyncIterator[npt.NDArray[Any]], *, sample_rate: int = AUDIO_SAMPLE_RATE, channels: int = 1
    ) -> None:
        super().__init__()
        if channels not in (1, 2):
            raise ValueError("channels must be 1 or 2")
        self._source = source
        self.sample_rate = sample_rate
        self.channels = channels
        self._samples = int(sample_rate * AUDIO_PTIME)
        self._buffer = np.zeros(0, dtype=np.int16)
        self._exhausted = False
        self._pts = 0
        self._pacer = _Pacer()

    def _to_int16(self, chunk: npt.NDArray[Any]) -> npt.NDArray[np.int16]:
        arr = np.asarray(chunk)
        if arr.dtype.kind == "f":
            arr = np.clip(arr, -1.0, 1.0) * 32767
        return arr.astype(np.int16).reshape(-1)

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        need = self._samples * self.channels
        while len(self._buffer) < need and not self._exhausted:
            try:
                chunk = await anext(self._source)
            except StopAsyncIteration:
                self._exhausted = True
                break
            self._buffer = np.concatenate([self._buffer, self._to_int16(chunk)])
        if not len(self._buffer):
            self.stop()
            raise MediaStreamError
        out, self._buffer = self._buffer[:need], self._buffer[need:]
        if len(out) < need:
            out = np.concatenate([out, np.zeros(need - len(out), dtype=np.int16)])
        await self._pacer.wait(self._pts / self.sample_rate)
        frame = _audio_frame(out, self.sample_rate, self.channels, self._pts)
        self._pts += self._samples
        return frame


def _frame_samples(frame: AudioFrame) -> npt.NDArray[np.float64]:
    """Mono float samples of one decoded frame, whatever its sample format and layout."""
    channels = len(frame.layout.channels)
    arr = frame.to_ndarray().astype(np.float64)
    # planar: one row per channel; packed: channels interleaved
    data = arr.reshape(channels, -1).mean(axis=0) if frame.format.is_planar else arr.reshape(-1, channels).mean(axis=1)
    if frame.format.name.startswith("s16"):
        data /= 32768.0
    elif frame.format.name.startswith("s32"):
        data /= 2147483648.0
    return np.asarray(data, dtype=np.float64)


def detect_tone(frames: Iterable[AudioFrame], freq_hz: float, *, bandwidth_hz: float = 20.0) -> float:
    """Share (0..1) of the signal's power within ``bandwidth_hz`` of ``freq_hz``.

    A clean received :class:`ToneTrack` scores above 0.8 even after Opus; silence and other tones
    score near 0. Uses a Hann-windowed FFT over all ``frames`` (at least ~50 ms of audio gives a
    useful answer); returns 0.0 for no audio or pure silence.
    """
    chunks: list[npt.NDArray[np.float64]] = []
    sample_rate = 0
    for frame in frames:
        sample_rate = sample_rate or frame.sample_rate
        chunks.append(_frame_samples(frame))
    if not chunks or not sample_rate:
        return 0.0
    signal = np.concatenate(chunks)
    signal = signal - signal.mean()
    if len(signal) < 16:
        return 0.0
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal)))) ** 2
    total = float(spectrum[1:].sum())
    if total <= 1e-12:
        return 0.0
    freqs = np.fft.rfftfreq(len(signal), d=1.0 / sample_rate)
    band = (freqs >= freq_hz - bandwidth_hz) & (freqs <= freq_hz + bandwidth_hz)
    return float(spectrum[band].sum()) / total


# --- video --------------------------------------------------------------------------------------

# The frame counter pattern: _ROWS rows of _COLS square cells at the top of the frame. Cell 0 is
# white and cell 1 black (the reader calibrates its threshold on them), then _BITS bits of the
# counter, most significant first (white = 1), then a _CHECK-bit check value. Cells are width/16
# pixels wide (16 px at 256..271 px wide), large enough to survive VP8 at low bitrates.
_COLS = 16
_ROWS = 2
_BITS = 24
_CHECK = _COLS * _ROWS - 2 - _BITS
_WHITE = 235
_BLACK = 16
_BACKGROUND = 128


def _check_value(counter: int) -> int:
    value = 0
    for shift in range(0, _BITS, _CHECK):
        value ^= (counter >> shift) & ((1 << _CHECK) - 1)
    return value ^ 0b101010


def _cell_size(width: int) -> int:
    return max(4, width // _COLS)


def _pattern_bits(counter: int) -> list[int]:
    counter &= (1 << _BITS) - 1
    data = [(counter >> (_BITS - 1 - i)) & 1 for i in range(_BITS)]
    check = _check_value(counter)
    return [1, 0, *data, *((check >> (_CHECK - 1 - i)) & 1 for i in range(_CHECK))]


def draw_frame_counter(luma: npt.NDArray[np.uint8], counter: int) -> None:
    """Draw ``counter`` (mod 2**24) into the top rows of a luma (Y) plane, in place."""
    height, width = luma.shape
    cell = _cell_size(width)
    if cell * _ROWS > height:
        raise ValueError("frame too small for the frame counter pattern")
    for index, bit in enumerate(_pattern_bits(counter)):
        row, col = divmod(index, _COLS)
        luma[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] = _WHITE if bit else _BLACK


def read_frame_counter(frame: VideoFrame | npt.NDArray[np.uint8]) -> int | None:
    """Decode the counter drawn by :class:`FrameCounterTrack`, or ``None`` if none is readable.

    Accepts a decoded :class:`av.VideoFrame` (any pixel format, any size the sender used) or a
    2-D luma array. Samples the centre of each cell, so compression artefacts at block edges do not
    matter; a check value rejects frames that are not the pattern or are too damaged to trust.
    """
    luma = frame.to_ndarray(format="gray") if isinstance(frame, VideoFrame) else frame
    height, width = luma.shape[:2]
    cell = _cell_size(width)
    if cell * _ROWS > height:
        return None
    margin = max(1, cell // 4)
    levels: list[float] = []
    for index in range(_COLS * _ROWS):
        row, col = divmod(index, _COLS)
        y0, x0 = row * cell + margin, col * cell + margin
        levels.append(float(luma[y0 : y0 + cell - 2 * margin, x0 : x0 + cell - 2 * margin].mean()))
    white, black = levels[0], levels[1]
    if white - black < 48:
        return None
    threshold = (white + black) / 2
    bits = [1 if level > threshold else 0 for level in levels[2:]]
    counter = 0
    for bit in bits[:_BITS]:
        counter = (counter << 1) | bit
    check = 0
    for bit in bits[_BITS:]:
        check = (check << 1) | bit
    return counter if check == _check_value(counter) else None


class FrameCounterTrack(MediaStreamTrack):
    """Video at ``fps`` whose frame ``n`` carries ``n`` in its top rows (see :func:`read_frame_counter`).

    Frames are yuv420p, mid-grey below the pattern with a bar that moves one cell per frame (so
    the encoder always has some motion to code). ``width`` must be at least 64 and even.
    """

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: float = 15.0) -> None:
        super().__init__()
        if width < 64 or height < 32 or width % 2 or height % 2:
            raise ValueError("width and height must be even, at least 64x32")
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.width = width
        self.height = height
        self.fps = fps
        self.counter = 0
        self._pacer = _Pacer()

    def make_frame(self, counter: int) -> VideoFrame:
        """The frame this track sends as number ``counter`` (no pacing, no timestamps)."""
        w, h = self.width, self.height
        planes = np.full((h * 3 // 2, w), _BACKGROUND, dtype=np.uint8)
        luma = planes[:h]
        cell = _cell_size(w)
        bar_x = (counter * cell) % w
        luma[_ROWS * cell + cell :, bar_x : bar_x + cell] = _WHITE
        draw_frame_counter(luma, counter)
        return VideoFrame.from_ndarray(planes, format="yuv420p")

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        t = self.counter / self.fps
        await self._pacer.wait(t)
        frame = self.make_frame(self.counter)
        frame.pts = int(t * VIDEO_CLOCK_RATE)
        frame.time_base = _VIDEO_TIME_BASE
        self.counter += 1
        return frame


class GeneratorVideoTrack(MediaStreamTrack):
    """Video from an async generator of numpy images, paced at ``fps``.

    Each array is an image in ``pixel_format`` as PyAV's ``VideoFrame.from_ndarray`` takes it:
    ``"rgb24"`` / ``"bgr24"`` (``(height, width, 3)`` uint8), ``"gray"`` (``(height, width)``) or
    ``"yuv420p"`` (``(height * 3 // 2, width)``). When the generator ends, the track ends.
    """

    kind = "video"

    def __init__(
        self, source: AsyncIterator[npt.NDArray[np.uint8]], *, fps: float = 30.0, pixel_format: str = "rgb24"
    ) -> None:
        super().__init__()
        if fps <= 0:
            raise ValueError("fps must be positive")
        self._source = source
        self.fps = fps
        self.pixel_format = pixel_format
        self._index = 0
        self._pacer = _Pacer()

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        try:
            image = await anext(self._source)
        except StopAsyncIteration:
            self.stop()
            raise MediaStreamError from None
        t = self._index / self.fps
        await self._pacer.wait(t)
        frame = VideoFrame.from_ndarray(np.ascontiguousarray(image), format=self.pixel_format)
        frame.pts = int(t * VIDEO_CLOCK_RATE)
        frame.time_base = _VIDEO_TIME_BASE
        self._index += 1
        return frame


# --- stand-ins --------------------------------------------------------------------------------


class _SilenceTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, track_id: str | None) -> None:
        super().__init__()
        if track_id is not None:
            self._id = track_id
        self._pts = 0
        self._samples = int(AUDIO_SAMPLE_RATE * AUDIO_PTIME)
        self._pacer = _Pacer()

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait(self._pts / AUDIO_SAMPLE_RATE)
        frame = _audio_frame(np.zeros(self._samples, dtype=np.int16), AUDIO_SAMPLE_RATE, 1, self._pts)
        self._pts += self._samples
        return frame


class _BlackTrack(MediaStreamTrack):
    kind = "video"
    _FPS = 5.0

    def __init__(self, track_id: str | None, width: int, height: int) -> None:
        super().__init__()
        if track_id is not None:
            self._id = track_id
        self._planes = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
        self._planes[:height] = _BLACK
        self._index = 0
        self._pacer = _Pacer()

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        t = self._index / self._FPS
        await self._pacer.wait(t)
        frame = VideoFrame.from_ndarray(self._planes, format="yuv420p")
        frame.pts = int(t * VIDEO_CLOCK_RATE)
        frame.time_base = _VIDEO_TIME_BASE
        self._index += 1
        return frame


def stand_in_track(kind: str, track_id: str | None, like: MediaStreamTrack | None) -> MediaStreamTrack:
    """Silence (audio) or black frames at 5 fps (video) to send in place of a muted track.

    Given ``track_id``, the stand-in takes that id, so aiortc's ``a=msid`` stays the same when a
    sender switches to it with ``replaceTrack``. Video keeps ``like``'s ``width``/``height``
    attributes when it has them (320x240 otherwise).
    """
    if kind == "audio":
        return _SilenceTrack(track_id)
    width = int(getattr(like, "width", 0) or 320) & ~1
    height = int(getattr(like, "height", 0) or 240) & ~1
    return _BlackTrack(track_id, width, height)


# --- files --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileTracks:
    """The tracks of a media file; either may be ``None`` when the file has no such stream."""

    audio: MediaStreamTrack | None
    video: MediaStreamTrack | None
    player: MediaPlayer

    def stop(self) -> None:
        """Stop both tracks and close the file."""
        for track in (self.audio, self.video):
            if track is not None:
                track.stop()


def file_tracks(path: str, *, loop: bool = False, format: str | None = None) -> FileTracks:
    """Open a media file (or a device/URL that FFmpeg understands) through aiortc's ``MediaPlayer``.

    ``loop=True`` restarts the file at its end. The tracks read the file in real time.
    """
    player = MediaPlayer(path, format=format, loop=loop)
    return FileTracks(audio=player.audio, video=player.video, player=player)
