"""A live server on real sockets (HTTP + signaling + media) and a project to join, for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from hubbub.config import Settings
from hubbub.control.context import UserPrincipal
from hubbub.sdk.token import build_token
from hubbub.server.platform import Platform, bind_http


@dataclass
class LiveServer:
    platform: Platform
    url: str
    app_id: str
    certificate: str
    owner_id: int

    def token(self, user: str, channel: str = "room1", **kwargs: object) -> str:
        return build_token(self.app_id, self.certificate, user_id=user, channel=channel, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveServer]:
    settings = Settings(
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "data",
        rtc_udp_port=0,
        rtc_tcp_port=0,
        log_format="json",
    )
    platform = await Platform.start(settings)
    sock = bind_http("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(platform.app, log_config=None, access_log=False, lifespan="off", ws="websockets-sansio")
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    svc = platform.services
    user = await svc.accounts.sign_up("owner@example.com", "correct horse battery")
    project, certificate = await svc.projects.create(UserPrincipal(user.id), "e2e")
    try:
        yield LiveServer(platform, f"http://127.0.0.1:{port}", project.app_id, certificate, user.id)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        await platform.close()
