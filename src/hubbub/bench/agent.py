"""``hubbub bench agent``: interruption latency, pipeline overhead, voice-to-voice, agents per core.

An in-process server (SQLite in a temporary folder) and aiortc clients that talk to agents
through the SFU, measured from the client's side of the wire:

- ``interrupt_ms``: the client's speech onset (its first voiced frame handed to the network) to the
  last voiced frame of the agent's reply that reaches the client;
- ``voice_to_voice_ms``: the client's last voiced frame sent to the agent's first voiced frame received;
- ``pipeline_overhead_ms``: from the agent's per-turn metrics, end of user speech to the first
  agent packet sent, less the end-of-turn silence the detector waits by policy and the time spent
  inside the STT, LLM (to the first sentence) and TTS (to the first audio) calls;
- ``agents_per_core``: agents run in a worker process pinned to one core (clients and server on
  the others); the largest count whose median turn latency (end of speech to first packet, agent
  side) stays within 20% of one agent's. Those agents use a scripted STT and LLM (remote-like:
  fixed delays, no local CPU) and the scripted TTS, with the embedded VAD.

The LLM is scripted everywhere (fixed time to first token); VAD, STT and TTS are the embedded
ones when they can be built here (``providers`` in the output says which ran).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any, cast

import numpy as np

LLM_TTFT_S = 0.2
REPLY = "Sure. Here is a fairly long answer, so that there is time to talk over it, with several parts to it."


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 1)


def tone(seconds: float, freq: float = 300.0) -> np.ndarray:
    n = np.arange(int(seconds * 48000))
    return (np.sin(2 * np.pi * freq * n / 48000) * 0.4 * 32767).astype(np.int16)


def espeak(text: str) -> np.ndarray:
    """Speech from espeak-ng at 48 kHz (a tone when espeak-ng is missing)."""
    if shutil.which("espeak-ng") is None:
        return tone(1.0)
    import av

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-s", "160", "-w", str(wav), text], check=True, capture_output=True)
        with av.open(str(wav)) as container:
            rs = av.AudioResampler(format="s16", layout="mono", rate=48000)
            parts = [f.to_ndarray().reshape(-1) for fr in container.decode(audio=0) for f in rs.resample(fr)]
    return np.concatenate(parts).astype(np.int16)


def _mic_class() -> Any:
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
    from av import AudioFrame

    class Mic(MediaStreamTrack):
        """The benchmark's microphone: silence unless a sound is queued; notes when sounds go out."""

        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self.queue: deque[np.ndarray] = deque()
            self.pts, self.start = 0, 0.0
            self.onsets: list[float] = []
            self.last_end = 0.0
            self._idle = True
            self._sent = asyncio.Event()

        def play(self, samples: np.ndarray) -> None:
            self._sent.clear()
            self.queue.extend(np.array_split(samples, max(1, len(samples) // 960)))

        async def next_onset(self) -> float:
            count = len(self.onsets)
            while len(self.onsets) == count:
                await asyncio.sleep(0.005)
            return self.onsets[-1]

        async def wait_sent(self) -> float:
            await self._sent.wait()
            return self.last_end

        async def say(self, samples: np.ndarray) -> float:
            self.play(samples)
            return await self.wait_sent()

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
                if self._idle:
                    self.onsets.append(time.monotonic())
                self._idle = False
                if not self.queue:
                    self.last_end, self._idle = time.monotonic(), True
                    self._sent.set()
            frame = AudioFrame.from_ndarray(out.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 48000, self.pts, fractions.Fraction(1, 48000)
            self.pts += 960
            return frame

    return Mic


def _wire_timing(room: Any, track: Any) -> None:
    """Measure at the wire: take the agent's packets as they arrive, not after aiortc's 80 ms prefetch."""
    from hubbub.agents.session import low_latency_audio

    low_latency_audio(room, track, prefetch=0)


async def listen(track: Any, heard: list[tuple[float, float]]) -> None:
    from aiortc.mediastreams import MediaStreamError

    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        samples = frame.to_ndarray().astype(np.float64) / 32768
        heard.append((time.monotonic(), float(np.sqrt(np.mean(samples**2)))))


def _providers(embedded: bool) -> tuple[dict[str, Any], list[str]]:
    from hubbub.agents.config import AgentConfigError, ProviderSpec, build_provider

    chosen: dict[str, Any] = {
        "vad": {"name": "energy"},
        "stt": {"name": "scripted", "texts": "tell me something"},
        "llm": {"name": "scripted", "replies": REPLY, "first_token_s": LLM_TTFT_S, "tokens_per_s": 40},
        "tts": {"name": "scripted", "seconds_per_char": 0.03},
    }
    notes = []
    if embedded:
        for kind, name in (("vad", "silero"), ("stt", "whisper"), ("tts", "espeak")):
            try:
                build_provider(kind, ProviderSpec(name=name))
                chosen[kind] = {"name": name}
            except AgentConfigError as exc:
                notes.append(f"{kind}: {exc}")
    return chosen, notes


async def _server(tmp: Path) -> tuple[Any, Any, str, Any, Any]:
    import uvicorn

    from hubbub.agents.manager import AgentManager, project_token_source
    from hubbub.config import Settings
    from hubbub.control.context import UserPrincipal
    from hubbub.server.platform import Platform, bind_http

    settings = Settings(host="127.0.0.1", port=0, data_dir=tmp, rtc_udp_port=0, rtc_tcp_port=0, log_level="warning")
    platform = await Platform.start(settings)
    sock = bind_http("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(platform.app, log_config=None, lifespan="off", ws="websockets-sansio"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    user = await platform.services.accounts.sign_up("bench@example.com", "correct horse battery")
    project, cert = await platform.services.projects.create(UserPrincipal(user.id), "bench")
    manager = AgentManager(url=url, tokens=project_token_source(platform.services.projects))
    return platform, (server, task), url, (project.app_id, cert), manager


async def _talk(url: str, keys: tuple[str, str], manager: Any, providers: dict[str, Any], turns: int) -> dict[str, Any]:
    from hubbub.sdk import build_token, connect

    handle = await manager.start(
        keys[0], {"channel": "bench", "listen_to": ["user"], "providers": providers, "idle_timeout_s": 0}
    )
    room = await connect(url, build_token(keys[0], keys[1], user_id="user", channel="bench"))
    mic, heard = _mic_class()(), cast(list[tuple[float, float]], [])
    real_speech = providers["stt"]["name"] != "scripted" or providers["vad"]["name"] != "energy"
    question = espeak("Tell me something about the sea.") if real_speech else tone(0.6)
    barge = espeak("Wait, stop. Tell me about the mountains.") if real_speech else tone(0.5, 500)
    interrupts: list[float] = []
    v2v: list[float] = []
    try:
        await room.publish(mic)
        track = await room.wait_for_track("agent", kind="audio", timeout=15)
        _wire_timing(room, track)
        listener = asyncio.create_task(listen(track, heard))
        while not handle.session._readers:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        sent_end = await mic.say(question)
        for _ in range(turns):
            answer = await _first_voiced_after(heard, sent_end, 20)
            if answer is None:
                break
            v2v.append((answer - sent_end) * 1000)
            await asyncio.sleep(0.6)  # the agent talks for a while, then the user cuts in
            mic.play(barge)
            onset = await mic.next_onset()
            sent_end = await mic.wait_sent()
            await asyncio.sleep(0.3)  # the next answer cannot start before the end-of-turn silence
            last = max((t for t, rms in heard if onset < t < sent_end + 0.3 and rms > 0.01), default=onset)
            interrupts.append((last - onset) * 1000)
        listener.cancel()
    finally:
        await room.disconnect()
        await manager.stop(keys[0], handle.agent_id)
    overhead = [t.overhead_ms() for t in handle.session.ctx.turns if t.kind == "answer"]
    return {"interrupt": interrupts, "v2v": v2v, "overhead": [o for o in overhead if o is not None]}


async def _first_voiced_after(heard: list[tuple[float, float]], after: float, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t, rms in heard:
            if t > after and rms > 0.01:
                return t
        await asyncio.sleep(0.02)
    return None


async def _per_core(url: str, keys: tuple[str, str], vad: dict[str, Any], max_agents: int) -> tuple[int, list[Any]]:
    providers = {
        "vad": vad,
        "stt": {"name": "scripted", "texts": "hello there", "delay_s": 0.1},
        "llm": {"name": "scripted", "replies": "Hi. Nice to meet you.", "first_token_s": LLM_TTFT_S},
        "tts": {"name": "scripted", "seconds_per_char": 0.02},
    }
    steps, base, best = [], None, 0
    count = 1
    while count <= max_agents:
        latency = await run_clients(url, keys, providers, count, turns=3)
        steps.append({"agents": count, "turn_ms_p50": latency})
        if latency is None:
            break
        base = base or latency
        if latency > base * 1.2:
            break
        best = count
        count = count * 2 if count < 8 else count + 8
    return best, steps


async def _run(turns: int, embedded: bool, max_agents: int) -> dict[str, Any]:
    providers, notes = _providers(embedded)
    with tempfile.TemporaryDirectory() as tmp:
        platform, (server, task), url, keys, manager = await _server(Path(tmp))
        try:
            talk = await _talk(url, keys, manager, providers, turns)
            per_core, steps = await _per_core(url, keys, providers["vad"], max_agents) if max_agents else (0, [])
        finally:
            await manager.close()
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
            await platform.close()
    return {
        "interrupt_ms_p50": pct(talk["interrupt"], 50),
        "interrupt_ms_p95": pct(talk["interrupt"], 95),
        "pipeline_overhead_ms_p50": pct(talk["overhead"], 50),
        "voice_to_voice_ms_p50": pct(talk["v2v"], 50),
        "agents_per_core": per_core,
        "samples": {k: len(v) for k, v in talk.items()},
        "llm_ttft_ms": LLM_TTFT_S * 1000,
        "providers": {k: v["name"] for k, v in providers.items()},
        "provider_notes": notes,
        "per_core_steps": steps,
        "cpus": os.cpu_count(),
    }


def run(turns: int = 8, *, embedded: bool = True, max_agents: int = 32) -> dict[str, Any]:
    return asyncio.run(_run(turns, embedded, max_agents))


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "agent", help="voice agent latency (interruption, overhead, voice to voice) and agents per core"
    )
    parser.add_argument("--turns", type=int, default=8, help="question/barge-in rounds (default 8)")
    parser.add_argument("--scripted", action="store_true", help="scripted VAD/STT/TTS instead of the embedded ones")
    parser.add_argument("--max-agents", type=int, default=32, help="ramp limit for agents_per_core (0: skip)")
    parser.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    parser.set_defaults(func=_main)


def _main(args: Any) -> int:
    print(json.dumps(run(args.turns, embedded=not args.scripted, max_agents=args.max_agents)))
    return 0


# --- agents per core: agents in a worker process pinned to one core --------------------------


async def run_clients(
    url: str, keys: tuple[str, str], providers: dict[str, Any], count: int, turns: int
) -> float | None:
    """``count`` agents in a pinned worker, one client each, ``turns`` questions; median turn ms."""
    from hubbub.sdk import build_token, connect

    app_id, cert = keys
    channels = [f"core-{count}-{i}" for i in range(count)]
    spec = {
        "url": url,
        "providers": providers,
        "agents": [
            (c, build_token(app_id, cert, user_id="agent", channel=c, role="agent", expires_in=3600)) for c in channels
        ],
    }
    cpus = sorted(os.sched_getaffinity(0))
    worker_cpu, client_cpus = cpus[0], set(cpus[1:]) or set(cpus)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        f"from hubbub.bench.agent import _worker; _worker({worker_cpu})",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(spec).encode() + b"\n")
    await proc.stdin.drain()
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, client_cpus)
    Mic = _mic_class()
    rooms = []
    question = tone(0.5) if providers["vad"]["name"] == "energy" else espeak("Hello there, how are you?")
    try:

        async def one(channel: str) -> None:
            room = await connect(url, build_token(app_id, cert, user_id="user", channel=channel))
            rooms.append(room)
            mic, heard = Mic(), cast(list[tuple[float, float]], [])
            await room.publish(mic)
            track = await room.wait_for_track("agent", kind="audio", timeout=30)
            listener = asyncio.create_task(listen(track, heard))
            await asyncio.sleep(1.0 + random.random())
            for _ in range(turns):
                end = await mic.say(question)
                answer = await _first_voiced_after(heard, end, 15)
                await asyncio.sleep(1.5 + random.random() * 0.5)
                if answer is None:
                    break
            listener.cancel()

        await asyncio.wait_for(asyncio.gather(*(one(c) for c in channels)), 60 + 10 * turns)
    except TimeoutError:
        pass
    finally:
        os.sched_setaffinity(0, saved)
        proc.stdin.write(b"stop\n")
        await proc.stdin.drain()
        out = await asyncio.wait_for(proc.stdout.read(), 30)
        await proc.wait()
        for room in rooms:
            with contextlib.suppress(Exception):
                await room.disconnect()
    latencies = json.loads(out.decode() or "[]")
    return round(statistics.median(latencies), 1) if latencies else None


def _worker(cpu: int) -> None:
    """The agents' process: runs one AgentSession per (channel, token) until "stop" on stdin."""
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {cpu})
    spec = json.loads(sys.stdin.readline())

    async def main() -> list[float]:
        from hubbub.agents.config import build_providers, parse_config
        from hubbub.agents.session import AgentSession

        sessions = []
        for channel, token in spec["agents"]:
            cfg = parse_config({"channel": channel, "providers": spec["providers"], "idle_timeout_s": 0})
            sessions.append(AgentSession(cfg, build_providers(cfg), url=spec["url"], token=token))
        tasks = [asyncio.create_task(s.run()) for s in sessions]
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        for s in sessions:
            s.stop("bench_done")
        await asyncio.gather(*tasks, return_exceptions=True)
        return [
            (t.first_packet_t - t.speech_end_t) * 1000
            for s in sessions
            for t in s.ctx.turns
            if t.kind == "answer" and t.first_packet_t is not None and t.speech_end_t is not None
        ]

    print(json.dumps(asyncio.run(main())), flush=True)
