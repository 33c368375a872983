"""A live server (HTTP, signaling, media) with the agent routes mounted, a project and an API key."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hubbub.agents.manager import AgentEvent, AgentManager
from hubbub.config import Settings
from hubbub.control.context import UserPrincipal
from hubbub.sdk.token import build_token
from hubbub.server.platform import Platform, serving


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
    events: list[AgentEvent] = []
    manager = platform.agents  # the server's own manager, as `hubbub serve` wires it
    manager.on_event = events.append
    try:
        async with serving(platform) as url:
            svc = platform.services
            user = await svc.accounts.sign_up("owner@example.com", "correct horse battery")
            project, certificate = await svc.projects.create(UserPrincipal(user.id), "agents")
            _, key = await svc.api_keys.create(UserPrincipal(user.id), project.app_id, "agents")
            yield LiveAgents(platform, url, project.app_id, certificate, key, manager, events)
            await manager.close()
    finally:
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
