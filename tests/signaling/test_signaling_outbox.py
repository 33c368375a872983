"""The signaling outbox: frames straight to an idle socket, queued behind a busy one, in order."""

from __future__ import annotations

import asyncio

from hubbub.schema import signaling as sig
from hubbub.signaling.session import OUTBOX_LIMIT, QueueOutbox


class Socket:
    def __init__(self) -> None:
        self.wire: list[str] = []
        self.writable = True

    def nowait(self, text: str) -> bool:
        if not self.writable:
            return False
        self.wire.append(text)
        return True


async def drain(outbox: QueueOutbox, sock: Socket) -> None:
    """What the session's writer task does, with an awaited send that lands on the same wire."""
    while not outbox.queue.empty():
        frame = await outbox.queue.get()
        assert frame is not None
        outbox.in_flight = True
        await asyncio.sleep(0)  # the send yields: others may push meanwhile
        sock.wire.append(frame)
        outbox.in_flight = False


async def test_frames_bypass_the_queue_only_while_nothing_waits() -> None:
    sock = Socket()
    outbox = QueueOutbox(sock.nowait)
    outbox.put("a")
    sock.writable = False  # over the high-water mark
    outbox.put("b")
    outbox.send(sig.Pong(t=1.0, server_t=2.0))
    sock.writable = True
    outbox.put("c")  # the socket takes frames again, but two are waiting: this one queues too
    assert sock.wire == ["a"] and outbox.queue.qsize() == 3
    writer = asyncio.create_task(drain(outbox, sock))
    await asyncio.sleep(0)
    outbox.put("d")  # the writer holds a frame: queue behind it
    await writer
    outbox.put("e")
    assert sock.wire[:2] == ["a", "b"] and sig.decode_server(sock.wire[2]) == sig.Pong(t=1.0, server_t=2.0)
    assert sock.wire[3:] == ["c", "d", "e"]


async def test_an_overflow_closes_as_a_slow_consumer() -> None:
    """(The frames that follow ``joined`` are the join outcome's order: tests/rooms/test_join.py.)"""
    sock = Socket()
    outbox = QueueOutbox(sock.nowait)
    sock.writable = False
    for n in range(OUTBOX_LIMIT):
        assert outbox.put(f"f{n}")
    assert not outbox.put("one too many")
    assert outbox.closed and outbox.close_reason == "slow_consumer"
