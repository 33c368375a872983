"""Turn detection: when the user starts and stops speaking, and when their turn is over.

- :class:`TurnDetector` (sans-I/O) turns per-frame VAD decisions into speech start/end: speech
  starts after ``start_ms`` of voiced audio and ends after ``silence_ms`` of silence, or is cut
  at ``max_turn_s``.
- :class:`SemanticTurnDetector` is the interface for a model that judges whether the words so far
  end a turn ("I'd like to order..." does not); when it says no,
  :class:`~hubbub.agents.stages.listening.TurnStage` waits up to ``semantic_wait_s`` more for the
  user to go on before answering.

The stages that drive them are in :mod:`hubbub.agents.stages.listening`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hubbub.agents.providers.base import ChatMessage


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    t: float  # onset: the start of the first voiced frame


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    speech_end_t: float  # the end of the last voiced frame
    forced: bool = False


class TurnDetector:
    def __init__(self, *, start_ms: float = 60.0, silence_ms: float = 500.0, max_turn_s: float = 30.0) -> None:
        self.start_s = start_ms / 1000
        self.silence_s = silence_ms / 1000
        self.max_turn_s = max_turn_s
        self.speaking = False
        self._run_start: float | None = None
        self._run_voiced = 0.0
        self._started = 0.0
        self._last_voiced = 0.0

    def feed(self, voiced: bool, t: float, duration: float) -> SpeechStarted | SpeechEnded | None:
        """One VAD frame that ended at ``t`` and lasted ``duration`` seconds."""
        if not self.speaking:
            if not voiced:
                self._run_start, self._run_voiced = None, 0.0
                return None
            if self._run_start is None:
                self._run_start = t - duration
            self._run_voiced += duration
            if self._run_voiced + 1e-9 < self.start_s:
                return None
            self.speaking, self._started, self._last_voiced = True, self._run_start, t
            self._run_start, self._run_voiced = None, 0.0
            return SpeechStarted(self._started)
        if voiced:
            self._last_voiced = t
        if t - self._started >= self.max_turn_s:
            self.speaking = False
            return SpeechEnded(self._last_voiced, forced=True)
        if not voiced and t - self._last_voiced >= self.silence_s - 1e-9:
            self.speaking = False
            return SpeechEnded(self._last_voiced)
        return None


class SemanticTurnDetector(Protocol):
    async def end_of_turn_probability(self, text: str, history: Sequence[ChatMessage]) -> float:
        """0..1: how likely ``text`` (the user's words so far this turn) is a finished turn."""
        ...
