"""A live server (HTTP, signaling, media) with the agent routes mounted, a project and an API key."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import uvicorn

from hubbub.agents.manager import AgentEvent, AgentManager
from hubbub.config import Settings
from hubbub.control.context import UserPrincipal
from hubbub.sdk.token import build_token
from hubbub.server.platform import Platform, bind_http


@dataclass
class LiveAgents:
    platform: Platform
    url: str
    app_id: str
    certificate: str
    api_key: str
    manager: AgentManager
    events: list[AgentEvent]

    def token(self, user: str, channel: str = "room1") -> str:
        return build_token(self.app_id, self.certificate, user_id=user, channel=channel)

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"}


@pytest.fixture
async def live_agents(tmp_path: Path) -> AsyncIterator[LiveAgents]:
    settings = Settings(
        host="127.0.0.1", port=0, data_dir=tmp_path / "data", rtc_udp_port=0, rtc_tcp_port=0, log_format="json"
    )
    platform = await Platform.start(settings)
    sock = bind_http("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    events: list[AgentEvent] = []
    manager = platform.agents  # the server's own manager, as `hubbub serve` wires it
    manager.url = url
    manager.on_event = events.append
    server = uvicorn.Server(
        uvicorn.Config(platform.app, log_config=None, access_log=False, lifespan="off", ws="websockets-sansio")
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    svc = platform.services
    user = await svc.accounts.sign_up("owner@example.com", "correct horse battery")
    project, certificate = await svc.projects.create(UserPrincipal(user.id), "agents")
    _, key = await svc.api_keys.create(UserPrincipal(user.id), project.app_id, "agents")
    try:
        yield LiveAgents(platform, url, project.app_id, certificate, key, manager, events)
    finally:
        await manager.close()
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        await platform.close()


def espeak_pcm(text: str, rate: int = 48_000) -> np.ndarray:
    """``text`` spoken by espeak-ng, as int16 mono samples at ``rate`` (skips the test without it)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    import av

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "q.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), text], check=True, capture_output=True)
        with av.open(str(wav)) as container:
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            chunks = [
                f.to_ndarray().reshape(-1) for frame in container.decode(audio=0) for f in resampler.resample(frame)
            ]
    return np.concatenate(chunks).astype(np.int16)


@pytest.fixture
def speech() -> type:
    """Access to :func:`espeak_pcm` from tests (the folder has no package, so no imports)."""

    class Speech:
        pcm = staticmethod(espeak_pcm)

    return Speech
