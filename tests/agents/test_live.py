"""Agents in a live server: an aiortc client talks to them through the SFU."""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque
from typing import Any

import httpx
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from hubbub.agents.config import AgentConfigError
from hubbub.sdk import connect

LONG_REPLY = " ".join(f"This is sentence number {i} of a long story." for i in range(1, 40))
SCRIPTED = {
    "vad": {"name": "energy"},
    "stt": {"name": "scripted", "texts": "tell me a long story"},
    "llm": {"name": "scripted", "replies": LONG_REPLY, "first_token_s": 0.05, "tokens_per_s": 15},
    "tts": {"name": "scripted", "seconds_per_char": 0.02},
}


class Mic(MediaStreamTrack):
    """A microphone we control: silence, unless samples (48 kHz int16) are queued with ``play``."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.queue: deque[np.ndarray] = deque()
        self.pts = 0
        self.start: float | None = None
        self.onsets: list[float] = []  # when a queued sound's first frame went out
        self._was_silent = True

    def play(self, samples: np.ndarray) -> None:
        self.queue.extend(np.array_split(samples, max(1, len(samples) // 960)))

    def tone(self, seconds: float, freq: float = 300.0) -> np.ndarray:
        n = np.arange(int(seconds * 48000))
        return (np.sin(2 * np.pi * freq * n / 48000) * 0.4 * 32767).astype(np.int16)

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        self.start = self.start or now
        due = self.start + self.pts / 48000
        if due > now:
            await asyncio.sleep(due - now)
        out = np.zeros(960, dtype=np.int16)
        if self.queue:
            chunk = self.queue.popleft()[:960]
            out[: len(chunk)] = chunk
            if self._was_silent:
                self.onsets.append(time.monotonic())
        self._was_silent = not self.queue
        frame = AudioFrame.from_ndarray(out.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, self.pts, fractions.Fraction(1, 48000)
        self.pts += 960
        return frame


async def listen(track: MediaStreamTrack, log: list[tuple[float, float]]) -> None:
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        samples = frame.to_ndarray().astype(np.float64) / 32768  # type: ignore[union-attr]
        log.append((time.monotonic(), float(np.sqrt(np.mean(samples**2)))))


async def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_interruption_on_the_wire(live_agents: Any) -> None:
    handle = await live_agents.manager.start(
        live_agents.app_id, {"channel": "room1", "listen_to": ["alice"], "providers": SCRIPTED, "idle_timeout_s": 0}
    )
    alice = await connect(live_agents.url, live_agents.token("alice"))
    mic = Mic()
    heard: list[tuple[float, float]] = []
    try:
        await alice.publish(mic)
        agent_audio = await alice.wait_for_track("agent", kind="audio", timeout=15)
        listener = asyncio.create_task(listen(agent_audio, heard))
        await until(lambda: handle.session._readers, 15, "the agent to subscribe to alice")
        await asyncio.sleep(0.3)
        mic.play(mic.tone(0.6))  # the question (the scripted STT hears "tell me a long story")
        await until(lambda: heard and heard[-1][1] > 0.02, 10, "the agent to answer")
        await asyncio.sleep(0.8)
        mic.play(mic.tone(0.4, 500))  # barge in
        await until(lambda: len(mic.onsets) >= 2, 2, "the barge-in to be sent")
        onset = mic.onsets[-1]
        await asyncio.sleep(0.6)
        voiced_after = [t for t, rms in heard if t > onset and rms > 0.01]
        last_voiced = max(voiced_after, default=onset)
        assert (last_voiced - onset) * 1000 < 400, "the agent kept talking"
        assert all(rms < 0.01 for t, rms in heard if t > last_voiced + 0.05)
        llm = handle.session.providers.llm
        await until(lambda: llm.cancelled >= 1, 3, "the LLM stream to be cancelled")
        turn = handle.session.ctx.turns[0]
        assert turn.interrupted
        history = handle.session.ctx.conversation.history()
        assert history[0] == {"role": "user", "content": "tell me a long story"}
        spoken = str(history[1]["content"])
        assert history[1]["interrupted"] is True and spoken and LONG_REPLY.startswith(spoken.rstrip("."))
        assert len(spoken) < len(LONG_REPLY) / 3
        listener.cancel()
    finally:
        await alice.disconnect()


async def test_embedded_stt_hears_an_espeak_question(live_agents: Any, speech: Any) -> None:
    question = speech.pcm("What is the capital of France?")
    providers = {**SCRIPTED, "vad": {"name": "silero"}, "stt": {"name": "whisper"}}
    providers["llm"] = {"name": "scripted", "replies": "Paris.", "first_token_s": 0.05}
    try:
        handle = await live_agents.manager.start(
            live_agents.app_id, {"channel": "room1", "listen_to": ["alice"], "providers": providers}
        )
    except AgentConfigError as exc:
        pytest.skip(f"embedded VAD/STT not available here: {exc}")
    alice = await connect(live_agents.url, live_agents.token("alice"))
    mic = Mic()
    try:
        await alice.publish(mic)
        await until(lambda: handle.session._readers, 15, "the agent to subscribe to alice")
        await asyncio.sleep(0.3)
        mic.play(question)
        store = handle.session.ctx.transcripts
        await until(lambda: store.text_of("user"), 20, "the user's transcript")
        said = " ".join(store.text_of("user")).lower()
        assert "capital" in said and "france" in said
        await until(lambda: store.text_of("agent"), 10, "the agent's answer")
        assert store.text_of("agent") == ["Paris."]
    finally:
        await alice.disconnect()


async def test_rest_api_lifecycle_and_errors(live_agents: Any) -> None:
    base = f"{live_agents.url}/api/v1/projects/{live_agents.app_id}/agents"
    async with httpx.AsyncClient(headers=live_agents.headers, timeout=20) as http:
        bad = await http.post(base, json={"channel": "", "turn": {"silence_ms": 1}, "oops": True})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_agent_config"
        assert {"channel", "turn.silence_ms", "oops"} <= {e["field"] for e in bad.json()["errors"]}
        unknown = await http.post(base, json={"channel": "c", "providers": {"llm": {"name": "nope"}}})
        assert unknown.status_code == 422 and "providers." in unknown.json()["detail"]
        assert (await http.get(base, headers={"authorization": "Bearer hk_x.y"})).status_code == 401
        other = await http.get(f"{live_agents.url}/api/v1/projects/{'0' * 32}/agents")
        assert other.status_code == 404 and other.json()["code"] == "project_not_found"

        config = {"channel": "room2", "greeting": "Hello there.", "providers": SCRIPTED, "idle_timeout_s": 0}
        created = await http.post(base, json=config)
        assert created.status_code == 201, created.text
        agent_id = created.json()["agent_id"]
        detail_url = f"{base}/{agent_id}"
        for _ in range(200):
            detail = (await http.get(detail_url)).json()
            if any(line["speaker"] == "agent" for line in detail["transcript"]):
                break
            await asyncio.sleep(0.05)
        assert detail["transcript"][0]["text"] == "Hello there."
        assert detail["metrics"][0]["kind"] == "greeting"
        # The spoken line is also a message in the channel, for subtitles and history.
        from hubbub.schema.messaging import History

        messaging = live_agents.platform.messaging
        for _ in range(100):
            page = await messaging.history(None, live_agents.app_id, History(channel="room2"))
            if page.messages:
                break
            await asyncio.sleep(0.05)
        line = page.messages[0]
        assert line.data["type"] == "agent.transcript" and line.data["text"] == "Hello there."
        assert line.data["speaker"] == "agent" and line.sender == config.get("identity", line.sender)
        listed = (await http.get(base)).json()["agents"]
        assert [a["agent_id"] for a in listed] == [agent_id]
        assert (await http.get(f"{base}/ag_missing")).json()["code"] == "agent_not_found"
        stopped = await http.delete(detail_url)
        assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
    types = [e.type for e in live_agents.events if e.agent_id == agent_id]
    assert types[0] == "agent.started" and types[-1] == "agent.stopped"


async def test_one_failing_agent_leaves_the_others_running_and_user_leaving_ends(live_agents: Any) -> None:
    mgr = live_agents.manager
    good = await mgr.start(live_agents.app_id, {"channel": "room3", "providers": SCRIPTED, "listen_to": ["bob"]})
    real_url, mgr.url = mgr.url, "http://127.0.0.1:9"  # nothing listens there
    bad = await mgr.start(live_agents.app_id, {"channel": "room4", "providers": SCRIPTED})
    mgr.url = real_url
    await until(lambda: good.session.state == "listening", 15, "the good agent to join")
    await until(lambda: bad.ended_at is not None, 15, "the unreachable agent to fail")
    assert bad.session.state == "failed" and bad.session.errors
    assert any(e.type == "agent.failed" and e.agent_id == bad.agent_id for e in live_agents.events)
    assert good.session.state == "listening" and good.ended_at is None
    bob = await connect(live_agents.url, live_agents.token("bob", "room3"))
    await bob.publish(Mic())
    await until(lambda: good.session._readers, 15, "the agent to hear bob")
    await bob.disconnect()
    await until(lambda: good.ended_at is not None, 10, "the agent to leave after bob")
    assert good.session.reason == "user_left" and good.session.state == "stopped"


async def test_idle_timeout_stops_the_agent(live_agents: Any) -> None:
    handle = await live_agents.manager.start(
        live_agents.app_id, {"channel": "room5", "providers": SCRIPTED, "idle_timeout_s": 1}
    )
    await until(lambda: handle.ended_at is not None, 10, "the idle timeout")
    assert handle.session.reason == "idle_timeout"
