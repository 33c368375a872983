"""The frame pipeline: stages connected by queues, interruption as an in-band event.

Theory of operation
-------------------
A :class:`Pipeline` is a chain of :class:`Stage` objects. Each stage has a queue and one worker
task that takes frames in order and calls :meth:`Stage.process`, which pushes frames on to the
next stage with :meth:`Stage.push`. A voice agent's chain (:mod:`hubbub.agents.stages`) is::

    VadStage -> SttStage -> TurnStage -> LlmStage -> ChunkerStage -> TtsStage -> OutputStage
    (listening side: never flushed)      (speaking side: ``interruptible``)

When a stage pushes an :class:`~hubbub.agents.frames.Interruption`, the pipeline flushes every
interruptible stage downstream *at once*, before the frame itself travels on in band: queued data
frames are dropped (system frames stay), a worker busy with any frame is cancelled (which
cancels the LLM stream or TTS call it is awaiting) and replaced, and :meth:`Stage.on_interrupt`
runs synchronously (the output stage empties the outgoing audio track there, so the next 20 ms
frame on the wire is silence). A cancelled worker's late pushes are discarded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hubbub.agents.frames import Frame, Interruption, TurnMetrics
from hubbub.agents.transcripts import Conversation, TranscriptLine, TranscriptStore

log = logging.getLogger("hubbub.agents")

STOP_TIMEOUT = 2.0
"""Seconds :meth:`Pipeline.stop` waits for the stages' workers to end, and then for each ``close``."""


@dataclass
class AgentContext:
    """State the stages share: clock, history, transcripts, per-turn metrics, callbacks."""

    transcripts: TranscriptStore
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    system_prompt: str = ""
    fallback_line: str = ""
    identity: str = "agent"
    conversation: Conversation = field(default_factory=Conversation)
    turns: list[TurnMetrics] = field(default_factory=list)
    max_turns: int = 500
    busy_turn: int | None = None  # an agent turn is being generated or played
    state: str = "listening"
    on_state: Callable[[str], None] | None = None
    on_error: Callable[[str, str, str], None] | None = None
    on_turn: Callable[[TurnMetrics], None] | None = None
    _next_turn: int = 1

    @property
    def agent_busy(self) -> bool:
        return self.busy_turn is not None

    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if self.on_state:
                self.on_state(state)

    def new_turn(self, kind: str, user_text: str = "") -> TurnMetrics:
        turn = TurnMetrics(turn_id=self._next_turn, kind=kind, user_text=user_text)
        self._next_turn += 1
        self.turns.append(turn)
        del self.turns[: max(0, len(self.turns) - self.max_turns)]
        self.conversation.begin_assistant(turn.turn_id)
        self.busy_turn = turn.turn_id
        return turn

    def turn(self, turn_id: int) -> TurnMetrics | None:
        for turn in reversed(self.turns):
            if turn.turn_id == turn_id:
                return turn
        return None

    def error(self, stage: str, code: str, message: str) -> None:
        log.warning("agent provider error", extra={"stage": stage, "code": code})
        if self.on_error:
            self.on_error(stage, code, message)

    def spoken(self, turn_id: int, text: str) -> None:
        self.conversation.spoken(turn_id, text)
        entry = self.conversation._find(turn_id)
        if entry is not None and entry.text:
            self.transcripts.add(TranscriptLine("agent", entry.text, False, self.wall(), turn_id, self.identity))

    def finish_turn(self, turn_id: int, *, interrupted: bool) -> None:
        text = self.conversation.finish(turn_id, interrupted=interrupted)
        turn = self.turn(turn_id)
        if turn is not None and not turn.spoken_text:
            turn.spoken_text, turn.interrupted = text, interrupted or turn.interrupted
            if text:
                line = TranscriptLine("agent", text, True, self.wall(), turn_id, self.identity, interrupted)
                self.transcripts.add(line)
            log.info("agent turn", extra={"agent": self.identity, **turn.as_dict()})
            if self.on_turn:
                self.on_turn(turn)
        if self.busy_turn == turn_id:
            self.busy_turn = None
            self.set_state("listening")


