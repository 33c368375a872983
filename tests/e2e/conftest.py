"""Live servers on real sockets (HTTP + signaling + media) with a project to join, and one headless
Chromium per module, for end-to-end tests.

``live`` is per test; ``live_module`` and ``browser`` are per module, for Chromium tests whose
module runs on one event loop (``pytest.mark.asyncio(loop_scope="module")``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from hubbub.config import Settings
from hubbub.control.context import UserPrincipal
from hubbub.sdk.token import build_token
from hubbub.server.platform import Platform, serving

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@dataclass
class LiveServer:
    platform: Platform
    url: str
    app_id: str
    certificate: str
    owner_id: int

    def token(self, user: str, channel: str = "room1", **kwargs: Any) -> str:
        return build_token(self.app_id, self.certificate, user_id=user, channel=channel, **kwargs)


@contextlib.asynccontextmanager
async def live_server(data_dir: Path) -> AsyncIterator[LiveServer]:
    settings = Settings(host="127.0.0.1", port=0, data_dir=data_dir, rtc_udp_port=0, rtc_tcp_port=0, log_format="json")
    platform = await Platform.start(settings)
    try:
        async with serving(platform) as url:
            svc = platform.services
            user = await svc.accounts.sign_up("owner@example.com", "correct horse battery")
            project, certificate = await svc.projects.create(UserPrincipal(user.id), "e2e")
            yield LiveServer(platform, url, project.app_id, certificate, user.id)
    finally:
        await platform.close()


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path / "data") as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live_module(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path_factory.mktemp("live") / "data") as server:
        yield server


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
