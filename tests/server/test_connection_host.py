"""The connection host: first-frame deadline, frames to the handler, outbox and close policy."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.websockets import WebSocketState

from hubbub.schema.close import CLOSE_FLOOD, CLOSE_NORMAL, CLOSE_POLICY, CLOSE_SLOW
from hubbub.server.connection import ConnectionHost, Handler, HostLimits, Push
from hubbub.server.websocket import SEND_NOWAIT
from hubbub.util.clock import ManualClock


class FakeSocket:
    """The parts of a Starlette WebSocket the host uses: a client that sends ``incoming``.

    ``blocked`` makes every awaited send hang (a client whose TCP window is full)."""

    def __init__(self, *, nowait: bool = False) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.wire: list[str] = []
        self.direct: list[str] = []  # the frames written through send_nowait
        self.closed_with: tuple[int, str] | None = None
        self.accepted = False
        self.blocked = False
        self.client_state = WebSocketState.CONNECTED
        self.scope: dict[str, Any] = {"path": "/test", "extensions": {}}
        if nowait:
            self.scope["extensions"][SEND_NOWAIT] = self._nowait

    def _nowait(self, text: str) -> bool:
        self.wire.append(text)
        self.direct.append(text)
        return True

    async def accept(self) -> None:
        self.accepted = True

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: dict[str, Any]) -> None:
        while self.blocked:
            await asyncio.sleep(0.01)
        self.wire.append(message["text"])

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = (code, reason)
        self.client_state = WebSocketState.DISCONNECTED
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": code})

    def text(self, text: str) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "text": text})

    def binary(self, data: bytes) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "bytes": data})

    def leave(self) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": 1001})


class Echo:
    """A handler that echoes each frame, closes on "bye" and "flood", and records what it heard."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, Any, float]] = []
        self.push: Push | None = None
        self.close: Any = None

    def opened(self, push: Push, close: Any, now: float) -> None:
        self.push, self.close = push, close
        self.heard.append(("opened", None, now))

    async def received(self, text: str, now: float) -> None:
        assert self.push is not None
        self.heard.append(("received", text, now))
        if text == "bye":
            self.push("ciao")
            self.close(CLOSE_NORMAL, "client_left")
        elif text == "flood":
            self.close(CLOSE_FLOOD, "flood")
        else:
            self.push(f"echo:{text}")

    def first_frame_missed(self, now: float) -> str:
        assert self.push is not None
        self.heard.append(("missed", None, now))
        self.push("send hello first")
        return "hello_timeout"

    def closed(self, now: float) -> None:
        self.heard.append(("closed", None, now))


def _host(ws: FakeSocket, handler: Handler, clock: ManualClock, **limits: Any) -> ConnectionHost:
    merged = {"first_frame_s": 5.0, "max_frames": 16, "max_bytes": 1 << 16, **limits}
    return ConnectionHost(ws, handler, clock, HostLimits(**merged))  # type: ignore[arg-type]


async def test_frames_reach_the_handler_with_now_and_replies_go_out_in_order() -> None:
    ws, handler, clock = FakeSocket(), Echo(), ManualClock(100.0)
    host = _host(ws, handler, clock)
    ws.text("a")
    ws.binary("é".encode())
    ws.binary(b"\xff")  # not UTF-8: replaced, not refused
    ws.text("bye")
    run = asyncio.create_task(host.run())
    await asyncio.wait_for(run, 2)
    assert ws.accepted
    assert [h[0] for h in handler.heard] == ["opened", "received", "received", "received", "received", "closed"]
    assert [h[1] for h in handler.heard[1:5]] == ["a", "é", "\ufffd", "bye"]
    assert all(h[2] == 100.0 for h in handler.heard)
    assert ws.wire == ["echo:a", "echo:é", "echo:\ufffd", "ciao"]
    assert ws.closed_with == (CLOSE_NORMAL, "client_left")


