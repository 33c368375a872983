"""The word error rate of speech a run carried: espeak-ng speaks :data:`TEXT` into the sending page
(``lab.speak``, in place of the tone), the receiving page keeps what it received, and
:func:`hubbub.bench.speech.intelligibility` (Whisper tiny.en) scores it against the text."""

from __future__ import annotations

import base64
from typing import Any

from hubbub.bench.speech import intelligibility, speak

TEXT = (
    "Please call my mother tomorrow morning. The meeting moved to half past three on Thursday. "
    "Bring the blue folder and two copies of the report."
)
RATE = 48_000
TAIL_S = 2.0  # kept after the speech's own length: the network's delay and the jitter buffer


class Speech:
    """The spoken text, once per benchmark, and one recogniser for all runs."""

    def __init__(self) -> None:
        self._pcm: bytes | None = None
        self._stt: Any = None

    async def b64(self) -> str:
        if self._pcm is None:
            self._pcm = await speak(TEXT, RATE)
        return base64.b64encode(self._pcm).decode()

    async def wer(self, received: dict[str, Any] | None) -> float | None:
        """The word error rate of the audio a page kept (``result().audio``); None if it kept none."""
        audio = (received or {}).get("audio")
        if not audio or self._pcm is None:
            return None
        from hubbub.agents.providers.whisper_stt import WhisperSTT

        rate = int(audio["rate"])
        keep = int((len(self._pcm) / 2 / RATE + TAIL_S) * rate) * 2
        pcm = base64.b64decode(audio["b64"])[:keep]
        self._stt = self._stt or WhisperSTT()
        return (await intelligibility(TEXT, pcm, rate, stt=self._stt)).wer
