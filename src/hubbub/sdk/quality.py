"""Receive-side quality measurement in the Python SDK, by the definitions of :mod:`hubbub.schema.quality`.

- :func:`draw_stamp` / :func:`read_stamp`: the pixel side of the video time stamp (its bit layout is
  :mod:`hubbub.schema.quality.stamp`): draw a 32-bit ms value into a luma, yuv420p or RGB image,
  read it back from a decoded frame, or None when it is not readable exactly.
- :class:`StampedVideoTrack`: :class:`~hubbub.sdk.media.FrameCounterTrack` video whose frames also
  carry the wall-clock time (ms) at which each was captured.
- :class:`ReceiveMeter`: wraps a received aiortc track (pass it on, or let :meth:`ReceiveMeter.run`
  drain it) and records per frame what the metrics need: render times (the time each decoded frame
  reaches the application), frame size, stamps read back (end-to-end delay against the wall clock),
  and for audio the samples missing between frames' timestamps, which aiortc does not conceal: they
  count as concealed samples, as a browser's jitter buffer would count the audio it had to invent.
  Bytes are the RTP payload bytes of the receiver's stream (the W3C ``bytesReceived``), counted as
  aiortc hands each packet to its receiver; packets, loss and jitter come from aiortc's ``getStats``.
  :meth:`ReceiveMeter.sample` turns the counters into a :class:`~hubbub.schema.quality.StreamSample`,
  :meth:`ReceiveMeter.summary` into a :class:`~hubbub.schema.quality.QualitySummary`.
- :func:`sender_samples`: the send side of a call, from an ``RTCRtpSender``'s ``getStats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from hubbub.schema.quality import QualitySummary, StreamSample, summarise
from hubbub.schema.quality.stamp import (
    BLACK,
    WHITE,
    decode_stamp_levels,
    stamp_bits,
    stamp_cell_size,
    stamp_delay_ms,
    stamp_rects,
)

from .media import FrameCounterTrack, _frame_samples

__all__ = ["ReceiveMeter", "StampedVideoTrack", "draw_stamp", "read_stamp", "sender_samples"]

Clock = Callable[[], float]


def draw_stamp(image: npt.NDArray[np.uint8], value: int, *, planar_yuv: bool = False) -> None:
    """Draw the stamp carrying ``value`` into ``image`` in place.

    ``image`` is a luma plane ``(h, w)``, an RGB/BGR image ``(h, w, 3)``, or with ``planar_yuv`` the
    ``(h * 3 // 2, w)`` planes of a yuv420p frame (its chroma under the stamp is set neutral).
    Raises ValueError when the frame is too small for the stamp.
    """
    height = image.shape[0] * 2 // 3 if planar_yuv else image.shape[0]
    width = image.shape[1]
    rects = stamp_rects(width, height)
    if not rects:
        raise ValueError(f"a {width}x{height} frame is too small for the time stamp")
    for (x, y, side), bit in zip(rects, stamp_bits(value), strict=True):
        image[y : y + side, x : x + side] = WHITE if bit else BLACK
    if planar_yuv and height % 4 == 0 and width % 2 == 0:  # U then V, each (h/2, w/2), packed in rows of w
        top, right = rects[0][1], rects[-1][0] + rects[-1][2]
        quarter = height // 4
        for start in (height, height + quarter):
            plane = image[start : start + quarter].reshape(height // 2, width // 2)
            plane[top // 2 :, : right // 2] = 128


def _luma(frame: VideoFrame | npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if not isinstance(frame, VideoFrame):
        return frame if frame.ndim == 2 else np.asarray(frame.mean(axis=2), dtype=np.uint8)
    if frame.format.name in ("yuv420p", "yuvj420p", "nv12"):  # the Y plane as it is, no conversion
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(frame.height, plane.line_size)
        return rows[:, : frame.width]
    return np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)


def read_stamp(frame: VideoFrame | npt.NDArray[np.uint8]) -> int | None:
    """The stamp's value in a decoded frame (any size, yuv420p or any format), or None if unreadable."""
    luma = _luma(frame)
    rects = stamp_rects(luma.shape[1], luma.shape[0])
    if not rects:
        return None
    margin = max(1, rects[0][2] // 4)
    levels = [
        float(luma[y + margin : y + side - margin, x + margin : x + side - margin].mean()) for x, y, side in rects
    ]
    return decode_stamp_levels(levels)


class StampedVideoTrack(FrameCounterTrack):
    """Frame-counter video whose every frame also carries its capture time (``wall()`` in ms)."""

    def __init__(self, width: int = 320, height: int = 180, fps: float = 15.0, *, wall: Clock = time.time) -> None:
        super().__init__(width, height, fps)
        if 5 * stamp_cell_size(width) > height:  # the counter's 2 rows of cells at the top, the stamp's 3 below
            raise ValueError(f"a {width}x{height} frame is too small for the frame counter and the time stamp")
        self._wall = wall

    async def recv(self) -> VideoFrame:
        frame = await super().recv()
        planes = np.asarray(frame.to_ndarray(), dtype=np.uint8)
        draw_stamp(planes, int(self._wall() * 1000), planar_yuv=True)
        stamped = VideoFrame.from_ndarray(planes, format="yuv420p")
        stamped.pts, stamped.time_base = frame.pts, frame.time_base
        return stamped


async def sender_samples(sender: Any, *, clock: Clock = time.monotonic) -> list[StreamSample]:
    """An aiortc ``RTCRtpSender``'s outbound streams now (``bytesSent``, packets), as samples."""
    at_ms = clock() * 1000
    return [
        StreamSample(
            at_ms=at_ms,
            kind=stats.kind,
            direction="outbound",
            stream_id=f"outbound-{stats.ssrc}",
            bytes=stats.bytesSent,
        )
        for stats in (await sender.getStats()).values()
        if getattr(stats, "type", "") == "outbound-rtp"
    ]


class ReceiveMeter(MediaStreamTrack):
    """A received track, passed through, measured frame by frame (see the module's docstring).

    ``receiver`` (the track's ``RTCRtpReceiver``) adds bytes and aiortc's packet counts; ``clock``
    (monotonic seconds) times renders, ``wall`` (Unix seconds, the sender's clock) reads stamps;
    ``keep_audio`` keeps the received audio for :meth:`received_pcm` (speech intelligibility).
    """

    def __init__(
        self,
        track: MediaStreamTrack,
        *,
        receiver: Any = None,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
        read_stamps: bool = True,
        keep_audio: bool = False,
    ) -> None:
        super().__init__()
        self.kind = track.kind
        self.source = track
        self.receiver = receiver
        self._clock, self._wall, self._read_stamps = clock, wall, read_stamps
        self.render_ms: list[float] = []
        self.e2e_delays_ms: list[float] = []
        self.audio_frames: list[tuple[float, float]] = []
        self.frames = 0
        self.frame_width = 0
        self.frame_height = 0
        self.total_samples = 0
        self.concealed_samples = 0
        self.bytes = 0
        self._next_pts: int | None = None
        self._keep_audio = keep_audio
        self._pcm: list[npt.NDArray[np.int16]] = []
        self.sample_rate = 0
        if receiver is not None:
            self._count_bytes(receiver)

    def _count_bytes(self, receiver: Any) -> None:
        handle = getattr(receiver, "_handle_rtp_packet", None)
        if handle is None:  # another aiortc: bytes stay uncounted
            return

        async def counted(packet: Any, *args: Any, **kwargs: Any) -> None:
            self.bytes += len(packet.payload)
            await handle(packet, *args, **kwargs)

        receiver._handle_rtp_packet = counted

    async def recv(self) -> VideoFrame | AudioFrame:
        frame = await self.source.recv()
        if isinstance(frame, VideoFrame):
            self._video(frame)
            return frame
        if isinstance(frame, AudioFrame):
            self._audio(frame)
            return frame
        raise MediaStreamError("the metered track gave neither audio nor video")

    def _video(self, frame: VideoFrame) -> None:
        now = self._clock() * 1000
        self.render_ms.append(now)
        self.frames += 1
        self.frame_width, self.frame_height = frame.width, frame.height
        if self._read_stamps:
            stamp = read_stamp(frame)
            if stamp is not None:
                self.e2e_delays_ms.append(stamp_delay_ms(stamp, self._wall() * 1000))

    def _audio(self, frame: AudioFrame) -> None:
        rate = frame.sample_rate or 48_000
        missing = 0
        if frame.pts is not None:
            if self._next_pts is not None and frame.pts > self._next_pts:
                missing = frame.pts - self._next_pts
            self._next_pts = frame.pts + frame.samples
        if missing:
            self.audio_frames.append((missing * 1000 / rate, missing * 1000 / rate))
        self.audio_frames.append((frame.samples * 1000 / rate, 0.0))
        self.concealed_samples += missing
        if self._keep_audio:
            self.sample_rate = rate
            if missing:
                self._pcm.append(np.zeros(missing, dtype=np.int16))
            mono = np.clip(_frame_samples(frame), -1.0, 1.0) * 32767
            self._pcm.append(mono.astype(np.int16))
        self.total_samples += frame.samples + missing
        self.frames += 1

    def received_pcm(self) -> bytes:
        """With ``keep_audio``: the audio received so far, int16 mono at :attr:`sample_rate`, gaps as silence."""
        return b"".join(chunk.tobytes() for chunk in self._pcm)

    async def sample(self) -> StreamSample:
        """The counters now, as an inbound :class:`StreamSample` (packet counts from ``getStats``)."""
        packets = lost = 0
        if self.receiver is not None:
            for stats in (await self.receiver.getStats()).values():
                if getattr(stats, "type", "") == "inbound-rtp":
                    packets += stats.packetsReceived
                    lost += stats.packetsLost
        return StreamSample(
            at_ms=self._clock() * 1000,
            kind=self.kind,
            direction="inbound",
            stream_id=self.source.id,
            bytes=self.bytes,
            frames=self.frames if self.kind == "video" else 0,
            frame_width=self.frame_width,
            frame_height=self.frame_height,
            concealed_samples=self.concealed_samples,
            total_samples_received=self.total_samples,
            packets_received=packets,
            packets_lost=lost,
        )

    def summary(self, samples: Iterable[StreamSample], *, wer: float | None = None) -> QualitySummary:
        """The summary of ``samples`` with this meter's render times, stamps and audio frames."""
        return summarise(
            samples,
            render_ms=self.render_ms if self.kind == "video" else None,
            e2e_delays_ms=self.e2e_delays_ms,
            audio_frames=self.audio_frames if self.kind == "audio" else None,
            wer=wer,
        )

    async def run(self, *, until: asyncio.Event | None = None) -> None:
        """Consume the track (when nothing else reads it) until it ends or ``until`` is set."""
        while until is None or not until.is_set():
            try:
                if until is None:
                    await self.recv()
                    continue
                waiter = asyncio.ensure_future(until.wait())
                frame = asyncio.ensure_future(self.recv())
                await asyncio.wait({waiter, frame}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if not frame.done():
                    frame.cancel()
                    with contextlib.suppress(asyncio.CancelledError, MediaStreamError):
                        await frame
                    return
                frame.result()
            except MediaStreamError:
                return
