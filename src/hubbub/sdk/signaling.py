"""The signaling client: protocol v1 frames over one WebSocket to ``/rtc/v1``.

:class:`SignalingClient` owns the socket and nothing else (no media, no room state):

- **framing**: every frame is one JSON object encoded and decoded with
  :mod:`hubbub.schema.signaling`; frames the client cannot parse are logged and skipped, as the
  protocol asks (unknown fields are ignored by the decoder itself);
- **correlation**: :meth:`~SignalingClient.request` gives each request a fresh ``id`` and resolves
  with the frame whose ``re`` carries it back, or raises the mapped error for an ``error`` frame
  (see :func:`hubbub.sdk.errors.error_from_frame`); requests the protocol defines no reply for
  can name the event that confirms them instead (``reply=``); every wait has a timeout;
- **keep-alive**: after ``joined`` a ``ping {t}`` goes out every ``ping_interval`` seconds; the
  matching ``pong`` gives :attr:`~SignalingClient.rtt_ms`, and a socket silent for
  ``3 * ping_interval`` is declared lost;
- **reconnection**: :meth:`~SignalingClient.resume` re-opens the socket and re-joins with
  ``resume_sid``/``resume_key``, with exponential backoff (:class:`Backoff`), until a deadline.

Every frame but ``pong`` goes to the ``on_message`` callback in arrival order, replies included
(so whoever keeps state sees every change in one place); ``error`` frames that answered a request
are raised to its caller instead. An unexpected end of the socket (after ``joined``) is reported
once to ``on_lost``. :class:`hubbub.sdk.Room` builds on these two callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from hubbub.schema import signaling as proto
from hubbub.sdk.errors import ConnectionLostError, HubbubError, JoinError, RequestTimeout, error_from_frame

__all__ = ["Backoff", "OpenSocket", "SignalingClient", "SignalingSocket", "signaling_url"]

log = logging.getLogger("hubbub.sdk.signaling")

SIGNALING_PATH = "/rtc/v1"
_MAX_INCOMING = 4 * proto.MAX_FRAME_BYTES  # server frames (a large room's ``joined``) may be bigger

OnMessage = Callable[[proto.ServerMessage], None]
OnLost = Callable[[str], None]
ReplyMatcher = Callable[[proto.ServerMessage], bool]


class SignalingSocket(Protocol):
    """What the client needs of a WebSocket (``websockets``' client connection is one).

    Iterating yields text frames until the socket closes; ``send`` on a closed socket raises
    ``websockets.ConnectionClosed``.
    """

    def __aiter__(self) -> AsyncIterator[str | bytes]: ...

    async def send(self, message: str) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


OpenSocket = Callable[[str], Awaitable[SignalingSocket]]
"""Opens the signaling socket for a ``ws(s)://`` URL; raises ``OSError`` or a ``websockets``
handshake error when it cannot. Tests pass a fake (see ``tests/conformance``)."""


async def open_websocket(url: str) -> SignalingSocket:
    """The default :data:`OpenSocket`: a ``websockets`` client connection."""
    ws: ClientConnection = await ws_connect(url, open_timeout=None, max_size=_MAX_INCOMING, ping_interval=None)
    return ws


def signaling_url(url: str) -> str:
    """The WebSocket URL for a server URL.

    ``http://h:8080`` -> ``ws://h:8080/rtc/v1``; ``https://h`` -> ``wss://h/rtc/v1``. A ``ws(s)``
    URL, or one already ending in ``/rtc/v1``, keeps its path; any other path is a prefix (a server
    behind a reverse proxy at ``https://h/hubbub`` -> ``wss://h/hubbub/rtc/v1``).
    """
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError(f"unsupported URL scheme {parts.scheme!r}: use http(s) or ws(s)")
    if not parts.hostname:
        raise ValueError(f"no host in URL {url!r}")
    path = parts.path.rstrip("/")
    if not path.endswith(SIGNALING_PATH):
        path += SIGNALING_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: ``initial``, ``initial * factor``, ... capped at ``maximum``.

    Each delay is spread by +-``jitter`` (a fraction) so many clients cut off together do not
    return together.
    """

    initial: float = 0.25
    factor: float = 2.0
    maximum: float = 4.0
    jitter: float = 0.2

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        r = rng or random.Random()
        delay = self.initial
        while True:
            yield max(0.0, delay * (1 + self.jitter * (2 * r.random() - 1)))
            delay = min(self.maximum, delay * self.factor)


class _Waiter:
    __slots__ = ("future", "matcher")

    def __init__(self, future: asyncio.Future[proto.ServerMessage], matcher: ReplyMatcher | None) -> None:
        self.future = future
        self.matcher = matcher


class SignalingClient:
    """One participant's signaling session (see the module docstring).

    ``url`` is a ``ws(s)://`` URL (use :func:`signaling_url`). ``clock`` returns seconds and is
    used for RTT and liveness (``time.monotonic`` by default; tests pass their own);
    ``open_socket`` opens the WebSocket (:func:`open_websocket` by default).
    """

    def __init__(
        self,
        url: str,
        *,
        on_message: OnMessage | None = None,
        on_lost: OnLost | None = None,
        request_timeout: float = 10.0,
        open_timeout: float = 10.0,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        open_socket: OpenSocket = open_websocket,
    ) -> None:
        self.url = url
        self.on_message = on_message
        self.on_lost = on_lost
        self.request_timeout = request_timeout
        self.open_timeout = open_timeout
        self.backoff = backoff or Backoff()
        self._clock = clock
        self._open_socket = open_socket
        self._ids = itertools.count(1)
        self._ws: SignalingSocket | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._waiters: dict[str, _Waiter] = {}
        self._pings: dict[float, float] = {}  # ping t -> clock() when sent
        self._last_heard = 0.0
        self._closing = False
        self._close_error: HubbubError | None = None
        self.joined: proto.Joined | None = None
        """The latest ``joined`` (after a resume, the resumed one)."""
        self.rtt_ms: float | None = None
        """Round-trip time of the last ping, in milliseconds; ``None`` before the first pong."""

    @property
    def connected(self) -> bool:
        """True while a joined socket is open."""
        return self._ws is not None and self.joined is not None

    # --- opening ------------------------------------------------------------------------------

    async def join(self, join: proto.Join, *, timeout: float | None = None) -> proto.Joined:
        """Open the socket, send ``join`` and return ``joined``.

        Raises :class:`JoinError` when the server answers with ``error`` (a refused token, a full
        room, ...), :class:`ConnectionLostError` when the socket cannot be opened or closes first,
        :class:`RequestTimeout` when no answer comes within ``timeout``.
        """
        limit = self.request_timeout if timeout is None else timeout
        self._closing = False
        self._close_error = None
        await self._drop_socket()
        try:
            ws = await asyncio.wait_for(self._open_socket(self.url), self.open_timeout)
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
            raise ConnectionLostError(f"cannot open {self.url}: {exc}") from exc
        self._ws = ws
        self.joined = None
        self._last_heard = self._clock()
        request_id = f"join-{next(self._ids)}"
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), lambda m: isinstance(m, proto.Joined | proto.Error))
        self._waiters[request_id] = waiter
        self._reader = asyncio.create_task(self._read(ws), name="hubbub-signaling-reader")
        try:
            await self._send_on(ws, _with_id(join, request_id))
            reply = await asyncio.wait_for(asyncio.shield(waiter.future), limit)
        except TimeoutError:
            await self._drop_socket()
            raise RequestTimeout(f"no answer to join within {limit} s") from None
        except HubbubError as exc:
            await self._drop_socket()
            if isinstance(exc, ConnectionLostError):
                raise
            raise JoinError(exc.code, exc.message) from None
        finally:
            self._waiters.pop(request_id, None)
        assert isinstance(reply, proto.Joined)
        self.joined = reply
        self._pinger = asyncio.create_task(self._ping_loop(ws, reply.ping_interval), name="hubbub-signaling-ping")
        return reply

    async def resume(self, join: proto.Join, *, deadline: float) -> proto.Joined:
        """Re-join until ``deadline`` (a ``clock()`` value), backing off between tries.

        ``join`` should carry ``resume_sid`` and ``resume_key`` from the last ``joined``. Raises
        :class:`JoinError` at once when the server refuses (retrying cannot help), or
        :class:`ConnectionLostError` when the deadline passes.
        """
        last: Exception | None = None
        for delay in self.backoff.delays():
            left = deadline - self._clock()
            if left <= 0 or self._closing:
                break
            try:
                return await self.join(join, timeout=min(self.request_timeout, left))
            except JoinError:
                raise
            except (ConnectionLostError, RequestTimeout) as exc:
                last = exc
                log.info("resume attempt failed: %s", exc)
            await asyncio.sleep(min(delay, max(0.0, deadline - self._clock())))
        raise ConnectionLostError(f"could not resume the session in time ({last})")

    # --- requests -----------------------------------------------------------------------------

    async def send(self, message: proto.ClientMessage) -> None:
        """Send a frame without waiting for any reply. Raises :class:`ConnectionLostError` if closed."""
        if self._ws is None:
            raise ConnectionLostError("the signaling connection is not open")
        await self._send_on(self._ws, message)

    async def request(
        self,
        message: proto.ClientMessage,
        *,
        reply: ReplyMatcher | None = None,
        timeout: float | None = None,
    ) -> proto.ServerMessage:
        """Send ``message`` with a fresh ``id`` and return the server's reply.

        The reply is the first frame whose ``re`` is that id or, when ``reply`` is given, the
        first frame for which ``reply(frame)`` is true (for requests whose confirmation is a
        broadcast event, e.g. ``mute`` -> ``track_muted``). An ``error`` frame carrying the id
        raises the mapped :class:`HubbubError`; no answer within ``timeout`` (default: the
        client's ``request_timeout``) raises :class:`RequestTimeout`; a lost socket raises
        :class:`ConnectionLostError`.
        """
        if self._ws is None:
            raise ConnectionLostError("the signaling connection is not open")
        limit = self.request_timeout if timeout is None else timeout
        request_id = f"r{next(self._ids)}"
        waiter = _Waiter(asyncio.get_running_loop().create_future(), reply)
        self._waiters[request_id] = waiter
        try:
            await self._send_on(self._ws, _with_id(message, request_id))
            return await asyncio.wait_for(asyncio.shield(waiter.future), limit)
        except TimeoutError:
            raise RequestTimeout(f"no answer to {_type_of(message)} within {limit} s") from None
        finally:
            self._waiters.pop(request_id, None)

    async def _send_on(self, ws: SignalingSocket, message: proto.ClientMessage) -> None:
        try:
            await ws.send(proto.encode(message).decode("utf-8"))
        except websockets.ConnectionClosed as exc:
            raise ConnectionLostError(f"signaling connection closed: {exc}") from None

    # --- receiving ----------------------------------------------------------------------------

    async def _read(self, ws: SignalingSocket) -> None:
        reason = "signaling connection closed"
        try:
            async for raw in ws:
                self._last_heard = self._clock()
                try:
                    message = proto.decode_server(raw)
                except proto.ProtocolError as exc:
                    log.warning("skipping a frame the client cannot parse: %s", exc.message[:200])
                    continue
                self._dispatch(message)
        except websockets.ConnectionClosed as exc:
            reason = f"signaling connection closed: {exc}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a callback must not kill the session silently
            log.exception("signaling reader failed")
            reason = f"signaling reader failed: {exc}"
        finally:
            if self._ws is ws:
                self._connection_ended(reason)

    def _dispatch(self, message: proto.ServerMessage) -> None:
        if isinstance(message, proto.Pong):
            sent = self._pings.pop(message.t, None)
            if sent is not None:
                self.rtt_ms = max(0.0, (self._clock() - sent) * 1000.0)
            return
        # Offer/Answer/Trickle are shared with the client side and carry ``id``, not ``re``.
        re = getattr(message, "re", None)
        waiter = self._waiters.get(re) if re else None
        if waiter is None:
            waiter = next((w for w in self._waiters.values() if w.matcher is not None and w.matcher(message)), None)
            if waiter is not None and isinstance(message, proto.Error):
                # an error carrying no id can be matched only while joining (where it is the answer)
                waiter = waiter if self.joined is None else None
        if waiter is not None and not waiter.future.done():
            if isinstance(message, proto.Error):
                waiter.future.set_exception(error_from_frame(message.code, message.message))
                return
            waiter.future.set_result(message)
        if self.on_message is not None:
            self.on_message(message)

    def _connection_ended(self, reason: str) -> None:
        self._ws = None
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None
        for waiter in self._waiters.values():
            if not waiter.future.done():
                waiter.future.set_exception(self._close_error or ConnectionLostError(reason))
        was_joined = self.joined is not None
        self.joined = None
        if was_joined and not self._closing and self.on_lost is not None:
            self.on_lost(reason)

    # --- keep-alive ---------------------------------------------------------------------------

    async def _ping_loop(self, ws: SignalingSocket, interval: float) -> None:
        interval = max(0.05, interval)
        while True:
            await asyncio.sleep(interval)
            if self._clock() - self._last_heard > 3 * interval:
                log.info("no frame from the server for %.1f s: connection lost", 3 * interval)
                await ws.close(code=4000, reason="ping timeout")
                return
            t = round(time.time() * 1000.0, 3)
            self._pings[t] = self._clock()
            if len(self._pings) > 16:
                self._pings.pop(next(iter(self._pings)))
            with contextlib.suppress(ConnectionLostError):
                await self._send_on(ws, proto.Ping(t=t, rtt=self.rtt_ms or 0.0))

    # --- closing ------------------------------------------------------------------------------

    async def close(self, *, leave: bool = True, error: HubbubError | None = None) -> None:
        """Close the session: send ``leave`` (unless ``leave=False``) and close the socket.

        Does not report to ``on_lost``. Pending requests fail with ``error`` (by default a
        :class:`ConnectionLostError`).
        """
        self._closing = True
        self._close_error = error
        ws = self._ws
        if ws is not None and leave and self.joined is not None:
            with contextlib.suppress(ConnectionLostError, TimeoutError):
                await asyncio.wait_for(self._send_on(ws, proto.Leave()), 1.0)
        await self._drop_socket()

    async def drop(self) -> None:
        """Close the socket without ``leave`` and without reporting it to ``on_lost``.

        For a session about to be resumed (the server keeps the participant); pending requests
        fail with :class:`ConnectionLostError`.
        """
        await self._drop_socket()

    async def _drop_socket(self) -> None:
        ws, reader, pinger = self._ws, self._reader, self._pinger
        self._reader = self._pinger = None
        if ws is not None:
            self._ws = None
            self.joined = None  # a deliberate drop is not a loss: no on_lost
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)
        for task in (pinger, reader):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if ws is not None:
            self._connection_ended("signaling connection closed by the client")


def _with_id(message: proto.ClientMessage, request_id: str) -> proto.ClientMessage:
    return msgspec.structs.replace(message, id=request_id)


def _type_of(message: proto.ClientMessage) -> str:
    return str(message.__struct_config__.tag)
