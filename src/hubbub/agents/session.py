"""One agent in one channel: joins through :mod:`hubbub.sdk` like any client and talks.

The session publishes an :class:`AgentAudioTrack` (48 kHz mono, 20 ms frames) that the TTS
output feeds, subscribes to the configured users' audio, resamples it to 16 kHz mono and pushes it
into the pipeline. The track can go silent within one frame: :meth:`AgentAudioTrack.flush` drops
everything queued and the next ``recv`` (the next packet) is silence. It also reports playout:
the first packet of each turn (latency metrics), each sentence fully played, and how much of the
current sentence was heard when it was flushed (the history keeps only that).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame
from av.audio.resampler import AudioResampler

from hubbub.agents.chunker import ChunkerStage
from hubbub.agents.config import AgentConfig, Providers
from hubbub.agents.frames import AgentAudio, AgentError, AudioIn, Frame, Interruption, SpeakText, UserStartedSpeaking
from hubbub.agents.interruption import InterruptionPolicy, VadStage
from hubbub.agents.pipeline import AgentContext, LlmStage, Pipeline, Stage, TtsStage
from hubbub.agents.providers.base import LlmOptions
from hubbub.agents.transcripts import Conversation, TranscriptSink, TranscriptStore
from hubbub.agents.turn import SttStage, TurnDetector, TurnStage

log = logging.getLogger("hubbub.agents")

RATE = 48_000
FRAME = RATE // 50  # 20 ms


@dataclass(slots=True)
class _Segment:
    turn_id: int
    text: str
    chunks: deque[np.ndarray] = field(default_factory=deque)
    total: int = 0
    played: int = 0
    complete: bool = False
    turn_last: bool = False


class AgentAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self._segments: deque[_Segment] = deque()
        self._pts = 0
        self._start: float | None = None
        self._started_turns: set[int] = set()
        self._flushed = False
        self.on_first_audio: Callable[[int, float], None] = lambda turn_id, t: None
        self.on_sentence_played: Callable[[int, str], None] = lambda turn_id, text: None
        self.on_turn_played: Callable[[int], None] = lambda turn_id: None
        self.on_silent: Callable[[float], None] = lambda t: None

    def write(self, frame: AgentAudio) -> None:
        seg = self._segments[-1] if self._segments else None
        if seg is None or seg.complete or seg.turn_id != frame.turn_id or seg.text != frame.text:
            seg = _Segment(frame.turn_id, frame.text)
            self._segments.append(seg)
        if frame.pcm:
            samples = np.frombuffer(frame.pcm, dtype="<i2")
            if frame.sample_rate != RATE:
                x = np.arange(int(len(samples) * RATE / frame.sample_rate)) * (frame.sample_rate / RATE)
                samples = np.interp(x, np.arange(len(samples)), samples).astype(np.int16)
            seg.chunks.append(samples)
            seg.total += len(samples)
        seg.complete, seg.turn_last = frame.last, frame.turn_last

    @property
    def playing(self) -> bool:
        return any(s.total > s.played for s in self._segments)

    def flush(self) -> list[tuple[int, str]]:
        """Drop all queued audio now; returns (turn id, words already heard) per cut-short turn."""
        heard: dict[int, str] = {}
        for seg in self._segments:
            heard.setdefault(seg.turn_id, "")
            if seg.played and seg.total:
                words = seg.text.split()
                heard[seg.turn_id] = " ".join(words[: int(len(words) * seg.played / seg.total)])
        self._segments.clear()
        self._flushed = True
        return list(heard.items())

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._pts / RATE
        if due > now:
            await asyncio.sleep(due - now)
        out = np.zeros(FRAME, dtype=np.int16)
        self._fill(out)
        frame = AudioFrame.from_ndarray(out.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, self._pts, fractions.Fraction(1, RATE)
        self._pts += FRAME
        return frame

    def _fill(self, out: np.ndarray) -> None:
        pos, t = 0, self.clock()
        if self._flushed:
            self._flushed = False
            self.on_silent(t)
        while self._segments and pos < FRAME:
            seg = self._segments[0]
            if seg.chunks:
                if seg.turn_id not in self._started_turns:
                    self._started_turns.add(seg.turn_id)
                    self.on_first_audio(seg.turn_id, t)
                chunk = seg.chunks[0]
                n = min(len(chunk), FRAME - pos)
                out[pos : pos + n] = chunk[:n]
                pos, seg.played = pos + n, seg.played + n
                if n == len(chunk):
                    seg.chunks.popleft()
                else:
                    seg.chunks[0] = chunk[n:]
                continue
            if not seg.complete:
                return  # waiting for more audio of this sentence: silence until it comes
            self._segments.popleft()
            self.on_sentence_played(seg.turn_id, seg.text)
            if seg.turn_last:
                self.on_turn_played(seg.turn_id)


class OutputStage(Stage):
    """AgentAudio -> the outgoing track. On interruption: flush it and close the cut turns."""

    name = "output"
    interruptible = True

    def __init__(self, track: AgentAudioTrack) -> None:
        super().__init__()
        self.track = track
        self._cut: list[int] = []
        track.on_first_audio = self._first_audio
        track.on_sentence_played = lambda turn_id, text: self.ctx.spoken(turn_id, text)
        track.on_turn_played = lambda turn_id: self.ctx.finish_turn(turn_id, interrupted=False)
        track.on_silent = self._silent

    def _first_audio(self, turn_id: int, t: float) -> None:
        turn = self.ctx.turn(turn_id)
        if turn is not None and turn.first_packet_t is None:
            turn.first_packet_t = t
        self.ctx.set_state("speaking")

    def _silent(self, t: float) -> None:
        for turn_id in self._cut:
            turn = self.ctx.turn(turn_id)
            if turn is not None and turn.silent_t is None:
                turn.silent_t = t
        self._cut = []

    async def process(self, frame: Frame) -> None:
        if isinstance(frame, AgentAudio):
            self.track.write(frame)
        else:
            self.push(frame)

    def on_interrupt(self, frame: Interruption) -> None:
        ctx = self.ctx
        heard = dict(self.track.flush())
        if ctx.busy_turn is not None:
            heard.setdefault(ctx.busy_turn, "")
        for turn_id, text in heard.items():
            turn = ctx.turn(turn_id)
            if turn is None or turn.spoken_text:
                continue
            turn.interrupted, turn.interrupt_t = True, frame.t
            ctx.conversation.spoken(turn_id, text)
            ctx.finish_turn(turn_id, interrupted=True)
            self._cut.append(turn_id)


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


__all__ = ["AgentAudioTrack", "AgentError", "AgentSession", "OutputStage", "build_pipeline", "low_latency_audio"]
