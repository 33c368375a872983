"""Media sources and probes, end to end through two aiortc peer connections (no server).

The sender publishes a :class:`ToneTrack` and a :class:`FrameCounterTrack`; the receiver must read
back strictly increasing frame counters from VP8-decoded video and find the 440 Hz tone in
Opus-decoded audio. Unit tests of the sources and probes follow.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from hubbub.sdk.loopback import allow_loopback_candidates
from hubbub.sdk.media import (
    FrameCounterTrack,
    GeneratorAudioTrack,
    GeneratorVideoTrack,
    ToneTrack,
    detect_tone,
    draw_frame_counter,
    file_tracks,
    read_frame_counter,
    stand_in_track,
)


async def _connect(sender: RTCPeerConnection, receiver: RTCPeerConnection) -> None:
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)


async def test_tone_and_frame_counter_survive_a_real_peer_connection() -> None:
    with allow_loopback_candidates():
        sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        received: dict[str, MediaStreamTrack] = {}
        got_both = asyncio.Event()

        def on_track(track: MediaStreamTrack) -> None:  # aiortc emits the track itself
            received[track.kind] = track
            if len(received) == 2:
                got_both.set()

        receiver.add_listener("track", on_track)
        video_source = FrameCounterTrack(320, 240, 15)
        sender.addTrack(ToneTrack(440))
        sender.addTrack(video_source)
        try:
            await _connect(sender, receiver)
            await asyncio.wait_for(got_both.wait(), 10)

            async def read_video() -> list[int]:
                counters: list[int] = []
                deadline = time.monotonic() + 3.0
                while time.monotonic() < deadline:
                    frame = await asyncio.wait_for(received["video"].recv(), 5)
                    assert isinstance(frame, VideoFrame)
                    value = read_frame_counter(frame)
                    if value is not None:
                        counters.append(value)
                return counters

            async def read_audio() -> list[AudioFrame]:
                frames: list[AudioFrame] = []
                for _ in range(125):  # 2.5 s of 20 ms frames
                    frame = await asyncio.wait_for(received["audio"].recv(), 5)
                    assert isinstance(frame, AudioFrame)
                    frames.append(frame)
                return frames

            counters, audio = await asyncio.gather(read_video(), read_audio())
        finally:
            await sender.close()
            await receiver.close()

    assert len(counters) >= 15, counters
    assert all(b > a for a, b in itertools.pairwise(counters)), counters
    assert counters[-1] <= video_source.counter
    steady = audio[50:]  # skip the first second: jitter buffer and Opus start-up
    assert detect_tone(steady, 440) > 0.7
    assert detect_tone(steady, 1000) < 0.05


# --- frame counter -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(320, 240), (640, 480), (128, 96), (1280, 720)])
def test_frame_counter_round_trips_without_compression(size: tuple[int, int]) -> None:
    track = FrameCounterTrack(*size)
    for counter in (0, 1, 2, 255, 256, 65_537, 2**24 - 1):
        frame = track.make_frame(counter)
        assert (frame.width, frame.height) == size
        assert read_frame_counter(frame) == counter


def test_frame_counter_rejects_frames_without_the_pattern() -> None:
    assert read_frame_counter(np.full((240, 320), 128, dtype=np.uint8)) is None
    assert read_frame_counter(np.zeros((240, 320), dtype=np.uint8)) is None
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, size=(240, 320), dtype=np.uint8)
    assert read_frame_counter(noise) is None


def test_frame_counter_check_value_catches_a_flipped_bit() -> None:
    luma = np.full((240, 320), 128, dtype=np.uint8)
    draw_frame_counter(luma, 1234)
    assert read_frame_counter(luma) == 1234
    cell = 320 // 16
    luma[0:cell, 5 * cell : 6 * cell] = 255 - luma[0:cell, 5 * cell : 6 * cell]  # flip one data bit
    assert read_frame_counter(luma) is None


def test_frame_counter_survives_blur_and_scaling() -> None:
    frame = FrameCounterTrack(640, 480).make_frame(4242)
    smaller = frame.reformat(width=320, height=240)
    assert read_frame_counter(smaller) == 4242


def test_frame_counter_track_validates_its_size() -> None:
    with pytest.raises(ValueError):
        FrameCounterTrack(63, 48)
    with pytest.raises(ValueError):
        FrameCounterTrack(320, 240, fps=0)


async def test_frame_counter_track_counts_and_paces() -> None:
    track = FrameCounterTrack(160, 120, fps=50)
    start = time.monotonic()
    frames = [await track.recv() for _ in range(6)]
    elapsed = time.monotonic() - start
    assert [read_frame_counter(f) for f in frames] == [0, 1, 2, 3, 4, 5]
    assert [f.pts for f in frames] == [i * 90_000 // 50 for i in range(6)]
    assert elapsed >= 0.09  # frame 5 is due 100 ms after frame 0
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


# --- tone and detect_tone ----------------------------------------------------------------------


def _frames_of(samples: npt.NDArray[np.int16], rate: int = 48_000, size: int = 960) -> list[AudioFrame]:
    frames = []
    for start in range(0, len(samples) - size + 1, size):
        frame = AudioFrame.from_ndarray(samples[start : start + size].reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        frames.append(frame)
    return frames


def _sine(freq: float, seconds: float, rate: int = 48_000) -> npt.NDArray[np.int16]:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * math.pi * freq * t) * 10_000).astype(np.int16)


def test_detect_tone_scores_the_right_frequency() -> None:
    frames = _frames_of(_sine(440, 0.5))
    assert detect_tone(frames, 440) > 0.95
    assert detect_tone(frames, 880) < 0.01
    mixed = _frames_of(_sine(440, 0.5) // 2 + _sine(1000, 0.5) // 2)
    assert 0.3 < detect_tone(mixed, 440) < 0.7


def test_detect_tone_handles_silence_and_nothing() -> None:
    assert detect_tone([], 440) == 0.0
    assert detect_tone(_frames_of(np.zeros(4800, dtype=np.int16)), 440) == 0.0


def test_detect_tone_reads_planar_stereo_float() -> None:
    tone = _sine(440, 0.2).astype(np.float32) / 32768
    frame = AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
    frame.sample_rate = 48_000
    assert detect_tone([frame], 440) > 0.95


async def test_tone_track_is_continuous_across_frames() -> None:
    track = ToneTrack(1000)
    frames = [await track.recv() for _ in range(5)]
    assert all(f.samples == 960 and f.sample_rate == 48_000 for f in frames)
    assert [f.pts for f in frames] == [0, 960, 1920, 2880, 3840]
    joined = np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float64)
    assert np.max(np.abs(np.diff(joined))) < 0.14 * 32768 * 0.3 * 2  # no phase jump at frame edges
    assert detect_tone(frames, 1000) > 0.95
    with pytest.raises(ValueError):
        ToneTrack(30_000)


# --- generator tracks --------------------------------------------------------------------------


async def test_generator_audio_track_reframes_and_ends() -> None:
    async def chunks() -> AsyncIterator[npt.NDArray[np.float32]]:
        for _ in range(3):
            yield np.full(700, 0.5, dtype=np.float32)  # 2100 samples = 2 frames + 180

    track = GeneratorAudioTrack(chunks())
    frames = [await track.recv() for _ in range(3)]
    assert [f.samples for f in frames] == [960, 960, 960]
    last = frames[2].to_ndarray().reshape(-1)
    assert (last[:180] == 16383).all() and (last[180:] == 0).all()  # padded with silence
    with pytest.raises(MediaStreamError):
        await track.recv()
    assert track.readyState == "ended"


async def test_generator_audio_track_stereo_int16() -> None:
    async def chunks() -> AsyncIterator[npt.NDArray[np.int16]]:
        yield np.tile(np.array([[100, -100]], dtype=np.int16), (960, 1))

    track = GeneratorAudioTrack(chunks(), channels=2)
    frame = await track.recv()
    assert frame.layout.name == "stereo" and frame.samples == 960
    assert frame.to_ndarray().reshape(-1)[:4].tolist() == [100, -100, 100, -100]


async def test_generator_video_track() -> None:
    async def images() -> AsyncIterator[npt.NDArray[np.uint8]]:
        for value in (10, 200):
            yield np.full((48, 64, 3), value, dtype=np.uint8)

    track = GeneratorVideoTrack(images(), fps=100)
    first, second = await track.recv(), await track.recv()
    assert (first.width, first.height) == (64, 48)
    assert first.to_ndarray(format="rgb24")[0, 0, 0] == 10
    assert second.pts == 900
    with pytest.raises(MediaStreamError):
        await track.recv()


# --- stand-ins and files -----------------------------------------------------------------------


async def test_stand_ins_keep_the_track_id() -> None:
    video = FrameCounterTrack(160, 120)
    black = stand_in_track("video", video.id, video)
    assert black.id == video.id and black.kind == "video"
    frame = await black.recv()
    assert isinstance(frame, VideoFrame) and (frame.width, frame.height) == (160, 120)
    silence = stand_in_track("audio", None, None)
    audio = await silence.recv()
    assert isinstance(audio, AudioFrame) and not audio.to_ndarray().any()


async def test_file_tracks_plays_a_wav_file(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(_sine(440, 0.5).tobytes())
    tracks = file_tracks(str(path))
    try:
        assert tracks.video is None and tracks.audio is not None
        frames = []
        for _ in range(10):
            frame = await asyncio.wait_for(tracks.audio.recv(), 5)
            assert isinstance(frame, AudioFrame)
            frames.append(frame)
        assert detect_tone(frames, 440) > 0.9
    finally:
        tracks.stop()
