"""Messaging wired onto a platform: a live server on real sockets (both databases) and REST clients."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from hubbub.config import Settings
from hubbub.control.context import UserPrincipal
from hubbub.control.webhooks import Webhooks
from hubbub.messaging import AttachmentService, MessagingService, MessagingSettings
from hubbub.sdk.token import build_token
from hubbub.server.platform import Platform, serving


@dataclass
class Wired:
    platform: Platform
    service: MessagingService
    webhooks: Webhooks
    attachments: AttachmentService


async def wire(
    settings: Settings,
    clock: Any,
    rtm_settings: MessagingSettings,
    webhook_client: httpx.AsyncClient | None = None,
) -> Wired:
    """A platform whose messaging uses ``rtm_settings`` (and ``webhook_client`` for deliveries)."""
    platform = await Platform.start(
        settings, clock, rtm_settings=rtm_settings, webhook_client=webhook_client, background=False
    )
    return Wired(platform, platform.messaging, platform.webhooks, platform.attachments)


@dataclass
class LiveRtm:
    wired: Wired
    url: str
    app_id: str
    certificate: str

    @property
    def service(self) -> MessagingService:
        return self.wired.service

    def token(self, user: str, channel: str = "*", **kwargs: Any) -> str:
        return build_token(self.app_id, self.certificate, user_id=user, channel=channel, **kwargs)


MakeLive = Callable[..., Any]


@pytest.fixture
async def live_rtm(settings: Settings) -> AsyncIterator[Callable[..., Any]]:
    """A factory: ``await live_rtm(**messaging_settings)`` starts a real server on the test's database."""
    stack = contextlib.AsyncExitStack()
    count = 0

    async def start(**overrides: Any) -> LiveRtm:
        nonlocal count
        s = dataclasses.replace(settings, host="127.0.0.1", port=0, log_format="json")
        rtm_settings = MessagingSettings.from_env(s.data_dir, env={}, **overrides)
        platform = await Platform.start(s, rtm_settings=rtm_settings)
        stack.push_async_callback(platform.close)
        url = await stack.enter_async_context(serving(platform))
        count += 1
        user = await platform.services.accounts.sign_up(f"rtm{count}@example.com", "correct horse battery")
        project, certificate = await platform.services.projects.create(UserPrincipal(user.id), "rtm")
        wired = Wired(platform, platform.messaging, platform.webhooks, platform.attachments)
        return LiveRtm(wired, url, project.app_id, certificate)

    async with stack:
        yield start


@pytest.fixture
async def wire_rtm(settings: Settings, clock: Any) -> AsyncIterator[Callable[..., Any]]:
    """``await wire_rtm(rtm_settings, webhook_client=None)``: a platform on the test's database and
    manual clock whose messaging uses those settings."""
    made: list[Wired] = []

    async def make(rtm_settings: MessagingSettings, webhook_client: httpx.AsyncClient | None = None) -> Wired:
        wired = await wire(settings, clock, rtm_settings, webhook_client)
        made.append(wired)
        return wired

    yield make
    for wired in made:
        await wired.platform.close()