async def test_no_first_frame_in_time_gets_the_handlers_error_and_close_1008() -> None:
    ws, handler, clock = FakeSocket(), Echo(), ManualClock(7.0)
    host = _host(ws, handler, clock, first_frame_s=0.05)
    await asyncio.wait_for(host.run(), 2)
    assert [h[0] for h in handler.heard] == ["opened", "missed", "closed"]
    assert ws.wire == ["send hello first"]
    assert ws.closed_with == (CLOSE_POLICY, "hello_timeout")


async def test_the_client_leaving_ends_the_connection_and_the_handler_hears_it_once() -> None:
    ws, handler, clock = FakeSocket(), Echo(), ManualClock()
    host = _host(ws, handler, clock)
    ws.text("a")
    ws.leave()
    await asyncio.wait_for(host.run(), 2)
    assert [h[0] for h in handler.heard] == ["opened", "received", "closed"]
    assert ws.wire == ["echo:a"] and host.closed


async def test_a_close_from_the_handler_stops_reading_and_sends_its_code() -> None:
    ws, handler, clock = FakeSocket(), Echo(), ManualClock()
    host = _host(ws, handler, clock)
    ws.text("flood")
    ws.text("never read")
    await asyncio.wait_for(host.run(), 2)
    assert [h[1] for h in handler.heard if h[0] == "received"] == ["flood"]
    assert ws.closed_with == (CLOSE_FLOOD, "flood")


async def test_the_direct_write_is_used_only_while_the_outbox_is_idle() -> None:
    ws, handler, clock = FakeSocket(nowait=True), Echo(), ManualClock()
    host = _host(ws, handler, clock)
    ws.text("a")
    ws.text("bye")
    await asyncio.wait_for(host.run(), 2)
    assert ws.direct == ["echo:a", "ciao"] and ws.wire == ["echo:a", "ciao"]
    assert not host.push("late")  # closed: nothing more goes out


async def test_an_overflowing_outbox_closes_a_stuck_client_as_slow_consumer() -> None:
    ws, handler, clock = FakeSocket(), Echo(), ManualClock()
    host = _host(ws, handler, clock, max_frames=4)
    ws.blocked = True  # the writer hangs on its first frame: the rest queues
    run = asyncio.create_task(host.run())
    await asyncio.sleep(0.01)
    assert handler.push is not None
    assert handler.push("f0")
    await asyncio.sleep(0.01)  # the writer takes it and hangs
    pushed = [handler.push(f"f{n}") for n in range(1, 6)]
    assert pushed == [True] * 4 + [False]  # four queued, then over budget
    assert host.closed and host.outbox.close_code == CLOSE_SLOW
    assert host.outbox.queued_bytes == 0  # the backlog is dropped
    await asyncio.wait_for(run, 5)  # the stuck writer is cancelled, the socket closed with the reason
    assert ws.closed_with == (CLOSE_SLOW, "slow_consumer")
    assert ws.wire == [] and handler.heard[-1][0] == "closed"


async def test_a_frame_over_the_byte_budget_closes_as_slow_consumer() -> None:
    ws, handler, clock = FakeSocket(), Echo(), ManualClock()
    host = _host(ws, handler, clock, max_bytes=10)
    ws.blocked = True
    run = asyncio.create_task(host.run())
    await asyncio.sleep(0.01)
    assert handler.push is not None
    assert handler.push("first")
    await asyncio.sleep(0.01)  # the writer takes it and hangs
    assert handler.push("x" * 10)
    assert not handler.push("y")
    await asyncio.wait_for(run, 5)
    assert ws.closed_with == (CLOSE_SLOW, "slow_consumer")


async def test_close_reasons_are_cut_to_fit_a_close_frame() -> None:
    ws, handler, clock = FakeSocket(), Echo(), ManualClock()
    host = _host(ws, handler, clock)
    run = asyncio.create_task(host.run())
    await asyncio.sleep(0.01)
    handler.close(CLOSE_POLICY, "r" * 300)
    ws.leave()
    await asyncio.wait_for(run, 2)
    assert ws.closed_with == (CLOSE_POLICY, "r" * 120)
