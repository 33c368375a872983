"""Each side of the stage chain alone, with a manual clock: audio in gives the user's turn out
(listening), and a turn in gives the agent's sentences as audio out (speaking)."""

from __future__ import annotations

import asyncio
import math

import numpy as np

from hubbub.agents.frames import (
    AgentAudio,
    AudioIn,
    EndOfTurn,
    Frame,
    Interruption,
    UserStartedSpeaking,
    UserStoppedSpeaking,
)
from hubbub.agents.interruption import InterruptionPolicy
from hubbub.agents.pipeline import AgentContext, Pipeline, Stage
from hubbub.agents.providers.scripted import EnergyVAD, ScriptedLLM, ScriptedSTT, ScriptedTTS
from hubbub.agents.stages.listening import SttStage, TurnStage, VadStage
from hubbub.agents.stages.speaking import ChunkerStage, LlmStage, TtsStage
from hubbub.agents.transcripts import TranscriptLine, TranscriptStore
from hubbub.agents.turn import TurnDetector

VOICE = (np.sin(2 * math.pi * 220 * np.arange(320) / 16000) * 0.3 * 32767).astype("<i2").tobytes()
SILENCE = bytes(640)


class Sink:
    """The transcript lines published, in order."""

    def __init__(self) -> None:
        self.lines: list[TranscriptLine] = []

    def publish(self, channel: str, line: TranscriptLine) -> None:
        self.lines.append(line)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def chain(stages: list[Stage]) -> tuple[Pipeline, list[Frame], Sink, Clock]:
    sink, clock, out = Sink(), Clock(), list[Frame]()
    ctx = AgentContext(TranscriptStore("room1", sink), clock=clock, wall=clock)
    return Pipeline(stages, ctx, on_output=out.append), out, sink, clock


async def settle(pipeline: Pipeline) -> None:
    """Let every stage's worker take what is queued for it."""
    for _ in range(200):
        await asyncio.sleep(0)
        if all(q.empty() for q in pipeline._queues) and not any(pipeline._busy):
            return


async def test_the_listening_side_turns_audio_into_the_users_turn() -> None:
    policy = InterruptionPolicy("speech")
    pipeline, out, sink, clock = chain(
        [
            VadStage(EnergyVAD(), TurnDetector(start_ms=60, silence_ms=300), policy),
            SttStage(ScriptedSTT("what time is it")),
            TurnStage(policy),
        ]
    )
    pipeline.start()
    try:
        audio_t = 0.0
        for seconds, pcm in ((0.2, SILENCE), (0.5, VOICE), (0.4, SILENCE)):
            for _ in range(round(seconds / 0.02)):
                audio_t += 0.02
                clock.now += 0.02
                pipeline.push(AudioIn(pcm, 16000, audio_t))
                await settle(pipeline)
    finally:
        await pipeline.stop()
    # the audio ends at the STT stage, the transcripts at the turn stage; no Interruption: the agent was not busy
    assert [type(f) for f in out] == [UserStartedSpeaking, UserStoppedSpeaking, EndOfTurn]
    started, stopped, turn = out
    assert isinstance(started, UserStartedSpeaking) and math.isclose(started.t, 0.2, abs_tol=1e-6)
    assert isinstance(stopped, UserStoppedSpeaking) and math.isclose(stopped.speech_end_t, 0.7, abs_tol=1e-6)
    assert math.isclose(stopped.t - stopped.speech_end_t, 0.3, abs_tol=0.021)  # the silence rule, in audio time
    assert isinstance(turn, EndOfTurn) and turn.text == "what time is it"
    assert math.isclose(turn.t, 100 + stopped.t)  # answered in the step the silence rule fired (clock = 100 + audio)
    assert turn.speech_end_t == stopped.speech_end_t and turn.silence_wait_s == stopped.t - stopped.speech_end_t
    assert [(line.speaker, line.text, line.final) for line in sink.lines] == [("user", "what time is it", True)]


async def test_the_speaking_side_turns_the_users_turn_into_sentences_of_audio() -> None:
    tts = ScriptedTTS(seconds_per_char=0.001)
    llm = ScriptedLLM("Sure. It is noon now.", first_token_s=0, tokens_per_s=1e6)
    pipeline, out, _, clock = chain([LlmStage(llm), ChunkerStage(), TtsStage(tts)])
    pipeline.start()
    try:
        pipeline.push(EndOfTurn("what time is it", clock.now, clock.now - 0.3, clock.now, 0.01))
        for _ in range(50):
            await asyncio.sleep(0.01)
            if any(isinstance(f, AgentAudio) and f.turn_last for f in out):
                break
    finally:
        await pipeline.stop()
    ends = [(f.text, f.turn_last) for f in out if isinstance(f, AgentAudio) and f.last]
    assert ends == [("Sure.", False), ("It is noon now.", False), ("", True)]
    assert tts.texts == ["Sure.", "It is noon now."]
    assert all(f.sample_rate == 16000 for f in out if isinstance(f, AgentAudio))
    ctx = pipeline.ctx
    assert ctx.agent_busy and ctx.state == "thinking"  # until the output stage plays the turn out
    turn = ctx.turns[-1]
    assert turn.user_text == "what time is it" and turn.llm_first_token_t == clock.now
    assert [(m.role, m.content) for m in ctx.conversation.messages()] == [
        ("user", "what time is it"),
        ("assistant", "Sure. It is noon now."),  # generated; the history keeps what is heard once played
    ]
    assert [row["content"] for row in ctx.conversation.history()] == ["what time is it", ""]


async def test_speech_while_the_agent_is_busy_barges_in_from_the_listening_side() -> None:
    policy = InterruptionPolicy("speech", min_speech_ms=160)
    pipeline, out, _, clock = chain([VadStage(EnergyVAD(), TurnDetector(start_ms=60), policy)])
    pipeline.ctx.busy_turn = 1  # the agent is answering
    pipeline.start()
    try:
        for i in range(15):  # 0.3 s of voice
            clock.now += 0.02
            pipeline.push(AudioIn(VOICE, 16000, (i + 1) * 0.02))
            await settle(pipeline)
    finally:
        await pipeline.stop()
    barge_ins = [f for f in out if isinstance(f, Interruption)]
    assert len(barge_ins) == 1 and barge_ins[0].reason == "speech"
    assert math.isclose(barge_ins[0].t, 100.16, abs_tol=1e-6)  # at 160 ms of voiced audio, once per burst
    assert [type(f) for f in out if not isinstance(f, AudioIn)] == [UserStartedSpeaking, Interruption]
