"""Transcripts of an agent session, the LLM's conversation history, and where transcripts go.

- :class:`TranscriptStore` keeps every user and agent line (interim and final) with the session,
  in memory, and hands each one to a :class:`TranscriptSink`.
- :class:`TranscriptSink` publishes lines into the channel as messages so apps can show
  subtitles. :class:`NullSink` (the default) sends nothing; the composition root plugs in one
  backed by the messaging service. A sink must not block: it is called on the agent's loop.
- :class:`Conversation` is what the LLM sees. An agent turn's text enters it as it is *spoken*,
  not as it is generated: after an interruption only the words that reached the user remain.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from hubbub.agents.providers.base import ChatMessage
from hubbub.messaging.types import NewMessage

log = logging.getLogger("hubbub.agents")

Speaker = Literal["user", "agent"]


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    speaker: Speaker
    text: str
    final: bool
    t: float  # unix seconds
    turn_id: int = 0
    participant: str = ""  # the user's identity, or the agent's
    interrupted: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "speaker": self.speaker,
            "text": self.text,
            "final": self.final,
            "t": round(self.t, 3),
            "turn_id": self.turn_id,
            "participant": self.participant,
            "interrupted": self.interrupted,
        }


class TranscriptSink(Protocol):
    """Publishes transcript lines into the channel (e.g. as ``agent.transcript`` messages)."""

    def publish(self, channel: str, line: TranscriptLine) -> None: ...


class NullSink:
    """Sends nothing (the default until a messaging-backed sink is plugged in)."""

    def publish(self, channel: str, line: TranscriptLine) -> None:
        return None


class MessagingTranscriptSink:
    """Final transcript lines as channel messages (``data.type == "agent.transcript"``), sent by
    the agent's identity, so apps show subtitles from the channel's message stream and history.
    Interim lines stay in the agent's transcript (REST) to keep history free of fragments."""

    def __init__(self, messaging: Any, app_id: str, identity: str) -> None:
        self.messaging = messaging  # hubbub.messaging.MessagingService
        self.app_id = app_id
        self.identity = identity
        self._pending: set[asyncio.Task[Any]] = set()

    def publish(self, channel: str, line: TranscriptLine) -> None:
        if not line.final or not line.text.strip():
            return
        data = {"type": "agent.transcript", **line.as_dict()}
        send = self.messaging.send(None, channel, NewMessage(self.app_id, self.identity, data=data))
        task = asyncio.ensure_future(send)
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("transcript not published", extra={"error": type(task.exception()).__name__})


class TranscriptStore:
    """Final lines are kept (the newest ``limit``); only the latest interim line per speaker is."""

    def __init__(self, channel: str, sink: TranscriptSink | None = None, limit: int = 1000) -> None:
        self.channel = channel
        self.sink: TranscriptSink = sink or NullSink()
        self.lines: deque[TranscriptLine] = deque(maxlen=limit)
        self.interim: dict[str, TranscriptLine] = {}

    def add(self, line: TranscriptLine) -> None:
        if line.final:
            self.lines.append(line)
            self.interim.pop(line.speaker, None)
        else:
            self.interim[line.speaker] = line
        try:
            self.sink.publish(self.channel, line)
        except Exception:  # a broken sink must not break the agent
            log.exception("transcript sink failed")

    def final_lines(self) -> list[TranscriptLine]:
        return list(self.lines)

    def text_of(self, speaker: Speaker) -> list[str]:
        return [line.text for line in self.lines if line.speaker == speaker]


@dataclass(slots=True)
class _Entry:
    role: Literal["user", "assistant"]
    text: str = ""  # user: what was said; assistant: what was spoken so far
    turn_id: int = 0
    generated: str = ""  # assistant: what the LLM produced (may be more than was spoken)
    finished: bool = False
    interrupted: bool = False


@dataclass(slots=True)
class Conversation:
    """The chat history; assistant entries hold only what was spoken once the turn is over."""

    max_messages: int = 40
    entries: list[_Entry] = field(default_factory=list)

    def add_user(self, text: str) -> None:
        if self.entries and self.entries[-1].role == "user":  # two user turns in a row: one message
            self.entries[-1].text = f"{self.entries[-1].text} {text}".strip()
        else:
            self.entries.append(_Entry("user", text))
        self._trim()

    def begin_assistant(self, turn_id: int) -> None:
        self.entries.append(_Entry("assistant", turn_id=turn_id))
        self._trim()

    def _find(self, turn_id: int) -> _Entry | None:
        for entry in reversed(self.entries):
            if entry.role == "assistant" and entry.turn_id == turn_id:
                return entry
        return None

    def generated(self, turn_id: int, delta: str) -> None:
        entry = self._find(turn_id)
        if entry is not None:
            entry.generated += delta

    def spoken(self, turn_id: int, text: str) -> None:
        """``text`` (a sentence or the part of one that was heard) reached the user."""
        entry = self._find(turn_id)
        if entry is not None and text.strip():
            entry.text = f"{entry.text} {text.strip()}".strip()

    def finish(self, turn_id: int, *, interrupted: bool) -> str:
        """The turn is over; returns the text that stays in the history."""
        entry = self._find(turn_id)
        if entry is None:
            return ""
        entry.finished, entry.interrupted = True, interrupted
        return entry.text

    def messages(self, system_prompt: str = "") -> list[ChatMessage]:
        out = [ChatMessage("system", system_prompt)] if system_prompt else []
        for entry in self.entries:
            if entry.role == "user":
                out.append(ChatMessage("user", entry.text))
                continue
            text = entry.text if entry.finished else (entry.generated or entry.text)
            if text:
                out.append(ChatMessage("assistant", text))
        return out

    def history(self) -> list[dict[str, object]]:
        """For the API: role, content, and for agent turns whether they were cut short."""
        rows: list[dict[str, object]] = []
        for e in self.entries:
            row: dict[str, object] = {"role": e.role, "content": e.text}
            if e.role == "assistant":
                row.update(turn_id=e.turn_id, interrupted=e.interrupted, finished=e.finished)
            rows.append(row)
        return rows

    def _trim(self) -> None:
        if len(self.entries) > self.max_messages:
            del self.entries[: len(self.entries) - self.max_messages]
