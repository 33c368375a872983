"""The composition root: builds storage, use cases and the ASGI app from settings, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from hubbub import __version__
from hubbub.agents.manager import AgentEvent, AgentManager, project_token_source
from hubbub.agents.transcripts import MessagingTranscriptSink
from hubbub.api.app import create_app
from hubbub.api.routes.messaging import TokenRtmAdmission, include_messaging
from hubbub.api.services import Services
from hubbub.config import ENV_PREFIX, Settings
from hubbub.control.accounts import Accounts
from hubbub.control.admission import Admission
from hubbub.control.apikeys import ApiKeys
from hubbub.control.context import ControlContext
from hubbub.control.projects import Projects
from hubbub.control.secretbox import SecretBox
from hubbub.control.usage import Usage
from hubbub.control.webhooks import Webhooks
from hubbub.messaging import AttachmentService, MessagingService, MessagingSettings
from hubbub.proto.certificate import load_or_create
from hubbub.rooms.service import RoomService, RoomSettings
from hubbub.server.rtc import mount_signaling
from hubbub.server.rtm import mount_messaging
from hubbub.server.websocket import HubbubWebSocketProtocol
from hubbub.storage.db import create_engine, migrate, session_factory
from hubbub.storage.s3 import S3Store
from hubbub.transport import RtcTransportServer
from hubbub.util.clock import Clock, system_clock

log = logging.getLogger("hubbub.server")


TICK_INTERVAL = 0.1  # rooms: reconnect windows, token expiry, speakers, RTCP reports


@dataclass
class Platform:
    settings: Settings
    engine: AsyncEngine
    services: Services
    app: FastAPI
    transport: RtcTransportServer
    rooms: RoomService
    admission: Admission
    agents: AgentManager
    messaging: MessagingService
    webhooks: Webhooks
    attachments: AttachmentService
    _ticker: asyncio.Task[None] | None = None
    _pending: set[asyncio.Task[None]] | None = None

    @classmethod
    async def start(
        cls,
        settings: Settings,
        clock: Clock = system_clock,
        *,
        rtm_settings: MessagingSettings | None = None,
        webhook_client: httpx.AsyncClient | None = None,
        background: bool = True,
    ) -> Platform:
        """Open the database, apply migrations and wire every service.

        ``rtm_settings`` overrides the messaging settings read from ``$HUBBUB_RTM_*``;
        ``webhook_client`` is the HTTP client webhooks are delivered with. ``background=False``
        leaves the messaging and webhook delivery loops to the caller (tests on a manual clock).
        """
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
        transport = RtcTransportServer(
            certificate=load_or_create(settings.data_dir / "dtls-certificate.pem", time.time()),
            host=settings.rtc_host or settings.host,
            udp_port=settings.rtc_udp_port,
            tcp_port=settings.rtc_tcp_port,
            announced_ip=settings.announced_ip,
            native=settings.native_fanout,
        )
        try:
            await transport.start()
        except OSError as exc:
            await engine.dispose()
            # start() binds UDP first: an address already known means the ICE-TCP listener failed
            if transport.udp_address is None:
                raise ListenError("media UDP", "rtc_udp_port", transport.host, settings.rtc_udp_port, exc) from exc
            raise ListenError("ICE-TCP", "rtc_tcp_port", transport.host, settings.rtc_tcp_port, exc) from exc
        usage = Usage(ctx, projects)
        pending: set[asyncio.Task[None]] = set()  # background writes; close() waits for them

        def on_usage(app_id: str, audio_minutes: float, video_minutes: float) -> None:
            task = asyncio.create_task(
                usage.record_for_app(app_id, audio_minutes=audio_minutes, video_minutes=video_minutes)
            )
            pending.add(task)
            task.add_done_callback(pending.discard)

        room_settings = RoomSettings(
            reconnect_window=settings.reconnect_window_s,
            native_fanout=settings.native_fanout,
            ice_urls=settings.ice_server_urls,
            turn_secret=settings.turn_secret,
        )
        rooms = RoomService(transport, clock, room_settings, on_usage=on_usage)
        admission = Admission(ctx, projects)
        rtm_settings = rtm_settings or MessagingSettings.from_env(settings.data_dir)
        blobs = (
            S3Store(
                rtm_settings.s3_endpoint,
                rtm_settings.s3_bucket,
                region=rtm_settings.s3_region,
                access_key=rtm_settings.s3_access_key,
                secret_key=rtm_settings.s3_secret_key,
            )
            if rtm_settings.s3_endpoint
            else None
        )
        webhooks = Webhooks(ctx, projects, client=webhook_client)
        attachments = AttachmentService(ctx.db, clock, rtm_settings, blobs)
        messaging = MessagingService(ctx.db, clock, rtm_settings, sink=webhooks, hook=webhooks, attachments=attachments)
        rtm_admission = TokenRtmAdmission(admission)

        def on_agent_event(event: AgentEvent) -> None:  # lifecycle events go to the project's webhooks
            payload = {"agent_id": event.agent_id, "channel": event.channel, **event.data}
            task = asyncio.create_task(webhooks.publish(event.app_id, event.type, payload, ordering_key=event.channel))
            pending.add(task)
            task.add_done_callback(pending.discard)

        agents = AgentManager(
            url=settings.base_url,
            tokens=project_token_source(projects, clock),
            on_event=on_agent_event,
            sink_for=lambda app_id, identity: MessagingTranscriptSink(messaging, app_id, identity),
        )
        services = Services(
            settings=settings,
            engine=engine,
            clock=clock,
            accounts=Accounts(ctx),
            projects=projects,
            api_keys=ApiKeys(ctx, projects),
            usage=usage,
            rooms=rooms,
            agents=agents,
        )
        app = create_app(services)
        mount_signaling(app, rooms, admission, messaging)
        mount_messaging(app, messaging, rtm_admission)
        include_messaging(app, messaging, webhooks, attachments, rtm_admission)

        platform = cls(
            settings, engine, services, app, transport, rooms, admission, agents, messaging, webhooks, attachments
        )
        if background:
            messaging.start()
            webhooks.start()
        platform._ticker = asyncio.create_task(platform._tick_forever())
        platform._pending = pending
        return platform

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_INTERVAL)
            try:
                self.rooms.tick()
            except Exception:  # a bug in one room must not stop the clock of all the others
                log.exception("room tick failed")

    async def close(self) -> None:
        await self.agents.close()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self.rooms.close_all()  # reports the last usage minutes
        if self._pending:  # usage and webhook writes finish before the database closes
            await asyncio.wait(set(self._pending), timeout=5)
        await self.transport.close()
        await self.messaging.close()
        await self.webhooks.close()
        await self.engine.dispose()


class ListenError(OSError):
    """A port of the platform could not be opened; names the setting that chooses it.

    ``what`` is the listener ("HTTP", "media UDP", "ICE-TCP"), ``setting`` the :class:`Settings`
    field of its port. The message says why, in words, with the port and the setting.
    """

    def __init__(self, what: str, setting: str, host: str, port: int, cause: OSError) -> None:
        # uvloop reports a failed UDP bind without an errno; the cause it chains carries it
        code = cause.errno if cause.errno is not None else getattr(cause.__cause__, "errno", None)
        super().__init__(code, _why(code, cause))
        self.what, self.setting, self.host, self.port = what, setting, host, port

    @property
    def in_use(self) -> bool:
        return self.errno == errno.EADDRINUSE

    def __str__(self) -> str:
        return f"{self.what} port {self.port} on {self.host} {self.strerror} ({self.origin()})"

    def origin(self, flag: str = "") -> str:
        """Where the port comes from: the setting, the flag if one is named, the variable."""
        flags = [f"flag {flag}"] if flag else []
        return ", ".join([f"setting {self.setting}", *flags, f"env {ENV_PREFIX}{self.setting.upper()}"])


def _why(code: int | None, cause: OSError) -> str:
    if code == errno.EADDRINUSE:
        return "is in use"
    if code == errno.EACCES:
        return "needs privileges this user lacks"
    if code == errno.EADDRNOTAVAIL:
        return "cannot be opened: its address is not one of this host's"
    return f"cannot be opened: {cause.strerror or cause}"


def bind_http(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def ready_banner(settings: Settings, port: int, out: TextIO, transport: RtcTransportServer | None = None) -> None:
    base = settings.base_url if settings.public_url else Settings(host=settings.host, port=port).base_url
    db = "SQLite " + str((settings.data_dir / "hubbub.db").resolve()) if not settings.database_url else "PostgreSQL"
    lines = [
        f"Hubbub {__version__} is ready",
        f"  Console      {base}/console/",
        f"  Demos        {base}/demo/",
        f"  REST API     {base}/api/v1",
        f"  API docs     {base}/docs",
        f"  Guide        {base}/guide/",
        f"  Health       {base}/healthz  {base}/readyz",
        f"  Metrics      {base}/metrics",
        f"  Signaling    {base.replace('http', 'ws', 1)}/rtc/v1",
        f"  Messaging    {base.replace('http', 'ws', 1)}/rtm/v1",
    ]
    if transport is not None and transport.udp_address is not None:
        udp = transport.udp_address
        tcp = transport.tcp_address
        lines.append(f"  Media        UDP {udp[0]}:{udp[1]}" + (f", ICE-TCP {tcp[0]}:{tcp[1]}" if tcp else ""))
    lines += [f"  Database     {db}", f"  Data dir     {settings.data_dir.resolve()}"]  # always last
    print("\n".join(lines), file=out, flush=True)


def http_config(app: FastAPI, **overrides: Any) -> uvicorn.Config:
    """How the platform serves HTTP and WebSockets (``serve`` and the benchmarks share it).

    permessage-deflate is off: compressing every copy of a fanned-out message, per recipient,
    cost more CPU than everything else in delivery, and signaling frames are small. The protocol
    is uvicorn's sans-I/O one with a non-blocking send for fan-out (:mod:`hubbub.server.websocket`).
    """
    options: dict[str, Any] = {
        "log_config": None,
        "access_log": False,
        "lifespan": "off",
        "timeout_graceful_shutdown": 10,
        "server_header": False,
        "ws": HubbubWebSocketProtocol,
        "ws_max_size": 1 << 20,
        "ws_per_message_deflate": False,
        "backlog": 4096,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


@contextlib.asynccontextmanager
async def serving(platform: Platform, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``platform`` over real HTTP/WebSocket in this event loop; yields its base URL.

    For embedding and tests: no signal handling, stops (and waits for in-flight requests) on exit.
    Agents are pointed at this server's own signaling.
    """
    sock = bind_http(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    server = _Server(http_config(platform.app))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    platform.agents.url = url
    try:
        yield url
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


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
    except OSError as exc:
        await platform.close()
        raise ListenError("HTTP", "port", settings.host, settings.port, exc) from exc
    port = sock.getsockname()[1]
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    platform.agents.url = f"http://{host}:{port}"  # agents join through this server's own signaling
    config = http_config(platform.app)
    server = _Server(config)
    _stop_on_signals(server)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        log.info("ready", extra={"port": port, "startup_ms": round((time.perf_counter() - started) * 1000)})
        ready_banner(settings, port, out, platform.transport)
    try:
        await task
    finally:
        await platform.close()
        log.info("stopped")
