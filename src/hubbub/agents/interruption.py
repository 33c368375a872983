"""Barge-in: when the user's speech interrupts the agent.

:class:`InterruptionPolicy` is sans-I/O (times are passed in). Modes:

- ``speech`` (default): voiced audio adding up to ``min_speech_ms`` (160 ms) within one burst
  (gaps under ``gap_ms`` do not end a burst) while the agent is busy answering or speaking;
- ``keywords``: only a transcript containing one of ``keywords`` (whole words, any case);
- ``off``: never; the user's words are answered after the agent's turn.

The agent's own voice cannot trigger it: the agent listens only to the configured users' tracks,
and every participant's audio is a separate track in the SFU, so there is no echo to cancel.

:class:`~hubbub.agents.stages.listening.VadStage` feeds it every VAD frame and
:class:`~hubbub.agents.stages.listening.TurnStage` every transcript; the first pushes
:class:`~hubbub.agents.frames.Interruption` when the policy fires.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

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
