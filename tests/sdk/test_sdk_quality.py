"""The Python SDK's receive meter and the video time stamp: pixels, a real VP8 codec, a real aiortc call."""

from __future__ import annotations

import asyncio
import fractions
import itertools

import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame, VideoFrame

from hubbub.schema.quality import StreamSample
from hubbub.sdk.loopback import allow_loopback_candidates
from hubbub.sdk.media import FrameCounterTrack, ToneTrack, read_frame_counter
from hubbub.sdk.quality import ReceiveMeter, StampedVideoTrack, draw_stamp, read_stamp, sender_samples

# --- the stamp in pixels -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [(320, 180), (640, 360), (1280, 720), (176, 144)])
def test_stamp_round_trips_in_yuv_rgb_and_luma(size: tuple[int, int]) -> None:
    w, h = size
    planes = np.full((h * 3 // 2, w), 128, dtype=np.uint8)
    draw_stamp(planes, 0xCAFEF00D, planar_yuv=True)
    assert read_stamp(VideoFrame.from_ndarray(planes, format="yuv420p")) == 0xCAFEF00D
    assert read_stamp(planes[:h]) == 0xCAFEF00D
    rgb = np.zeros((h, w, 3), dtype=np.uint8)
    draw_stamp(rgb, 12345)
    assert read_stamp(rgb) == 12345
    assert read_stamp(VideoFrame.from_ndarray(rgb, format="rgb24")) == 12345


def test_stamp_survives_scaling_and_leaves_the_frame_counter_alone() -> None:
    frame = FrameCounterTrack(640, 360).make_frame(77)
    planes = np.asarray(frame.to_ndarray(), dtype=np.uint8)
    draw_stamp(planes, 99, planar_yuv=True)
    stamped = VideoFrame.from_ndarray(planes, format="yuv420p")
    assert read_frame_counter(stamped) == 77 and read_stamp(stamped) == 99
    assert read_stamp(stamped.reformat(width=320, height=180)) == 99  # a lower simulcast layer


def test_unstamped_and_too_small_frames_read_as_none() -> None:
    assert read_stamp(np.full((180, 320), 128, dtype=np.uint8)) is None
    assert read_stamp(FrameCounterTrack(320, 180).make_frame(5)) is None
    assert read_stamp(np.zeros((8, 64), dtype=np.uint8)) is None
    with pytest.raises(ValueError, match="too small"):
        draw_stamp(np.zeros((8, 64), dtype=np.uint8), 1)
    with pytest.raises(ValueError, match="too small"):
        StampedVideoTrack(320, 96)


@pytest.mark.parametrize(("size", "kbps"), [((320, 180), 30), ((320, 180), 150), ((320, 180), 600), ((640, 360), 200)])
def test_stamp_survives_a_real_vp8_codec(size: tuple[int, int], kbps: int) -> None:
    """libvpx (PyAV) at a starved to a generous bitrate, noise below the stamp so bits are scarce."""
    w, h = size
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = w, h, "yuv420p"
    encoder.bit_rate = kbps * 1000
    encoder.framerate, encoder.time_base = fractions.Fraction(15), fractions.Fraction(1, 15)
    encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    decoder = av.CodecContext.create("libvpx", "r")
    source = FrameCounterTrack(w, h, 15)
    rng = np.random.default_rng(1)
    sent: list[int] = []
    read: list[int | None] = []
    for i in range(30):
        planes = np.asarray(source.make_frame(i).to_ndarray(), dtype=np.uint8)
        planes[h // 3 : h // 2] = rng.integers(0, 256, (h // 2 - h // 3, w), dtype=np.uint8)
        value = (1_700_000_000_000 + i * 66_667 + i * i * 7) % 2**32
        draw_stamp(planes, value, planar_yuv=True)
        frame = VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = i
        sent.append(value)
        for packet in encoder.encode(frame):
            read.extend(read_stamp(decoded) for decoded in decoder.decode(packet))
    assert len(read) == len(sent)
    assert [r for r in read if r is not None] == [s for s, r in zip(sent, read, strict=True) if r is not None]
    assert sum(r is not None for r in read) >= 27, read  # wrong values never; unreadable rarely


# --- the meter on hand-made frames -------------------------------------------------------------


class _Frames(MediaStreamTrack):
    def __init__(self, kind: str, frames: list[AudioFrame | VideoFrame]) -> None:
        super().__init__()
        self.kind = kind
        self._frames = iter(frames)

    async def recv(self) -> AudioFrame | VideoFrame:
        return next(self._frames)


def _audio(pts: int, samples: int = 960) -> AudioFrame:
    frame = AudioFrame.from_ndarray(np.zeros((1, samples), dtype=np.int16), format="s16", layout="mono")
    frame.sample_rate, frame.pts = 48_000, pts
    return frame


async def test_the_meter_counts_missing_audio_as_concealed() -> None:
    pts = [0, 960, 1920, 1920 + 960 * 12, 1920 + 960 * 13]  # 11 frames (220 ms) missing before the 4th
    meter = ReceiveMeter(_Frames("audio", [_audio(p) for p in pts]), clock=lambda: 2.0)
    for _ in pts:
        await meter.recv()
    sample = await meter.sample()
    assert (sample.concealed_samples, sample.total_samples_received) == (960 * 11, 960 * 16)
    assert meter.audio_frames[3] == (220.0, 220.0)
    first = StreamSample(at_ms=0, kind="audio", direction="inbound", stream_id=sample.stream_id)
    summary = meter.summary([first, sample])
    assert summary.audio_concealed_pct == pytest.approx(100 * 11 / 16)
    assert (summary.audio_freeze_count, summary.audio_freeze_ms) == (1, 220.0)


async def test_the_meter_times_renders_and_reads_stamps() -> None:
    now = iter([1.0, 1.1, 1.7, 1.8, 1.8])
    wall_ms = 1_700_000_000_000
    frames: list[AudioFrame | VideoFrame] = []
    for i in range(4):
        planes = np.full((270, 320), 128, dtype=np.uint8)
        draw_stamp(planes, wall_ms - 100 - i, planar_yuv=True)
        frames.append(VideoFrame.from_ndarray(planes, format="yuv420p"))
    meter = ReceiveMeter(_Frames("video", frames), clock=lambda: next(now), wall=lambda: wall_ms / 1000)
    for _ in range(4):
        await meter.recv()
    assert meter.render_ms == pytest.approx([1000, 1100, 1700, 1800])
    assert meter.e2e_delays_ms == [100.0, 101.0, 102.0, 103.0]
    sample = await meter.sample()
    assert (sample.frames, sample.frame_width, sample.frame_height, sample.at_ms) == (4, 320, 180, 1800.0)
    summary = meter.summary([])
    assert summary.freeze_count == 1 and summary.freeze_ms == pytest.approx(600.0)
    assert summary.e2e_delay_ms_p50 == 101.5


# --- the meter in a real call ------------------------------------------------------------------


async def test_the_meter_on_a_real_aiortc_call() -> None:
    with allow_loopback_candidates():
        sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        meters: dict[str, ReceiveMeter] = {}
        got_both = asyncio.Event()

        def on_track(track: MediaStreamTrack) -> None:
            transceiver = next(t for t in receiver.getTransceivers() if t.receiver.track is track)
            meters[track.kind] = ReceiveMeter(track, receiver=transceiver.receiver)
            if len(meters) == 2:
                got_both.set()

        receiver.add_listener("track", on_track)
        sender.addTrack(ToneTrack(440))
        video_sender = sender.addTrack(StampedVideoTrack(320, 180, 15))
        try:
            await sender.setLocalDescription(await sender.createOffer())
            await receiver.setRemoteDescription(sender.localDescription)
            await receiver.setLocalDescription(await receiver.createAnswer())
            await sender.setRemoteDescription(receiver.localDescription)
            await asyncio.wait_for(got_both.wait(), 10)
            stop = asyncio.Event()
            runs = [asyncio.create_task(m.run(until=stop)) for m in meters.values()]
            await asyncio.sleep(1.0)
            first = [await m.sample() for m in meters.values()] + await sender_samples(video_sender)
            await asyncio.sleep(2.5)
            last = [await m.sample() for m in meters.values()] + await sender_samples(video_sender)
            stop.set()
            await asyncio.wait_for(asyncio.gather(*runs), 5)
        finally:
            await sender.close()
            await receiver.close()

    video, audio = meters["video"], meters["audio"]
    summary = video.summary([*first, *last])
    assert summary.recv_kbps is not None and summary.recv_kbps > 20, summary
    assert summary.send_kbps is not None and summary.send_kbps >= summary.recv_kbps * 0.8, summary
    assert summary.audio_recv_kbps is not None and summary.audio_recv_kbps > 5, summary
    assert (summary.width, summary.height) == (320, 180)
    assert summary.fps is not None and 8 < summary.fps < 20, summary
    assert len(video.e2e_delays_ms) >= 20, video.e2e_delays_ms
    assert all(0 <= d < 1000 for d in video.e2e_delays_ms), video.e2e_delays_ms
    assert summary.e2e_delay_ms_p50 is not None and summary.e2e_delay_ms_p50 < 500
    assert all(b > a for a, b in itertools.pairwise(video.render_ms))
    assert last[0].packets_received > first[0].packets_received > 0
    assert audio.total_samples > 48_000 * 2
