"""The agent's voice on the wire: the outgoing audio track and the stage that feeds it.

:class:`AgentAudioTrack` (48 kHz mono, 20 ms frames) is what the session publishes. It can go
silent within one frame: :meth:`AgentAudioTrack.flush` drops everything queued and the next
``recv`` (the next packet) is silence. It also reports playout: the first packet of each turn
(latency metrics), each sentence fully played, and how much of the current sentence was heard
when it was flushed (the history keeps only that). :class:`OutputStage` writes the TTS audio into
it and, on barge-in, flushes it and closes the turns it cut short.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from hubbub.agents.frames import AgentAudio, Frame, Interruption
from hubbub.agents.pipeline import Stage

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
