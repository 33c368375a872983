from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.agents.providers.audio import (
    Resampler,
    WavError,
    WavStreamDecoder,
    decode_wav,
    encode_wav,
    parse_wav_header,
    pcm_to_int16,
    resample,
    rms_dbfs,
)

PAIRS = [(48_000, 16_000), (16_000, 48_000), (8_000, 16_000), (16_000, 8_000), (24_000, 16_000), (16_000, 24_000)]
PAIRS += [(22_050, 16_000), (22_050, 48_000), (48_000, 8_000), (8_000, 48_000), (24_000, 48_000)]


def tone(freq: float, rate: int, seconds: float = 0.5, amp: float = 0.5) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * amp * 32767).astype("<i2").tobytes()


def level_db(pcm: bytes, trim: int = 200) -> float:
    x = pcm_to_int16(pcm).astype(np.float64)[trim:-trim]
    return 20 * float(np.log10(np.sqrt(np.mean(x * x)) / (0.5 * 32767 / np.sqrt(2))))


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_resampled_tone_is_clean_aligned_and_the_right_length(src: int, dst: int) -> None:
    out = resample(tone(1000, src), src, dst)
    assert len(out) // 2 == -(-int(src * 0.5) * dst // src)
    y = pcm_to_int16(out).astype(np.float64)[200:-200]
    t = (np.arange(len(out) // 2) / dst)[200:-200]
    ref = np.sin(2 * np.pi * 1000 * t) * 0.5 * 32767
    snr = 10 * np.log10(np.mean(ref**2) / np.mean((y - ref) ** 2))
    assert snr > 70, f"{src}->{dst}: SNR {snr:.1f} dB"


@pytest.mark.parametrize(("src", "dst"), [p for p in PAIRS if p[0] > p[1]])
def test_downsampling_rejects_what_would_alias(src: int, dst: int) -> None:
    nyquist = dst / 2
    assert level_db(resample(tone(nyquist * 1.1, src), src, dst)) < -55
    assert level_db(resample(tone(nyquist * 0.8, src), src, dst)) > -1.0  # passband stays flat


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_streaming_in_odd_chunks_equals_one_call(src: int, dst: int) -> None:
    pcm = (np.random.default_rng(src + dst).normal(0, 4000, src // 4)).astype("<i2").tobytes()
    whole = Resampler(src, dst)
    expected = whole.process(pcm) + whole.flush()
    chunked = Resampler(src, dst)
    sizes = np.random.default_rng(1).integers(1, 900, 400) * 2
    out, pos = b"", 0
    for size in sizes:
        out += chunked.process(pcm[pos : pos + int(size)])
        pos += int(size)
    out += chunked.process(pcm[pos:]) + chunked.flush()
    assert out == expected
    assert out == resample(pcm, src, dst)


def test_equal_rates_pass_through() -> None:
    pcm = tone(440, 16_000)
    assert resample(pcm, 16_000, 16_000) is pcm
    assert Resampler(16_000, 16_000).process(pcm) is pcm


def test_full_scale_input_clips_instead_of_wrapping() -> None:
    square = np.where(np.arange(4800) % 48 < 24, 32767, -32768).astype("<i2").tobytes()
    out = pcm_to_int16(resample(square, 48_000, 16_000))
    assert out.max() == 32767 and out.min() == -32768  # Gibbs overshoot is clipped


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        Resampler(0, 16_000)
    with pytest.raises(ValueError):
        resample(b"\x00\x01\x02", 16_000, 48_000)


def test_wav_round_trip_and_rms() -> None:
    pcm = tone(300, 16_000, 0.25)
    data = encode_wav(pcm, 16_000)
    assert data[:4] == b"RIFF" and len(data) == 44 + len(pcm)
    assert decode_wav(data) == (pcm, 16_000)
    assert -10 < rms_dbfs(pcm) < -8
    assert rms_dbfs(b"\x00\x00" * 10) == float("-inf")


def _wav(fmt_tag: int, channels: int, rate: int, bits: int, data: bytes, *, data_size: int | None = None) -> bytes:
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    extra = b"LIST" + struct.pack("<I", 5) + b"hello\x00"  # an odd-sized chunk, padded
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_decodes_stereo_24_bit_float_and_8_bit_to_mono_int16() -> None:
    left, right = np.array([1000, -2000, 3000]), np.array([3000, 2000, -1000])
    stereo = np.stack([left, right], axis=1).astype("<i2").tobytes()
    assert list(pcm_to_int16(decode_wav(_wav(1, 2, 8000, 16, stereo))[0])) == [2000, 0, 1000]
    b24 = b"".join(struct.pack("<i", v << 16)[1:] for v in (1000, -1000))  # 24-bit v << 8
    assert list(pcm_to_int16(decode_wav(_wav(1, 1, 8000, 24, b24))[0])) == [1000, -1000]
    f32 = np.array([0.5, -0.25], dtype="<f4").tobytes()
    assert list(pcm_to_int16(decode_wav(_wav(3, 1, 8000, 32, f32))[0])) == [16384, -8192]
    u8 = bytes([128, 192, 64])
    assert list(pcm_to_int16(decode_wav(_wav(1, 1, 8000, 8, u8))[0])) == [0, 16384, -16384]


def test_streamed_wav_with_unknown_size_as_espeak_writes_it() -> None:
    pcm = tone(500, 22_050, 0.1)
    data = _wav(1, 1, 22_050, 16, pcm, data_size=0x7FFFF000)
    assert decode_wav(data) == (pcm, 22_050)
    decoder = WavStreamDecoder()
    out = b"".join(decoder.feed(data[i : i + 7]) for i in range(0, len(data), 7))
    assert out == pcm and decoder.sample_rate == 22_050


def test_stream_decoder_stops_at_the_declared_data_size() -> None:
    pcm = tone(500, 8000, 0.05)
    data = _wav(1, 1, 8000, 16, pcm) + b"trailing junk chunk"
    decoder = WavStreamDecoder()
    assert decoder.feed(data) == pcm


@pytest.mark.parametrize(
    "data",
    [b"RIFX" + bytes(40), b"RIFF\x00\x00\x00\x00WAVX", _wav(2, 1, 8000, 4, b""), _wav(1, 0, 8000, 16, b"")],
)
def test_rejects_what_it_cannot_read(data: bytes) -> None:
    with pytest.raises(WavError):
        decode_wav(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_header_parser_never_crashes_on_garbage(data: bytes) -> None:
    try:
        info = parse_wav_header(b"RIFF\x00\x00\x00\x00WAVE" + data)
    except WavError:
        return
    if info is not None:
        assert info.sample_rate > 0 and info.channels > 0
