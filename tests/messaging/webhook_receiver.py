"""A real webhook receiver for tests: a tiny ASGI app served by uvicorn on 127.0.0.1 (a free port
chosen by the kernel), in the test's own event loop.

It records every request as it arrived on the wire (method, path, headers, raw body) and answers
204, unless told otherwise: :meth:`WebhookReceiver.on` gives a path its own answers (a
pre-delivery hook's verdicts), :meth:`WebhookReceiver.fail` answers the next matching requests
with an error status, and :meth:`WebhookReceiver.stall` holds them without an answer until the
receiver stops, so that the sender's timeout fires. Use it as ``async with WebhookReceiver() as r``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import uvicorn
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from hubbub.server.platform import bind_http

Match = Callable[["Received"], bool]
Handler = Callable[["Received"], tuple[int, Any]]


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it: ``body`` is the raw bytes read off the connection."""

    method: str
    path: str
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Rule:
    remaining: int
    status: int | None  # None: never answer (until the receiver stops)
    match: Match | None


class WebhookReceiver:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.requests: list[Received] = []
        self._rules: list[_Rule] = []
        self._handlers: dict[str, Handler] = {}
        self._release = asyncio.Event()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    # --- what the test tells it ----------------------------------------------------------------

    def url(self, path: str = "/") -> str:
        assert self.port, "the receiver is not started"
        return f"http://{self.host}:{self.port}{path}"

    def on(self, path: str, handler: Handler) -> None:
        """Answer requests to ``path`` with ``handler(received) -> (status, json body or None)``."""
        self._handlers[path] = handler

    def fail(self, times: int, status: int = 503, match: Match | None = None) -> None:
        """Answer the next ``times`` requests (that ``match``, if given) with ``status``."""
        self._rules.append(_Rule(times, status, match))

    def stall(self, times: int = 1, match: Match | None = None) -> None:
        """Read the next ``times`` requests (that ``match``) and never answer them: the sender times out."""
        self._rules.append(_Rule(times, None, match))

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Poll until at least ``count`` requests have arrived; returns them all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.requests) < count:
            if loop.time() > deadline:
                raise AssertionError(f"expected {count} webhook requests in {timeout} s, got {len(self.requests)}")
            await asyncio.sleep(0.005)
        return list(self.requests)

    # --- the ASGI app --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        received = Received(request.method, request.url.path, Headers(raw=list(scope["headers"])), await request.body())
        self.requests.append(received)
        response = await self._answer(received)
        await response(scope, receive, send)

    async def _answer(self, received: Received) -> Response:
        for rule in self._rules:
            if rule.remaining > 0 and (rule.match is None or rule.match(received)):
                rule.remaining -= 1
                if rule.status is None:
                    await self._release.wait()
                    return Response(status_code=503)
                return Response(status_code=rule.status)
        handler = self._handlers.get(received.path)
        if handler is None:
            return Response(status_code=204)
        status, content = handler(received)
        if content is None:
            return Response(status_code=status)
        if isinstance(content, bytes):  # sent as is: a receiver that answers broken or hostile JSON
            return Response(content, status_code=status, media_type="application/json")
        return JSONResponse(content, status_code=status)

    # --- serving -------------------------------------------------------------------------------

    async def start(self) -> None:
        sock = bind_http(self.host, 0)
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self,
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the webhook receiver stopped during start-up")
            if loop.time() > deadline:
                raise RuntimeError("the webhook receiver did not start in 10 s")
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        self._release.set()  # stalled requests end, so the server can stop
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, 10)
        self._server = self._task = None

    async def __aenter__(self) -> WebhookReceiver:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
