"""ASGI middleware: request id, body size and JSON depth limits, metrics and one access-log line per request."""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hubbub.api.problems import problem
from hubbub.schema import jsonsafe
from hubbub.util.logging import request_id_var

log = logging.getLogger("hubbub.http")
_RID_OK = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

HTTP_REQUESTS = Counter("hubbub_http_requests_total", "HTTP requests handled", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "hubbub_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class BodyTooLarge(Exception):
    pass


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        rid = incoming if _RID_OK.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500
        method = scope["method"]

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                await self._too_large(scope, receive, send_wrapper)
                return
            if "json" in headers.get("content-type", "").lower():
                # A JSON body is read whole (it is bounded by the size limit) and its nesting checked
                # before any decoder sees it: a decoder recurses once per level.
                body = await _read_body(receive, self.max_body)
                if body is None:
                    await self._too_large(scope, receive, send_wrapper)
                    return
                if jsonsafe.depth_exceeds(body, MAX_BODY_DEPTH):
                    await self._too_deep(scope, receive, send_wrapper)
                    return
                receive = _replay(body, receive)
            received = 0
            exceeded = responded = False

            async def receive_limited() -> Message:
                nonlocal received, exceeded
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        exceeded = True
                        raise BodyTooLarge
                return message

            async def app_send(message: Message) -> None:
                nonlocal responded
                if exceeded and not responded:
                    return  # the app's answer to a body it could not read (FastAPI turns it into a 400)
                responded = True
                await send_wrapper(message)

            with contextlib.suppress(BodyTooLarge):
                await self.app(scope, receive_limited, app_send)
            if exceeded and not responded:
                await self._too_large(scope, receive, send_wrapper)
        finally:
            route = _route_of(scope)
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(elapsed)
            if route not in ("/metrics", "/healthz", "/readyz"):
                log.info(
                    "request",
                    extra={"method": method, "route": route, "status": status, "ms": round(elapsed * 1000, 2)},
                )
            request_id_var.reset(token)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"The request body exceeds the limit of {self.max_body} bytes."
        await _refuse(scope, receive, send, 413, "body_too_large", "Payload too large", detail)

    async def _too_deep(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"The request body nests objects and arrays deeper than {MAX_BODY_DEPTH} levels."
        await _refuse(scope, receive, send, 400, "malformed_json", "Malformed JSON", detail)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str, title: str, detail: str) -> None:
    """Answer with a problem document before the app sees the request."""
    await problem(status, code, title, detail, instance=scope.get("path", ""))(scope, receive, send)


MAX_BODY_DEPTH = jsonsafe.MAX_DEPTH
"""Nesting levels of objects and arrays allowed in a JSON request body."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it grows past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the server's (a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "(unmatched)"
