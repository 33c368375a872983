"""The speaking side of a voice agent: the user's turn in, the agent's audio out.

Every stage here is ``interruptible``: a barge-in flushes it (:mod:`hubbub.agents.pipeline`).

- :class:`LlmStage` streams the LLM's answer to an :class:`~hubbub.agents.frames.EndOfTurn`, or
  says a :class:`~hubbub.agents.frames.SpeakText` line as one turn.
- :class:`ChunkerStage` cuts the deltas into sentences (:class:`~hubbub.agents.chunker.SentenceChunker`),
  so TTS starts on the first one while the LLM still writes.
- :class:`TtsStage` streams each sentence's audio.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import cast

from hubbub.agents.chunker import SentenceChunker
from hubbub.agents.frames import (
    AgentAudio,
    AgentError,
    EndOfTurn,
    Frame,
    LlmDelta,
    LlmDone,
    Sentence,
    SpeakText,
    TurnMetrics,
)
from hubbub.agents.pipeline import Stage
from hubbub.agents.providers.base import LLM, TTS, LlmOptions, ProviderError


class LlmStage(Stage):
    """EndOfTurn -> streamed LLM deltas; SpeakText -> the text as one turn. Cancelled by barge-in."""

    name = "llm"
    interruptible = True

    def __init__(self, llm: LLM, options: LlmOptions | None = None) -> None:
        super().__init__()
        self.llm = llm
        self.options = options or LlmOptions()

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, EndOfTurn):
            await self._answer(frame)
        elif isinstance(frame, SpeakText):
            turn = self.ctx.new_turn(frame.kind)
            self._say(turn, frame.text)
        else:
            self.push(frame)

    def _say(self, turn: TurnMetrics, text: str) -> None:
        self.ctx.conversation.generated(turn.turn_id, text)
        self.push(LlmDelta(turn.turn_id, text))
        self.push(LlmDone(turn.turn_id))

    async def _answer(self, eot: EndOfTurn) -> None:
        ctx = self.ctx
        ctx.conversation.add_user(eot.text)
        messages = ctx.conversation.messages(ctx.system_prompt)
        turn = ctx.new_turn("answer", eot.text)
        turn.speech_end_t, turn.end_of_turn_t = eot.speech_end_t, eot.t
        turn.stt_final_t, turn.stt_s = eot.stt_final_t, eot.stt_s
        turn.silence_wait_s = eot.silence_wait_s
        ctx.set_state("thinking")
        turn.extra["llm_start_t"] = started = self.now()
        try:
            async with contextlib.aclosing(
                cast(AsyncGenerator[str, None], self.llm.chat(messages, self.options))
            ) as stream:
                async for delta in stream:
                    if turn.llm_first_token_t is None:
                        turn.llm_first_token_t = self.now()
                        turn.llm_ttft_s = turn.llm_first_token_t - started
                    ctx.conversation.generated(turn.turn_id, delta)
                    self.push(LlmDelta(turn.turn_id, delta))
        except ProviderError as exc:
            turn.error = f"llm: {exc.message}"
            ctx.error("llm", "llm_failed", exc.message)
            self.push(AgentError("llm", "llm_failed", exc.message, self.now()))
            if ctx.fallback_line and not ctx.conversation._find(turn.turn_id).generated:  # type: ignore[union-attr]
                turn.kind = "fallback"
                self._say(turn, ctx.fallback_line)
                return
        self.push(LlmDone(turn.turn_id))


class ChunkerStage(Stage):
    """LlmDelta/LlmDone -> Sentence frames; LlmDone becomes an empty ``last`` sentence (end of turn)."""

    name = "chunker"
    interruptible = True

    def __init__(self, **options: int) -> None:
        super().__init__()
        self._options = options
        self._chunkers: dict[int, SentenceChunker] = {}

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, LlmDelta):
            chunker = self._chunkers.setdefault(frame.turn_id, SentenceChunker(**self._options))
            for piece in chunker.feed(frame.text):
                self._emit(frame.turn_id, piece)
        elif isinstance(frame, LlmDone):
            done = self._chunkers.pop(frame.turn_id) if frame.turn_id in self._chunkers else None
            for piece in done.flush() if done else []:
                self._emit(frame.turn_id, piece)
            self.push(Sentence(frame.turn_id, "", last=True))
        else:
            self.push(frame)

    def _emit(self, turn_id: int, piece: str) -> None:
        turn = self.ctx.turn(turn_id)
        if turn is not None and turn.first_sentence_t is None:
            turn.first_sentence_t = self.now()
            start = turn.extra.get("llm_start_t")
            if isinstance(start, float):
                turn.llm_sentence_s = turn.first_sentence_t - start
        self.push(Sentence(turn_id, piece))

    def on_interrupt(self, frame: Frame) -> None:
        self._chunkers.clear()


class TtsStage(Stage):
    """Sentence -> streamed PCM chunks (AgentAudio). Cancelled by barge-in."""

    name = "tts"
    interruptible = True

    def __init__(self, tts: TTS) -> None:
        super().__init__()
        self.tts = tts

    async def process(self, frame: Frame) -> None:
        if not isinstance(frame, Sentence):
            self.push(frame)
            return
        turn, rate = self.ctx.turn(frame.turn_id), self.tts.capabilities.sample_rate
        started = self.now()
        try:
            if frame.text.strip():
                async with contextlib.aclosing(
                    cast(AsyncGenerator[bytes, None], self.tts.synthesize(frame.text))
                ) as stream:
                    async for pcm in stream:
                        if turn is not None and turn.tts_first_audio_t is None:
                            turn.tts_first_audio_t = self.now()
                            turn.tts_ttfb_s = turn.tts_first_audio_t - started
                        self.push(AgentAudio(frame.turn_id, pcm, rate, frame.text))
        except ProviderError as exc:
            if turn is not None:
                turn.error = f"tts: {exc.message}"
            self.ctx.error("tts", "tts_failed", exc.message)
            self.push(AgentError("tts", "tts_failed", exc.message, self.now()))
            self.push(AgentAudio(frame.turn_id, b"", rate, "", last=True, turn_last=frame.last))
            return
        self.push(AgentAudio(frame.turn_id, b"", rate, frame.text, last=True, turn_last=frame.last))
