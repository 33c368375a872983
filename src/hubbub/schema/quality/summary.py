"""One call leg's quality in one record, built from a series of samples (:func:`summarise`).

:class:`QualitySummary` carries the fields of ``hubbub bench quality --json``'s results (the bench
adds ``server``, ``scenario``, ``leg`` and ``adapt_s``). A field is None when its samples were not
there (no render times, no stamps, no speech), never a made-up zero.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence

import msgspec

from .metrics import (
    StreamSample,
    audio_freezes,
    bitrate_kbps,
    concealed_pct,
    frame_rate,
    jitter_buffer_ms,
    media_bitrate_kbps,
    percentile,
    render_gap_freezes,
    reported_freezes,
)

__all__ = ["QualitySummary", "audio_chunks", "summarise"]


class QualitySummary(msgspec.Struct, kw_only=True):
    """A leg's quality over the series' span (units in the names; see :mod:`.metrics`)."""

    duration_s: float
    send_kbps: float | None = None
    """Video sent, all outbound video streams (simulcast layers) together."""
    recv_kbps: float | None = None
    """Video received, all inbound video streams together (``bytesReceived``: FEC and resends too)."""
    recv_media_kbps: float | None = None
    """The video media alone: the encoded frames' bytes where an encoded transform counted them
    (``encoded_bytes``), else :attr:`recv_kbps` less the FEC and retransmitted bytes the stats
    report. The one to compare across peers: libwebrtc adds ULPFEC peer to peer on lossy paths."""
    audio_recv_kbps: float | None = None
    sent_width: int | None = None
    sent_height: int | None = None
    sent_fps: float | None = None
    width: int | None = None
    """Received video: the last sample's frame size."""
    height: int | None = None
    fps: float | None = None
    """Received video: frames decoded per second over the span."""
    freeze_count: int | None = None
    """Gaps over 500 ms between rendered frames (needs render times)."""
    freeze_ms: float | None = None
    reported_freeze_count: int | None = None
    """Chromium's ``freezeCount`` over the span, as reported."""
    reported_freeze_ms: float | None = None
    audio_concealed_pct: float | None = None
    audio_freeze_count: int | None = None
    audio_freeze_ms: float | None = None
    jitter_buffer_ms: float | None = None
    """Audio jitter-buffer delay."""
    video_jitter_buffer_ms: float | None = None
    e2e_delay_ms_p50: float | None = None
    e2e_delay_ms_p95: float | None = None
    wer: float | None = None
    quality_limitation_reason: str | None = None
    """The last outbound video sample's reason."""


def _streams(samples: Iterable[StreamSample], kind: str, direction: str) -> dict[str, list[StreamSample]]:
    streams: dict[str, list[StreamSample]] = {}
    for sample in samples:
        if sample.kind == kind and sample.direction == direction:
            streams.setdefault(sample.stream_id, []).append(sample)
    return {key: series for key, series in streams.items() if len(series) >= 2}


def _total_kbps(
    streams: dict[str, list[StreamSample]], rate: Callable[[StreamSample, StreamSample], float] = bitrate_kbps
) -> float | None:
    return sum(rate(s[0], s[-1]) for s in streams.values()) if streams else None


def audio_chunks(series: Sequence[StreamSample]) -> list[tuple[float, float]]:
    """``(duration_ms, concealed_ms)`` per interval of one inbound audio stream's samples.

    An interval's concealed ms is its duration x the share of samples concealed in it.
    """
    chunks: list[tuple[float, float]] = []
    for first, last in itertools.pairwise(series):
        duration = last.at_ms - first.at_ms
        chunks.append((duration, duration * concealed_pct(first, last) / 100))
    return chunks


def summarise(
    samples: Iterable[StreamSample],
    *,
    render_ms: Sequence[float] | None = None,
    e2e_delays_ms: Sequence[float] = (),
    audio_frames: Sequence[tuple[float, float]] | None = None,
    wer: float | None = None,
) -> QualitySummary:
    """The summary of a series of samples (any streams, each in time order).

    ``render_ms``: the receiver's frame render times, for freezes by render gap; ``e2e_delays_ms``:
    delays read from stamps; ``audio_frames``: per-frame ``(duration_ms, concealed_ms)`` for exact
    audio freezes (else the inbound audio samples' intervals are the chunks); ``wer``: from speech.
    """
    samples = list(samples)
    span = [s.at_ms for s in samples]
    summary = QualitySummary(duration_s=(max(span) - min(span)) / 1000 if span else 0.0)
    sent = _streams(samples, "video", "outbound")
    received = _streams(samples, "video", "inbound")
    audio = _streams(samples, "audio", "inbound")
    summary.send_kbps = _total_kbps(sent)
    summary.recv_kbps = _total_kbps(received)
    summary.recv_media_kbps = _total_kbps(received, media_bitrate_kbps)
    summary.audio_recv_kbps = _total_kbps(audio)
    if sent:
        top = max(sent.values(), key=lambda s: s[-1].frame_width * s[-1].frame_height)
        summary.sent_width, summary.sent_height = top[-1].frame_width, top[-1].frame_height
        summary.sent_fps = frame_rate(top[0], top[-1])
        summary.quality_limitation_reason = top[-1].quality_limitation_reason or None
    if received:
        video = max(received.values(), key=lambda s: s[-1].frames - s[0].frames)
        summary.width, summary.height = video[-1].frame_width, video[-1].frame_height
        summary.fps = frame_rate(video[0], video[-1])
        summary.reported_freeze_count, summary.reported_freeze_ms = reported_freezes(video[0], video[-1])
        summary.video_jitter_buffer_ms = jitter_buffer_ms(video[0], video[-1])
    if render_ms is not None:
        freezes = render_gap_freezes(render_ms)
        summary.freeze_count, summary.freeze_ms = freezes.count, freezes.total_ms
    if audio:
        voice = max(audio.values(), key=lambda s: s[-1].total_samples_received - s[0].total_samples_received)
        summary.audio_concealed_pct = concealed_pct(voice[0], voice[-1])
        summary.jitter_buffer_ms = jitter_buffer_ms(voice[0], voice[-1])
        if audio_frames is None:
            audio_frames = audio_chunks(voice)
    if audio_frames is not None:
        freezes = audio_freezes(audio_frames)
        summary.audio_freeze_count, summary.audio_freeze_ms = freezes.count, freezes.total_ms
    summary.e2e_delay_ms_p50 = percentile(e2e_delays_ms, 50)
    summary.e2e_delay_ms_p95 = percentile(e2e_delays_ms, 95)
    summary.wer = wer
    return summary
