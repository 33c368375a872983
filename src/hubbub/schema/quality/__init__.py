"""Call-quality metrics, defined once: for the benchmark, the tests, the call inspector and both SDKs.

Pure Python, no I/O: :mod:`.metrics` (each metric, its unit, samples and source), :mod:`.stamp`
(the time stamp drawn into video for end-to-end delay), :mod:`.wer` (word error rate of recognised
speech) and :mod:`.summary` (one leg's :class:`QualitySummary` from a series of samples). The
measuring is elsewhere: the Python SDK's :mod:`hubbub.sdk.quality` and the Web SDK's ``quality.js``.
"""

from __future__ import annotations

from .metrics import (
    AUDIO_FREEZE_MS,
    FREEZE_GAP_MS,
    Freezes,
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
    time_to_adapt_s,
)
from .stamp import decode_stamp_levels, stamp_bits, stamp_delay_ms, stamp_rects, stamp_value
from .summary import QualitySummary, audio_chunks, summarise
from .wer import normalise_words, word_error_rate

__all__ = [
    "AUDIO_FREEZE_MS",
    "FREEZE_GAP_MS",
    "Freezes",
    "QualitySummary",
    "StreamSample",
    "audio_chunks",
    "audio_freezes",
    "bitrate_kbps",
    "concealed_pct",
    "decode_stamp_levels",
    "frame_rate",
    "jitter_buffer_ms",
    "media_bitrate_kbps",
    "normalise_words",
    "percentile",
    "render_gap_freezes",
    "reported_freezes",
    "stamp_bits",
    "stamp_delay_ms",
    "stamp_rects",
    "stamp_value",
    "summarise",
    "time_to_adapt_s",
    "word_error_rate",
]