class Stage:
    """One step of the pipeline. Override :meth:`process`; call :meth:`push` to pass frames on."""

    name = "stage"
    interruptible = False  # speaking-side stages: flushed by an Interruption

    def __init__(self) -> None:
        self._pipeline: Pipeline | None = None
        self._index = 0

    @property
    def ctx(self) -> AgentContext:
        assert self._pipeline is not None, "the stage is not in a pipeline"
        return self._pipeline.ctx

    def now(self) -> float:
        return self.ctx.clock()

    def push(self, frame: Frame) -> None:
        assert self._pipeline is not None
        self._pipeline._deliver(self._index + 1, frame, self)

    async def process(self, frame: Frame) -> None:
        self.push(frame)

    def on_interrupt(self, frame: Interruption) -> None:
        """Drop in-flight state (synchronously: the flush must not wait for the loop)."""

    async def close(self) -> None:
        """Release resources when the pipeline stops."""


class Pipeline:
    def __init__(self, stages: Sequence[Stage], ctx: AgentContext, on_output: Callable[[Frame], None] | None = None):
        self.stages = list(stages)
        self.ctx = ctx
        self.on_output = on_output
        self._queues: list[asyncio.Queue[Frame]] = [asyncio.Queue() for _ in self.stages]
        self._tasks: list[asyncio.Task[None] | None] = [None] * len(self.stages)
        self._busy: list[Frame | None] = [None] * len(self.stages)
        for i, stage in enumerate(self.stages):
            stage._pipeline, stage._index = self, i

    def start(self) -> None:
        for i in range(len(self.stages)):
            self._spawn(i)

    def _spawn(self, i: int) -> None:
        self._tasks[i] = asyncio.create_task(self._work(i), name=f"agent-{self.stages[i].name}")

    def push(self, frame: Frame) -> None:
        """Feed a frame into the first stage (audio from the session)."""
        self._deliver(0, frame, None)

    def _deliver(self, index: int, frame: Frame, source: Stage | None) -> None:
        stale = source is not None and source.interruptible and asyncio.current_task() is not self._tasks[source._index]
        if stale and not frame.system:
            return  # a cancelled worker cleaning up: its frames belong to a flushed turn
        if isinstance(frame, Interruption) and (source is None or not source.interruptible):
            self._flush(index, frame)  # once, where it enters the speaking side; then it travels in band
        if index < len(self.stages):
            self._queues[index].put_nowait(frame)
        elif self.on_output is not None:
            self.on_output(frame)

    def _flush(self, start: int, frame: Interruption) -> None:
        for i in range(start, len(self.stages)):
            stage = self.stages[i]
            if not stage.interruptible:
                continue
            queue = self._queues[i]
            kept = [f for f in _drain(queue) if f.system]
            for f in kept:
                queue.put_nowait(f)
            busy, task = self._busy[i], self._tasks[i]
            if busy is not None and not isinstance(busy, Interruption) and task is not None:
                task.cancel()
                self._busy[i] = None
                self._spawn(i)
            try:
                stage.on_interrupt(frame)
            except Exception:
                log.exception("stage %s failed to handle an interruption", stage.name)

    async def _work(self, i: int) -> None:
        stage, queue = self.stages[i], self._queues[i]
        me = asyncio.current_task()
        while True:
            frame = await queue.get()
            self._busy[i] = frame
            try:
                await stage.process(frame)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad frame must not stop the agent
                log.exception("stage %s failed", stage.name)
                self.ctx.error(stage.name, "internal_error", f"{type(exc).__name__}: {exc}")
            finally:
                if self._tasks[i] is me:
                    self._busy[i] = None

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Cancel every stage's worker and close the stages, each step bounded by ``timeout``:
        a stage that ignores cancellation or hangs in ``close`` is logged and left behind, never
        waited for, so stopping an agent always ends."""
        tasks = [t for t in self._tasks if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            if pending:
                log.warning("%d stage worker(s) still running %.1f s after cancellation", len(pending), timeout)
            for task in done:  # retrieve outcomes, so none is reported as never retrieved
                if not task.cancelled():
                    task.exception()
        for stage in self.stages:
            try:
                await asyncio.wait_for(stage.close(), timeout)
            except TimeoutError:
                log.warning("stage %s did not close within %.1f s", stage.name, timeout)
            except Exception:
                log.exception("stage %s failed to close", stage.name)


def _drain(queue: asyncio.Queue[Frame]) -> list[Frame]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items
