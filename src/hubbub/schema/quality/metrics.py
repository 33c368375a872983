"""Each call-quality metric, defined once: its unit, the samples it needs and where they come from.

A :class:`StreamSample` is one reading of one RTP stream's cumulative counters at a time ``at_ms``
(milliseconds on any monotonic clock). Its fields carry the W3C ``RTCStats`` names in snake case
(https://www.w3.org/TR/webrtc-stats/): Chromium's ``getStats()`` fills them all (``inbound-rtp``,
``outbound-rtp``); the Python SDK's receive meter (:mod:`hubbub.sdk.quality`) fills what it can
count on decoded frames, and leaves the rest at zero. Rates are deltas between two samples of the
same stream, never a counter divided by the call's age, so a metric says what happened in its
interval. Every function here is pure: samples in, numbers out.

=========================  =======  ===================================================  ==========================
metric                     unit     samples it needs                                     source
=========================  =======  ===================================================  ==========================
send / receive bitrate     kbit/s   two samples: ``bytes_sent`` / ``bytes_received``      outbound-rtp / inbound-rtp
frame rate                 frame/s  two samples: ``frames_decoded`` (or ``_encoded``)     inbound-rtp / outbound-rtp
resolution                 px       the last sample: ``frame_width``, ``frame_height``   inbound-rtp / outbound-rtp
freezes, as reported       n, ms    two samples: ``freeze_count``,                       inbound-rtp (Chromium's
                                    ``total_freezes_duration`` (s)                       own definition)
freezes, by render gap     n, ms    the render times of frames (ms)                      requestVideoFrameCallback,
                                                                                         or the SDK's meter
audio concealment          %        two samples: ``concealed_samples``,                  inbound-rtp (audio)
                                    ``total_samples_received``
audio freezes              n, ms    a series of (duration, concealed) chunks, in order   per frame or per interval
jitter-buffer delay        ms       two samples: ``jitter_buffer_delay`` (s),            inbound-rtp
                                    ``jitter_buffer_emitted_count``
end-to-end delay           ms       (stamp, render time) pairs, :mod:`.stamp`            the video's own pixels
=========================  =======  ===================================================  ==========================

Freezes, two definitions side by side. Chromium counts a freeze when a frame is shown for longer
than max(3 x the average frame duration, average + 150 ms), and reports ``freezeCount`` and
``totalFreezesDuration`` (seconds): taken as reported. The project's own definition needs no
average: a freeze is a gap of more than :data:`FREEZE_GAP_MS` (500 ms) between two rendered frames,
and its duration is the whole gap.

An audio freeze is more than :data:`AUDIO_FREEZE_MS` (200 ms) of concealed audio in a row. From
per-frame data (each 10 or 20 ms frame concealed or not) it is exact; from polled counters, each
interval is one chunk and an interval counts as concealed in a row when at least half of it was.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import msgspec

__all__ = [
    "AUDIO_FREEZE_MS",
    "FREEZE_GAP_MS",
    "Freezes",
    "StreamSample",
    "audio_freezes",
    "bitrate_kbps",
    "concealed_pct",
    "frame_rate",
    "jitter_buffer_ms",
    "media_bitrate_kbps",
    "percentile",
    "render_gap_freezes",
    "reported_freezes",
    "time_to_adapt_s",
]

FREEZE_GAP_MS = 500.0
"""A gap between two rendered frames longer than this is a video freeze (the whole gap counts)."""

AUDIO_FREEZE_MS = 200.0
"""More concealed audio in a row than this is an audio freeze."""


class StreamSample(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One reading of one RTP stream's cumulative counters (the W3C names, snake case).

    ``at_ms`` is the reading's time in ms; ``kind`` is ``"audio"`` or ``"video"``; ``direction``
    ``"inbound"`` or ``"outbound"``. Durations keep the stats' own unit (seconds), as reported.
    """

    at_ms: float
    kind: str
    direction: str
    stream_id: str = ""
    """The stream's stats id (one per SSRC: simulcast layers are separate streams)."""
    bytes: int = 0
    """``bytesReceived`` (inbound) or ``bytesSent`` (outbound): RTP payload bytes."""
    fec_bytes: int = 0
    """inbound: ``fecBytesReceived``, the FEC payload among ``bytes`` (ULPFEC in RED, FlexFEC)."""
    retransmitted_bytes: int = 0
    """inbound: ``retransmittedBytesReceived``, the retransmitted payload among ``bytes``."""
    encoded_bytes: int = 0
    """inbound video: the bytes of the encoded frames handed to the decoder, counted by an
    encoded transform on the receiver (0 where none runs): the media alone, without FEC,
    retransmissions or RTP payload descriptors. Chromium's ``fecBytesReceived`` misses most
    ULPFEC, which libwebrtc adds peer to peer on a lossy path (20-50% of ``bytes``)."""
    frames: int = 0
    """``framesDecoded`` (inbound) or ``framesEncoded`` (outbound)."""
    frames_per_second: float | None = None
    """``framesPerSecond`` as the stats report it, when they do."""
    frame_width: int = 0
    frame_height: int = 0
    freeze_count: int = 0
    total_freezes_duration: float = 0.0
    concealed_samples: int = 0
    total_samples_received: int = 0
    jitter_buffer_delay: float = 0.0
    jitter_buffer_emitted_count: int = 0
    packets_received: int = 0
    packets_lost: int = 0
    quality_limitation_reason: str = ""
    """outbound video: ``none``, ``bandwidth``, ``cpu`` or ``other``."""


