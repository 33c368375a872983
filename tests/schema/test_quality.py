"""The quality metrics on hand-made sample series: exact values, edge cases, the stamp's bit layout, WER."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hubbub.schema.quality import (
    QualitySummary,
    StreamSample,
    audio_chunks,
    audio_freezes,
    bitrate_kbps,
    concealed_pct,
    decode_stamp_levels,
    frame_rate,
    jitter_buffer_ms,
    media_bitrate_kbps,
    normalise_words,
    percentile,
    render_gap_freezes,
    reported_freezes,
    stamp_bits,
    stamp_delay_ms,
    stamp_rects,
    stamp_value,
    summarise,
    time_to_adapt_s,
    word_error_rate,
)
from hubbub.schema.quality.stamp import STAMP_CELLS, SYNC, TRAILER, crc8
from hubbub.schema.quality.wer import levenshtein, number_words

SERIES = Path(__file__).parent / "fixtures" / "quality_series.json"


def _video(at_ms: float, **fields: Any) -> StreamSample:
    return StreamSample(at_ms=at_ms, kind="video", direction="inbound", **fields)


def test_bitrate_and_frame_rate_from_counter_deltas() -> None:
    first, last = _video(1000, bytes=10_000, frames=30), _video(3000, bytes=260_000, frames=90)
    assert bitrate_kbps(first, last) == 1000.0  # 250,000 bytes x 8 / 2,000 ms
    assert frame_rate(first, last) == 30.0
    assert bitrate_kbps(first, first) == 0.0 and frame_rate(first, first) == 0.0
    assert bitrate_kbps(last, _video(4000, bytes=5)) == 0.0  # a counter that restarts is no negative rate


def test_media_bitrate_counts_encoded_frames_when_counted_else_leaves_out_reported_repair() -> None:
    first = _video(0, bytes=0, fec_bytes=0, retransmitted_bytes=0)
    last = _video(1000, bytes=200_000, fec_bytes=10_000, retransmitted_bytes=15_000)
    assert media_bitrate_kbps(first, last) == 1400.0  # (200,000 - 25,000) x 8 / 1,000 ms
    # an encoded transform counted 125,000 bytes of frames: the ULPFEC the stats missed is left out
    counted = _video(1000, bytes=200_000, fec_bytes=10_000, retransmitted_bytes=15_000, encoded_bytes=130_000)
    assert media_bitrate_kbps(_video(0, encoded_bytes=5_000), counted) == 1000.0
    assert media_bitrate_kbps(counted, _video(2000, bytes=5, encoded_bytes=9)) == 0.0  # a new stream


def test_reported_freezes_and_jitter_buffer_delay() -> None:
    first = _video(
        0, freeze_count=2, total_freezes_duration=1.0, jitter_buffer_delay=1.5, jitter_buffer_emitted_count=30
    )
    last = _video(
        1000, freeze_count=5, total_freezes_duration=2.25, jitter_buffer_delay=3.0, jitter_buffer_emitted_count=60
    )
    assert reported_freezes(first, last) == (3, 1250.0)
    assert jitter_buffer_ms(first, last) == 50.0
    assert jitter_buffer_ms(last, last) is None


def test_render_gap_freezes_count_whole_gaps_over_500_ms() -> None:
    freezes = render_gap_freezes([0, 500, 1001, 1034, 2000])
    assert (freezes.count, freezes.total_ms) == (2, 1467.0)  # 500 exactly is no freeze; 501 and 966 are
    assert render_gap_freezes([]).count == 0
    assert render_gap_freezes([0, 300, 600], gap_ms=250).total_ms == 600.0


def test_concealment_share_and_audio_freezes() -> None:
    first = StreamSample(
        at_ms=0, kind="audio", direction="inbound", concealed_samples=480, total_samples_received=48_000
    )
    last = StreamSample(
        at_ms=1000, kind="audio", direction="inbound", concealed_samples=5280, total_samples_received=96_000
    )
    assert concealed_pct(first, last) == 10.0
    assert concealed_pct(last, last) == 0.0
    frames = [(20.0, 0.0)] + [(20.0, 20.0)] * 10 + [(20.0, 0.0)] + [(20.0, 20.0)] * 11 + [(20.0, 10.0)]
    freezes = audio_freezes(frames)  # 200 ms in a row is not yet a freeze; 230 ms is
    assert (freezes.count, freezes.total_ms) == (1, 230.0)
    assert audio_freezes([(100.0, 60.0), (100.0, 100.0), (100.0, 50.0)]).total_ms == 210.0  # polled intervals
    assert audio_freezes([(0.0, 0.0)]).count == 0


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([100, 120, 140, 160, 180], 95) == pytest.approx(176.0)


def test_time_to_adapt() -> None:
    series = [(0, 3000.0), (1000, 2000.0), (2000, 450.0), (3000, 800.0), (4000, 520.0), (5000, 480.0), (6000, 510.0)]
    assert time_to_adapt_s(series, 1000, 500) == 3.0  # from 4 s on within 400..600
    assert time_to_adapt_s(series[:4], 1000, 500) is None


def test_summary_of_the_shared_series() -> None:
    case = json.loads(SERIES.read_text())
    samples = msgspec.convert(case["samples"], list[StreamSample])
    summary = summarise(samples, render_ms=case["render_ms"], e2e_delays_ms=case["e2e_delays_ms"], wer=case["wer"])
    got = msgspec.to_builtins(summary)
    assert set(got) == set(case["summary"])
    for key, expected in case["summary"].items():
        assert got[key] == pytest.approx(expected), key
    assert audio_chunks(samples[3:4]) == []


def test_summary_without_samples_says_nothing_was_measured() -> None:
    summary = summarise([])
    assert summary == QualitySummary(duration_s=0.0)
    encoded = json.loads(msgspec.json.encode(summary))
    assert encoded["recv_kbps"] is None and encoded["e2e_delay_ms_p95"] is None  # every key is in the JSON


# --- the stamp ---------------------------------------------------------------------------------


def test_stamp_layout_and_round_trip() -> None:
    rng = random.Random(7)
    for value in [0, 1, 2**32 - 1, 0xDEADBEEF, *(rng.randrange(2**32) for _ in range(200))]:
        bits = stamp_bits(value)
        assert len(bits) == STAMP_CELLS and bits[: len(SYNC)] == SYNC and bits[-2:] == TRAILER
        assert decode_stamp_levels([220.0 if b else 30.0 for b in bits]) == value
    assert stamp_bits(2**32 + 5) == stamp_bits(5)
    assert crc8(b"123456789") == 0xF4  # the CRC-8 check value for polynomial 0x07


def test_stamp_cells_are_the_shared_fixture() -> None:
    for stamp in json.loads(SERIES.read_text())["stamps"]:
        assert "".join(map(str, stamp_bits(stamp["value"]))) == stamp["bits"]


def test_stamp_rejects_what_it_cannot_read_exactly() -> None:
    levels = [235.0 if b else 16.0 for b in stamp_bits(123_456)]
    assert decode_stamp_levels(levels[:-1]) is None
    assert decode_stamp_levels([128.0] * STAMP_CELLS) is None  # no contrast
    for index in range(len(SYNC), STAMP_CELLS):  # any single flipped cell after the sync
        flipped = list(levels)
        flipped[index] = 251.0 - flipped[index]
        assert decode_stamp_levels(flipped) is None, index
    assert decode_stamp_levels([16.0 if b else 235.0 for b in stamp_bits(123_456)]) is None  # inverted


def test_stamp_geometry() -> None:
    rects = stamp_rects(320, 180)
    assert len(rects) == STAMP_CELLS
    assert rects[0] == (0, 120, 20) and rects[-1] == (300, 160, 20)
    assert stamp_rects(64, 8) == []  # 4-px cells need 12 rows
    assert stamp_rects(1280, 720)[0] == (0, 480, 80)


def test_stamp_delay_wraps() -> None:
    assert stamp_value(1_700_000_000_123.9) == 1_700_000_000_123 % 2**32
    assert stamp_delay_ms(stamp_value(5000), 5120.5) == 120.5
    assert stamp_delay_ms(2**32 - 10, 2**32 + 30) == 40.0
    assert stamp_delay_ms(50, 40) == -10.0  # clocks out of step read as negative, not as 49 days


# --- word error rate ---------------------------------------------------------------------------


def test_normalisation() -> None:
    assert normalise_words("Hello, World! It's 42.") == ["hello", "world", "its", "forty", "two"]
    assert normalise_words("1,200 people; 3.5% - 7") == [
        "one",
        "thousand",
        "two",
        "hundred",
        "people",
        "three",
        "point",
        "five",
        "percent",
        "seven",
    ]
    assert normalise_words("-7 and 1905") == ["minus", "seven", "and", "one", "thousand", "nine", "hundred", "five"]
    assert number_words(0) == ["zero"]
    assert number_words(2_000_013) == ["two", "million", "thirteen"]
    assert normalise_words("") == []


def test_word_error_rate() -> None:
    assert word_error_rate("The quick brown fox.", "the quick brown fox") == 0.0
    assert word_error_rate("the quick brown fox", "the quick fox") == 0.25  # one deletion
    assert word_error_rate("the quick brown fox", "a quick brown fox jumps") == 0.5  # substitution + insertion
    assert word_error_rate("I have 3 cats", "i have three cats") == 0.0
    assert word_error_rate("", "") == 0.0 and word_error_rate("", "noise") == 1.0
    assert word_error_rate("one", "two three four") == 3.0
    assert levenshtein(["a", "b", "c"], ["c", "a"]) == 3
    assert levenshtein(["a", "b", "c"], ["a", "c"]) == 1
