"""One agent in one channel: joins through :mod:`hubbub.sdk` like any client and talks.

The session wires the pipeline from the agent's config (:func:`build_pipeline`, the stages of
:mod:`hubbub.agents.stages`), publishes its :class:`~hubbub.agents.stages.output.AgentAudioTrack`,
subscribes to the configured users' audio, resamples it to 16 kHz mono and pushes it into the
pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import cast

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame
from av.audio.resampler import AudioResampler

from hubbub.agents.config import AgentConfig, Providers
from hubbub.agents.frames import AudioIn, Frame, Interruption, SpeakText, UserStartedSpeaking
from hubbub.agents.interruption import InterruptionPolicy
from hubbub.agents.pipeline import AgentContext, Pipeline, Stage
from hubbub.agents.providers.base import LlmOptions
from hubbub.agents.stages.listening import SttStage, TurnStage, VadStage
from hubbub.agents.stages.output import AgentAudioTrack, OutputStage
from hubbub.agents.stages.speaking import ChunkerStage, LlmStage, TtsStage
from hubbub.agents.transcripts import Conversation, TranscriptSink, TranscriptStore
from hubbub.agents.turn import TurnDetector

log = logging.getLogger("hubbub.agents")


def build_pipeline(config: AgentConfig, providers: Providers, ctx: AgentContext, track: AgentAudioTrack) -> Pipeline:
    policy = InterruptionPolicy(
        config.interruption.mode, min_speech_ms=config.interruption.min_speech_ms, keywords=config.interruption.keywords
    )
    t = config.turn
    detector = TurnDetector(start_ms=t.start_ms, silence_ms=t.silence_ms, max_turn_s=t.max_turn_s)
    stages: list[Stage] = [
        VadStage(providers.vad, detector, policy, threshold=t.vad_threshold),
        SttStage(providers.stt, preroll_ms=t.preroll_ms, interim_s=t.interim_s, language=config.language),
        TurnStage(policy, semantic=providers.semantic, semantic_wait_s=t.semantic_wait_s),
        LlmStage(providers.llm, LlmOptions(temperature=config.temperature, max_tokens=config.max_tokens)),
        ChunkerStage(),
        TtsStage(providers.tts),
        OutputStage(track),
    ]
    return Pipeline(stages, ctx, on_output=None)


def low_latency_audio(room: object, track: MediaStreamTrack, prefetch: int = 1) -> bool:
    """Shrink aiortc's audio jitter buffer for ``track`` (it holds 4 packets, 80 ms, by default).

    An agent turns audio into words, not into smooth playback, so it takes packets as they come;
    that is 60 ms off every barge-in and every turn. aiortc has no public knob for it yet, hence
    the guarded reach into its receiver (a no-op if its internals change).
    """
    pc = getattr(room, "_subscriber", None)
    for receiver in pc.getReceivers() if pc is not None else []:
        if receiver.track is track:
            buffer = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
            if buffer is not None and hasattr(buffer, "_prefetch"):
                buffer._prefetch = prefetch
                return True
    return False


class AgentSession:
    """Runs one agent until stopped, idle, left alone, or disconnected. Never raises out of :meth:`run`."""

    def __init__(
        self,
        config: AgentConfig,
        providers: Providers,
        *,
        url: str,
        token: str,
        sink: TranscriptSink | None = None,
        on_state: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config, self.providers, self.url, self.token = config, providers, url, token
        self.on_state_change = on_state or (lambda state, detail: None)
        self.clock = clock
        self.state = "starting"
        self.reason = ""
        self.errors: deque[dict[str, object]] = deque(maxlen=50)
        self.track = AgentAudioTrack(clock)
        self.ctx = AgentContext(
            transcripts=TranscriptStore(config.channel, sink),
            clock=clock,
            system_prompt=config.system_prompt,
            fallback_line=config.fallback_line,
            identity=config.identity,
            conversation=Conversation(max_messages=config.max_history_messages),
            on_state=lambda s: self._set_state(s),
            on_error=self._on_error,
        )
        self.pipeline = build_pipeline(config, providers, self.ctx, self.track)
        self.pipeline.on_output = self._observe
        self.last_activity = clock()
        self._stop = asyncio.Event()
        self._readers: dict[str, asyncio.Task[None]] = {}

    def _set_state(self, state: str, detail: str = "") -> None:
        if self.state in ("stopped", "failed") or state == self.state:
            return
        self.state = state
        self.on_state_change(state, detail)

    def _on_error(self, stage: str, code: str, message: str) -> None:
        self.errors.append({"stage": stage, "code": code, "message": message, "t": time.time()})
        self.on_state_change("error", f"{stage}: {message}")

    def _observe(self, frame: Frame) -> None:
        if isinstance(frame, UserStartedSpeaking):
            self.last_activity = self.clock()

    def stop(self, reason: str = "stopped") -> None:
        self.reason = self.reason or reason
        self._stop.set()

    def say(self, text: str) -> None:
        self.pipeline.push(SpeakText(text))

    def interrupt(self) -> None:
        self.pipeline.push(Interruption(self.clock(), "api"))

    async def run(self) -> None:
        from hubbub.sdk import connect

        room = None
        try:
            room = await connect(self.url, self.token, name=self.config.name or self.config.identity)
            await room.publish(self.track, source="microphone", name="agent-voice")
            self.pipeline.start()
            self._set_state("listening")
            if self.config.greeting:
                self.pipeline.push(SpeakText(self.config.greeting, "greeting"))
            events = asyncio.create_task(self._events(room))
            watchdog = asyncio.create_task(self._watch_idle())
            await self._stop.wait()
            for task in (events, watchdog):
                task.cancel()
        except asyncio.CancelledError:
            self.reason = self.reason or "cancelled"
            raise
        except Exception as exc:
            log.warning("agent session failed: %s: %s", type(exc).__name__, exc)
            self.errors.append({"stage": "session", "code": "session_failed", "message": str(exc), "t": time.time()})
            self.reason = self.reason or "failed"
            self.state = "failed"
            self.on_state_change("failed", f"{type(exc).__name__}: {exc}")
        finally:
            await self._close(room)

    async def _close(self, room: object) -> None:
        for task in self._readers.values():
            task.cancel()
        await self.pipeline.stop()
        self.track.stop()
        if room is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(room.disconnect(), 5)  # type: ignore[attr-defined]
        if self.state != "failed":
            self.state = "stopped"
            self.on_state_change("stopped", self.reason or "stopped")

    def _listens_to(self, identity: str, role: str) -> bool:
        if self.config.listen_to:
            return identity in self.config.listen_to
        return role != "agent" and identity != self.config.identity

    async def _events(self, room: object) -> None:
        from hubbub.sdk import Disconnected, ParticipantLeft, TrackSubscribed

        async for event in room.events():  # type: ignore[attr-defined]
            if isinstance(event, TrackSubscribed) and event.track.kind == "audio":
                who = event.participant
                if self._listens_to(who.identity, who.role) and not any(not t.done() for t in self._readers.values()):
                    low_latency_audio(room, event.track)
                    self._readers[who.identity] = asyncio.create_task(self._read(event.track, who.identity))
            elif isinstance(event, ParticipantLeft) and event.participant.identity in self._readers:
                self._readers.pop(event.participant.identity).cancel()
                if self.config.end_when_users_leave and not self._readers:
                    self.stop("user_left")
            elif isinstance(event, Disconnected):
                self.stop("disconnected" if event.error is None else f"disconnected: {event.reason}")

    async def _read(self, track: MediaStreamTrack, identity: str) -> None:
        resampler = AudioResampler(format="s16", layout="mono", rate=16_000)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            t = self.clock()
            for out in resampler.resample(cast(AudioFrame, frame)):
                self.pipeline.push(AudioIn(bytes(out.planes[0])[: out.samples * 2], 16_000, t, identity))

    async def _watch_idle(self) -> None:
        timeout = self.config.idle_timeout_s
        while True:
            await asyncio.sleep(min(1.0, timeout / 4) if timeout else 1.0)
            if self.ctx.agent_busy:
                self.last_activity = self.clock()
            elif timeout and self.clock() - self.last_activity > timeout:
                self.stop("idle_timeout")
                return


__all__ = ["AgentSession", "build_pipeline", "low_latency_audio"]
