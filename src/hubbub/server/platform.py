"""The composition root: builds storage, use cases and the ASGI app from settings, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from hubbub import __version__
from hubbub.api.app import create_app
from hubbub.api.services import Services
from hubbub.config import Settings
from hubbub.control.accounts import Accounts
from hubbub.control.apikeys import ApiKeys
from hubbub.control.context import ControlContext
from hubbub.control.projects import Projects
from hubbub.control.secretbox import SecretBox
from hubbub.control.usage import Usage
from hubbub.storage.db import create_engine, migrate, session_factory
from hubbub.util.clock import Clock, system_clock

log = logging.getLogger("hubbub.server")


@dataclass
class Platform:
    settings: Settings
    engine: AsyncEngine
    services: Services
    app: FastAPI

    @classmethod
    async def start(cls, settings: Settings, clock: Clock = system_clock) -> Platform:
        """Open the database, apply migrations and wire every service."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.effective_database_url)
        await migrate(engine)
        ctx = ControlContext(
            db=session_factory(engine),
            clock=clock,
            box=SecretBox.from_settings(settings.secret_key, settings.data_dir),
            settings=settings,
        )
        projects = Projects(ctx)
        services = Services(
            settings=settings,
            engine=engine,
            clock=clock,
            accounts=Accounts(ctx),
            projects=projects,
            api_keys=ApiKeys(ctx, projects),
            usage=Usage(ctx, projects),
        )
        return cls(settings=settings, engine=engine, services=services, app=create_app(services))

    async def close(self) -> None:
        await self.engine.dispose()


def bind_http(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def ready_banner(settings: Settings, port: int, out: TextIO) -> None:
    base = settings.base_url if settings.public_url else Settings(host=settings.host, port=port).base_url
    db = "SQLite " + str((settings.data_dir / "hubbub.db").resolve()) if not settings.database_url else "PostgreSQL"
    lines = [
        f"Hubbub {__version__} is ready",
        f"  REST API     {base}/api/v1",
        f"  API docs     {base}/docs",
        f"  Health       {base}/healthz  {base}/readyz",
        f"  Metrics      {base}/metrics",
        f"  Database     {db}",
        f"  Data dir     {settings.data_dir.resolve()}",
    ]
    print("\n".join(lines), file=out, flush=True)


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal capture, which re-raises SIGTERM/SIGINT after the
    graceful stop and so kills the process with the signal instead of letting it exit 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _stop_on_signals(server: uvicorn.Server) -> None:
    def stop() -> None:
        if server.should_exit:  # a second signal: stop waiting for in-flight requests
            server.force_exit = True
        server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows / not main thread
            loop.add_signal_handler(sig, stop)


async def serve(settings: Settings, out: TextIO = sys.stdout) -> None:
    """Run until SIGINT/SIGTERM, then stop accepting, finish in-flight requests and close."""
    started = time.perf_counter()
    platform = await Platform.start(settings)
    try:
        sock = bind_http(settings.host, settings.port)
    except OSError:
        await platform.close()
        raise
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        platform.app,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
        server_header=False,
        ws="websockets-sansio",
    )
    server = _Server(config)
    _stop_on_signals(server)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        log.info("ready", extra={"port": port, "startup_ms": round((time.perf_counter() - started) * 1000)})
        ready_banner(settings, port, out)
    try:
        await task
    finally:
        await platform.close()
        log.info("stopped")