def _span_ms(first: StreamSample, last: StreamSample) -> float:
    return last.at_ms - first.at_ms


def bitrate_kbps(first: StreamSample, last: StreamSample) -> float:
    """kbit/s between two samples of a stream: 8 x byte delta / ms delta (bits per ms = kbit/s).

    0 when no time passed; a counter that went backwards (a new stream) counts as 0 bytes.
    """
    span = _span_ms(first, last)
    if span <= 0:
        return 0.0
    return max(0, last.bytes - first.bytes) * 8 / span


def media_bitrate_kbps(first: StreamSample, last: StreamSample) -> float:
    """The media's own kbit/s: the encoded frames' bytes when counted (``encoded_bytes``), else
    :func:`bitrate_kbps` less the FEC and retransmissions the stats report."""
    span = _span_ms(first, last)
    if span <= 0 or last.bytes < first.bytes:
        return 0.0
    if last.encoded_bytes > 0:
        return max(0, last.encoded_bytes - first.encoded_bytes) * 8 / span
    repair = max(0, last.fec_bytes - first.fec_bytes) + max(0, last.retransmitted_bytes - first.retransmitted_bytes)
    return max(0, last.bytes - first.bytes - repair) * 8 / span


def frame_rate(first: StreamSample, last: StreamSample) -> float:
    """Frames per second between two samples, from the ``frames`` counter delta."""
    span = _span_ms(first, last)
    if span <= 0:
        return 0.0
    return max(0, last.frames - first.frames) * 1000 / span


def reported_freezes(first: StreamSample, last: StreamSample) -> tuple[int, float]:
    """Chromium's freezes between two samples, as reported: (count, total ms)."""
    count = max(0, last.freeze_count - first.freeze_count)
    return count, max(0.0, last.total_freezes_duration - first.total_freezes_duration) * 1000


class Freezes(msgspec.Struct, frozen=True):
    """Freezes found in a series: how many, and their total duration in ms."""

    count: int
    total_ms: float


def render_gap_freezes(render_ms: Iterable[float], gap_ms: float = FREEZE_GAP_MS) -> Freezes:
    """Freezes by the project's definition: each gap over ``gap_ms`` between consecutive render times.

    ``render_ms`` are the times (ms, ascending) at which frames were rendered. A gap of exactly
    ``gap_ms`` is not a freeze; a freeze lasts its whole gap.
    """
    count, total = 0, 0.0
    previous: float | None = None
    for at in render_ms:
        if previous is not None and at - previous > gap_ms:
            count += 1
            total += at - previous
        previous = at
    return Freezes(count, total)


def concealed_pct(first: StreamSample, last: StreamSample) -> float:
    """Share of concealed audio samples between two samples, in percent (0 when none received)."""
    total = last.total_samples_received - first.total_samples_received
    if total <= 0:
        return 0.0
    return 100 * max(0, last.concealed_samples - first.concealed_samples) / total


def audio_freezes(chunks: Iterable[tuple[float, float]], freeze_ms: float = AUDIO_FREEZE_MS) -> Freezes:
    """Audio freezes in a series of ``(duration_ms, concealed_ms)`` chunks, in time order.

    A chunk at least half concealed continues a run of concealment (its concealed ms add up), any
    other chunk ends it; a run over ``freeze_ms`` is one freeze, its duration the run's concealed ms.
    """
    count, total, run = 0, 0.0, 0.0

    def close(run: float) -> None:
        nonlocal count, total
        if run > freeze_ms:
            count += 1
            total += run

    for duration, concealed in chunks:
        if duration > 0 and concealed * 2 >= duration:
            run += concealed
        else:
            close(run)
            run = 0.0
    close(run)
    return Freezes(count, total)


def jitter_buffer_ms(first: StreamSample, last: StreamSample) -> float | None:
    """Average jitter-buffer delay (ms) of the samples emitted between two readings; None if none was."""
    emitted = last.jitter_buffer_emitted_count - first.jitter_buffer_emitted_count
    if emitted <= 0:
        return None
    return max(0.0, last.jitter_buffer_delay - first.jitter_buffer_delay) * 1000 / emitted


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The ``pct`` percentile (0-100) by linear interpolation between closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * min(100.0, max(0.0, pct)) / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def time_to_adapt_s(
    series: Iterable[tuple[float, float]], step_ms: float, capacity_kbps: float, tolerance: float = 0.2
) -> float | None:
    """Seconds from a capacity step until the received bitrate stays within ``tolerance`` of it.

    ``series`` is ``(at_ms, recv_kbps)`` in time order. The answer is the time of the first reading
    after the step from which every later reading lies within ``capacity x (1 ± tolerance)``; None
    when the last reading is still outside (never adapted).
    """
    settled: float | None = None
    for at, kbps in series:
        if at < step_ms:
            continue
        if abs(kbps - capacity_kbps) <= tolerance * capacity_kbps:
            if settled is None:
                settled = at
        else:
            settled = None
    return None if settled is None else (settled - step_ms) / 1000
