"""The frames that flow through an agent's pipeline, and the per-turn metrics record.

Frames are immutable, slotted dataclasses. *Data* frames (audio, text) are dropped from a stage's
queue by an :class:`Interruption`; *system* frames (speech boundaries, the interruption itself,
errors) never are. Times are seconds on the pipeline's clock (``time.monotonic`` unless a test
injects a manual one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Frame:
    """Base of every frame. ``system`` frames survive an interruption's flush."""

    __slots__ = ()
    system = False


@dataclass(frozen=True, slots=True)
class AudioIn(Frame):
    """User audio: 16-bit mono PCM at ``sample_rate``, arrived at ``t`` (from one listened participant)."""

    pcm: bytes
    sample_rate: int
    t: float
    participant: str = ""


@dataclass(frozen=True, slots=True)
class UserStartedSpeaking(Frame):
    t: float  # when the first voiced frame arrived
    system = True


@dataclass(frozen=True, slots=True)
class UserStoppedSpeaking(Frame):
    """End of a speech segment: ``speech_end_t`` is the last voiced frame, ``t`` when it was decided."""

    t: float
    speech_end_t: float
    forced: bool = False  # cut by the maximum turn length
    system = True


@dataclass(frozen=True, slots=True)
class UserTranscript(Frame):
    """What the user said: interim (``final=False``) while speaking, final at the end of a segment."""

    text: str
    final: bool
    t: float
    speech_end_t: float = 0.0
    stt_s: float = 0.0  # time inside the STT call that produced it
    silence_wait_s: float = 0.0  # silence the detector waited before ending the segment
    system = True


@dataclass(frozen=True, slots=True)
class EndOfTurn(Frame):
    """The user finished a turn: the agent should answer ``text``."""

    text: str
    t: float
    speech_end_t: float
    stt_final_t: float
    stt_s: float
    silence_wait_s: float = 0.0  # end-of-turn waits (silence, semantic hold): policy, not work
    system = True


@dataclass(frozen=True, slots=True)
class SpeakText(Frame):
    """Say this (greeting, fallback line, an app's ``say``) without asking the LLM."""

    text: str
    kind: str = "say"  # greeting | fallback | say


@dataclass(frozen=True, slots=True)
class LlmDelta(Frame):
    turn_id: int
    text: str


@dataclass(frozen=True, slots=True)
class LlmDone(Frame):
    turn_id: int


@dataclass(frozen=True, slots=True)
class Sentence(Frame):
    turn_id: int
    text: str
    last: bool = False  # the turn's final sentence


@dataclass(frozen=True, slots=True)
class AgentAudio(Frame):
    """A chunk of synthesised speech for ``text`` (one sentence); ``last`` ends the sentence."""

    turn_id: int
    pcm: bytes
    sample_rate: int
    text: str
    last: bool = False
    turn_last: bool = False  # the turn's final chunk


@dataclass(frozen=True, slots=True)
class Interruption(Frame):
    """Barge-in: flush every interruptible stage downstream and cancel its work in flight."""

    t: float
    reason: str  # speech | keyword | stop
    system = True


@dataclass(frozen=True, slots=True)
class AgentError(Frame):
    """A provider failed; ``stage`` names where (stt, llm, tts)."""

    stage: str
    code: str
    message: str
    t: float
    system = True


@dataclass(slots=True)
class TurnMetrics:
    """One agent turn's timeline. Absolute times are pipeline-clock seconds; None = not reached."""

    turn_id: int
    kind: str = "answer"  # answer | greeting | fallback | say
    user_text: str = ""
    speech_end_t: float | None = None  # last voiced frame of the user's turn
    end_of_turn_t: float | None = None  # the turn detector decided
    stt_final_t: float | None = None
    llm_first_token_t: float | None = None
    first_sentence_t: float | None = None
    tts_first_audio_t: float | None = None
    first_packet_t: float | None = None  # the first agent audio frame handed to the network
    stt_s: float = 0.0  # time inside the STT call
    llm_ttft_s: float = 0.0  # LLM request to first token
    llm_sentence_s: float = 0.0  # LLM request to the first complete sentence
    tts_ttfb_s: float = 0.0  # TTS request (first sentence) to first audio
    silence_wait_s: float = 0.0  # end-of-turn silence the detector waited (policy, not work)
    interrupted: bool = False
    interrupt_t: float | None = None
    silent_t: float | None = None  # the outgoing track went silent after an interruption
    spoken_text: str = ""
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Milliseconds relative to the end of the user's speech, plus the derived figures."""

        def ms(t: float | None, base: float | None) -> float | None:
            return None if t is None or base is None else round((t - base) * 1000, 1)

        base = self.speech_end_t
        out: dict[str, Any] = {
            "turn_id": self.turn_id,
            "kind": self.kind,
            "interrupted": self.interrupted,
            "stt_final_ms": ms(self.stt_final_t, base),
            "llm_first_token_ms": ms(self.llm_first_token_t, base),
            "tts_first_audio_ms": ms(self.tts_first_audio_t, base),
            "first_packet_ms": ms(self.first_packet_t, base),
            "stt_ms": round(self.stt_s * 1000, 1),
            "llm_ttft_ms": round(self.llm_ttft_s * 1000, 1),
            "tts_ttfb_ms": round(self.tts_ttfb_s * 1000, 1),
            "overhead_ms": self.overhead_ms(),
            "interrupt_ms": ms(self.silent_t, self.interrupt_t),
        }
        if self.error:
            out["error"] = self.error
        return out

    def overhead_ms(self) -> float | None:
        """End of speech -> first packet, less the silence wait and the time inside STT, LLM, TTS."""
        if self.speech_end_t is None or self.first_packet_t is None:
            return None
        total = self.first_packet_t - self.speech_end_t
        work = self.silence_wait_s + self.stt_s + self.llm_sentence_s + self.tts_ttfb_s
        return round((total - work) * 1000, 1)
