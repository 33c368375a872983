"""Barge-in: when the user's speech interrupts the agent, and the stage that listens for it.

:class:`InterruptionPolicy` is sans-I/O (times are passed in). Modes:

- ``speech`` (default): voiced audio adding up to ``min_speech_ms`` (160 ms) within one burst
  (gaps under ``gap_ms`` do not end a burst) while the agent is busy answering or speaking;
- ``keywords``: only a transcript containing one of ``keywords`` (whole words, any case);
- ``off``: never; the user's words are answered after the agent's turn.

The agent's own voice cannot trigger it: the agent listens only to the configured users' tracks,
and every participant's audio is a separate track in the SFU, so there is no echo to cancel.

:class:`VadStage` runs the VAD on the user's audio, feeds the turn detector (speech start/stop)
and the policy, and pushes :class:`~hubbub.agents.frames.Interruption` when the policy fires.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from hubbub.agents.frames import AgentError, AudioIn, Frame, Interruption, UserStartedSpeaking, UserStoppedSpeaking
from hubbub.agents.pipeline import Stage
from hubbub.agents.providers.base import VAD, ProviderError
from hubbub.agents.turn import SpeechEnded, SpeechStarted, TurnDetector

Mode = Literal["speech", "keywords", "off"]


class InterruptionPolicy:
    def __init__(
        self,
        mode: Mode = "speech",
        *,
        min_speech_ms: float = 160.0,
        keywords: Sequence[str] = (),
        gap_ms: float = 100.0,
    ) -> None:
        self.mode = mode
        self.min_speech_s = min_speech_ms / 1000
        self.gap_s = gap_ms / 1000
        self.keywords = [k.strip().lower() for k in keywords if k.strip()]
        self._patterns = [re.compile(r"\b" + re.escape(k) + r"\b") for k in self.keywords]
        self._voiced_s = 0.0
        self._last_voiced: float | None = None
        self._fired = False
        self.burst_start: float | None = None  # onset of the burst that fired (for metrics)

    def on_vad(self, voiced: bool, t: float, duration: float, agent_busy: bool) -> bool:
        """Feed one VAD frame (``t``: when it ended); True exactly when the barge-in fires."""
        if voiced:
            if self._last_voiced is None or t - self._last_voiced > self.gap_s + duration:
                self._voiced_s, self._fired, self.burst_start = 0.0, False, t - duration
            self._voiced_s += duration
            self._last_voiced = t
        elif self._last_voiced is not None and t - self._last_voiced > self.gap_s:
            self._voiced_s, self._fired = 0.0, False
        if self.mode != "speech" or self._fired or not agent_busy:
            return False
        if self._voiced_s + 1e-9 >= self.min_speech_s:
            self._fired = True
            return True
        return False

    def on_transcript(self, text: str, agent_busy: bool) -> bool:
        """True when, in ``keywords`` mode, ``text`` holds a keyword while the agent is busy."""
        if self.mode != "keywords" or not agent_busy:
            return False
        return self.has_keyword(text)

    def has_keyword(self, text: str) -> bool:
        lowered = text.lower()
        return any(p.search(lowered) for p in self._patterns)


class VadStage(Stage):
    """AudioIn -> (UserStartedSpeaking | UserStoppedSpeaking | Interruption)* + the audio itself."""

    name = "vad"

    def __init__(self, vad: VAD, detector: TurnDetector, policy: InterruptionPolicy, *, threshold: float = 0.5) -> None:
        super().__init__()
        self.vad = vad
        self.detector = detector
        self.policy = policy
        self.threshold = threshold
        self._buf = bytearray()
        self._failed = False

    async def process(self, frame: Frame) -> None:
        if not isinstance(frame, AudioIn):
            self.push(frame)
            return
        caps = self.vad.capabilities
        if frame.sample_rate != caps.sample_rate:
            raise ValueError(f"VAD needs {caps.sample_rate} Hz audio, got {frame.sample_rate} Hz")
        self._buf += frame.pcm
        size = caps.frame_samples * 2
        duration = caps.frame_samples / caps.sample_rate
        while len(self._buf) >= size:
            chunk = bytes(self._buf[:size])
            del self._buf[:size]
            try:
                voiced = await self.vad.speech_probability(chunk) >= self.threshold
                self._failed = False
            except ProviderError as exc:
                voiced = False
                if not self._failed:  # report once per failure streak
                    self._failed = True
                    self.ctx.error("vad", "vad_failed", exc.message)
                    self.push(AgentError("vad", "vad_failed", exc.message, self.now()))
            self._feed(voiced, frame.t, duration)
        self.push(frame)

    def _feed(self, voiced: bool, t: float, duration: float) -> None:
        event = self.detector.feed(voiced, t, duration)
        if isinstance(event, SpeechStarted):
            self.push(UserStartedSpeaking(event.t))
        elif isinstance(event, SpeechEnded):
            self.push(UserStoppedSpeaking(t, event.speech_end_t, event.forced))  # t: audio time of the decision
        if self.policy.on_vad(voiced, t, duration, self.ctx.agent_busy):
            self.push(Interruption(self.now(), "speech"))
