"""The listening side of a voice agent: audio in, the user's turns out. Never flushed by barge-in.

- :class:`VadStage` runs the VAD on the user's audio, feeds the :class:`~hubbub.agents.turn.TurnDetector`
  (speech start/stop) and the :class:`~hubbub.agents.interruption.InterruptionPolicy`, and pushes
  :class:`~hubbub.agents.frames.Interruption` when the policy fires.
- :class:`SttStage` buffers each speech segment (with a little audio from before its onset) and
  transcribes it when it ends, plus interim transcripts while it grows when the STT is cheap enough.
- :class:`TurnStage` publishes the user's transcripts, applies keyword barge-in, and emits
  :class:`~hubbub.agents.frames.EndOfTurn`; when a
  :class:`~hubbub.agents.turn.SemanticTurnDetector` judges the words unfinished, it waits up to
  ``semantic_wait_s`` more for the user to go on before answering.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from hubbub.agents.frames import (
    AgentError,
    AudioIn,
    EndOfTurn,
    Frame,
    Interruption,
    SpeakText,
    UserStartedSpeaking,
    UserStoppedSpeaking,
    UserTranscript,
)
from hubbub.agents.interruption import InterruptionPolicy
from hubbub.agents.pipeline import Stage
from hubbub.agents.providers.base import STT, VAD, ProviderError
from hubbub.agents.transcripts import TranscriptLine
from hubbub.agents.turn import SemanticTurnDetector, SpeechEnded, SpeechStarted, TurnDetector


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


class SttStage(Stage):
    name = "stt"

    def __init__(
        self, stt: STT, *, preroll_ms: float = 300.0, interim_s: float = 1.0, language: str | None = None
    ) -> None:
        super().__init__()
        self.stt = stt
        self.preroll_s = preroll_ms / 1000
        self.interim_s = interim_s if stt.capabilities.interim else 0.0
        self.language = language
        self._preroll: deque[AudioIn] = deque()
        self._segment: list[bytes] | None = None
        self._segment_s = 0.0
        self._next_interim = 0.0
        self._serial = 0
        self._interim: asyncio.Task[None] | None = None
        self._rate = 16_000

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, AudioIn):
            self._audio(frame)
        elif isinstance(frame, UserStartedSpeaking):
            self._segment = [f.pcm for f in self._preroll]
            self._segment_s = sum(len(f.pcm) / 2 / f.sample_rate for f in self._preroll)
            self._preroll.clear()
            self._next_interim, self._serial = self.interim_s, self._serial + 1
            self.push(frame)
        elif isinstance(frame, UserStoppedSpeaking):
            self.push(frame)
            await self._final(frame)
        else:
            self.push(frame)

    def _audio(self, frame: AudioIn) -> None:
        self._rate = frame.sample_rate
        if self._segment is None:
            self._preroll.append(frame)
            while sum(len(f.pcm) for f in self._preroll) / 2 / frame.sample_rate > self.preroll_s:
                self._preroll.popleft()
            return
        self._segment.append(frame.pcm)
        self._segment_s += len(frame.pcm) / 2 / frame.sample_rate
        if self.interim_s and self._segment_s >= self._next_interim and (self._interim is None or self._interim.done()):
            self._next_interim = self._segment_s + self.interim_s
            self._interim = asyncio.create_task(self._transcribe_interim(b"".join(self._segment), self._serial))

    async def _transcribe_interim(self, pcm: bytes, serial: int) -> None:
        with contextlib.suppress(ProviderError):
            result = await self.stt.transcribe(pcm, self._rate, language=self.language)
            if serial == self._serial and self._segment is not None and result.text.strip():
                self.push(UserTranscript(result.text.strip(), False, self.now()))

    async def _final(self, stop: UserStoppedSpeaking) -> None:
        if self._segment is None:
            return
        pcm, self._segment, self._serial = b"".join(self._segment), None, self._serial + 1
        if self._interim is not None:
            self._interim.cancel()
        started = self.now()
        try:
            result = await self.stt.transcribe(pcm, self._rate, language=self.language)
        except ProviderError as exc:
            self.ctx.error("stt", "stt_failed", exc.message)
            self.push(AgentError("stt", "stt_failed", exc.message, self.now()))
            if self.ctx.fallback_line and not self.ctx.agent_busy:
                self.push(SpeakText(self.ctx.fallback_line, "fallback"))
            return
        done = self.now()
        wait = max(0.0, stop.t - stop.speech_end_t)
        self.push(UserTranscript(result.text.strip(), True, done, stop.speech_end_t, done - started, wait))

    async def close(self) -> None:
        if self._interim is not None:
            self._interim.cancel()


class TurnStage(Stage):
    name = "turn"

    def __init__(
        self,
        policy: InterruptionPolicy,
        *,
        semantic: SemanticTurnDetector | None = None,
        semantic_threshold: float = 0.5,
        semantic_wait_s: float = 1.0,
    ) -> None:
        super().__init__()
        self.policy = policy
        self.semantic = semantic
        self.semantic_threshold = semantic_threshold
        self.semantic_wait_s = semantic_wait_s
        self._pending = ""
        self._last: UserTranscript | None = None
        self._hold: asyncio.Task[None] | None = None

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, UserStartedSpeaking):
            if self._hold is not None:
                self._hold.cancel()  # the user goes on: keep the words, wait for the rest
            self.push(frame)
        elif isinstance(frame, UserTranscript):
            await self._transcript(frame)
        else:
            self.push(frame)

    async def _transcript(self, frame: UserTranscript) -> None:
        ctx = self.ctx
        if frame.text:
            ctx.transcripts.add(TranscriptLine("user", frame.text, frame.final, ctx.wall()))
        if frame.text and self.policy.on_transcript(frame.text, ctx.agent_busy):
            self.push(Interruption(self.now(), "keyword"))
        elif frame.final and frame.text and self.policy.mode == "keywords" and ctx.agent_busy:
            return  # keywords mode: talk during the agent's turn is not a new turn
        if not frame.final or not frame.text:
            return
        self._pending = f"{self._pending} {frame.text}".strip()
        self._last = frame
        if self.semantic is not None:
            history = ctx.conversation.messages()
            p = await self.semantic.end_of_turn_probability(self._pending, history)
            if p < self.semantic_threshold:
                self._hold = asyncio.create_task(self._emit_later())
                return
        self._emit()

    async def _emit_later(self) -> None:
        await asyncio.sleep(self.semantic_wait_s)
        self._emit()

    def _emit(self) -> None:
        last, text = self._last, self._pending
        self._pending, self._last = "", None
        if last is None or not text:
            return
        now = self.now()
        held = max(0.0, now - last.t) if self.semantic is not None else 0.0
        self.push(EndOfTurn(text, now, last.speech_end_t, last.t, last.stt_s, last.silence_wait_s + held))

    async def close(self) -> None:
        if self._hold is not None:
            self._hold.cancel()
