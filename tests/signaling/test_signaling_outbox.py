"""The signaling socket's outbox (the connection host under /rtc/v1's limits): frames straight to
an idle socket, queued behind a busy one, in order; an overflow closes the client as slow."""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub.schema import signaling as sig
from hubbub.schema.close import CLOSE_SLOW
from hubbub.server.connection import ConnectionHost
from hubbub.server.rtc import LIMITS
from hubbub.server.websocket import SEND_NOWAIT
from hubbub.signaling.handler import JOIN_TIMEOUT, OUTBOX_LIMIT
from hubbub.util.clock import ManualClock


class Socket:
    """A WebSocket whose direct write works while ``writable`` (under the high-water mark)."""

    def __init__(self) -> None:
        self.wire: list[str] = []
        self.writable = True
        self.scope: dict[str, Any] = {"path": "/rtc/v1", "extensions": {SEND_NOWAIT: self.nowait}}

    def nowait(self, text: str) -> bool:
        if not self.writable:
            return False
        self.wire.append(text)
        return True


def _host(sock: Socket) -> ConnectionHost:
    handler: Any = None  # the outbox alone is under test
    return ConnectionHost(sock, handler, ManualClock(), LIMITS)  # type: ignore[arg-type]


async def drain(host: ConnectionHost, sock: Socket) -> None:
    """What the host's writer task does, with an awaited send that lands on the same wire."""
    while host.outbox.queued_bytes:
        frame = await host.outbox.next()
        assert frame is not None
        await asyncio.sleep(0)  # the send yields: others may push meanwhile
        sock.wire.append(frame)
    host.outbox.in_flight = False


async def test_frames_bypass_the_queue_only_while_nothing_waits() -> None:
    sock = Socket()
    host = _host(sock)
    host.push("a")
    sock.writable = False  # over the high-water mark
    pong = sig.encode(sig.Pong(t=1.0, server_t=2.0)).decode()
    host.push("b")
    host.push(pong)
    sock.writable = True
    host.push("c")  # the socket takes frames again, but two are waiting: this one queues too
    assert sock.wire == ["a"] and host.outbox.queued_bytes == len("b") + len(pong) + len("c")
    writer = asyncio.create_task(drain(host, sock))
    await asyncio.sleep(0)
    host.push("d")  # the writer holds a frame: queue behind it
    await writer
    host.push("e")
    assert sock.wire[:2] == ["a", "b"] and sig.decode_server(sock.wire[2]) == sig.Pong(t=1.0, server_t=2.0)
    assert sock.wire[3:] == ["c", "d", "e"]


async def test_an_overflow_closes_as_a_slow_consumer() -> None:
    """(The frames that follow ``joined`` are the join outcome's order: tests/rooms.)"""
    sock = Socket()
    host = _host(sock)
    sock.writable = False
    for n in range(OUTBOX_LIMIT):
        assert host.push(f"f{n}")
    assert not host.push("one too many")
    assert host.closed and host.outbox.close_code == CLOSE_SLOW and host.outbox.close_reason == "slow_consumer"


def test_signaling_is_hosted_with_the_join_deadline_and_the_frame_budget() -> None:
    assert LIMITS.max_frames == OUTBOX_LIMIT == 2048 and LIMITS.first_frame_s == JOIN_TIMEOUT == 10.0
