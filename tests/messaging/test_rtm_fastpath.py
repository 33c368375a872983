"""The non-blocking send path of fan-out: frames on the wire, their order, and slow consumers on it."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import websockets
from hypothesis import given
from hypothesis import strategies as st
from starlette.websockets import WebSocketState
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from hubbub.messaging.config import MessagingSettings
from hubbub.messaging.handler import RtmHandler
from hubbub.messaging.types import NewMessage
from hubbub.schema import messaging as rtm
from hubbub.sdk.messaging import connect_rtm, rtm_url
from hubbub.server.connection import ConnectionHost, HostLimits
from hubbub.server.websocket import SEND_NOWAIT, text_frame


def _parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        assert reader.at_eof(), "bytes left after the frame"
        return frame
    raise AssertionError("incomplete frame")


@given(st.one_of(st.text(max_size=300), st.integers(0, 70_000).map(lambda n: "é" * (n // 2) + "x" * (n % 2))))
def test_text_frame_is_one_final_unmasked_text_frame(text: str) -> None:
    frame = _parse(text_frame(text))
    assert frame.opcode is Opcode.TEXT and frame.fin and bytes(frame.data).decode() == text


def test_text_frame_length_boundaries() -> None:
    for n in (0, 125, 126, 127, 65_535, 65_536, 1 << 20):
        text = "a" * n
        assert _parse(text_frame(text)).data == text.encode()
    same = "b" * 200
    assert text_frame(same) is text_frame(same)  # fan-out encodes a message once


class _FakeSocket:
    """The parts of a Starlette WebSocket that :class:`ConnectionHost` uses, with a switchable send_nowait."""

    def __init__(self) -> None:
        self.wire: list[str] = []
        self.writable = True
        self.client_state = WebSocketState.DISCONNECTED  # the writer then ends without a close frame
        self.scope = {"extensions": {SEND_NOWAIT: self._nowait}}

    def _nowait(self, text: str) -> bool:
        if not self.writable:
            return False
        self.wire.append(text)
        return True

    async def send(self, message: dict[str, Any]) -> None:
        self.wire.append(message["text"])


async def test_frames_keep_their_order_across_a_paused_socket() -> None:
    """Frames queued while the transport was paused go out before any frame written later."""
    ws = _FakeSocket()
    s = MessagingSettings()
    limits = HostLimits(first_frame_s=s.login_timeout_s, max_frames=s.outbox_frames, max_bytes=s.outbox_bytes)
    handler = RtmHandler(service=None, admission=None)  # type: ignore[arg-type]
    sock = ConnectionHost(ws, handler, time.time, limits)  # type: ignore[arg-type]
    for n in range(3):
        assert sock.push(f"f{n}")
    ws.writable = False  # over the high-water mark: the next frames queue
    for n in range(3, 6):
        assert sock.push(f"f{n}")
    ws.writable = True  # drained, but the queue is not empty yet: this one must wait its turn
    assert sock.push("f6")
    assert ws.wire == ["f0", "f1", "f2"]
    writer = asyncio.create_task(sock._write())
    for _ in range(5):
        await asyncio.sleep(0)
    assert sock.outbox.idle
    assert sock.push("f7")
    assert ws.wire == [f"f{n}" for n in range(8)]
    sock.outbox.close(1000, "bye")
    await asyncio.wait_for(writer, 1)


async def test_a_real_socket_that_stops_reading_is_closed_as_slow_consumer(live_rtm: Any) -> None:
    """A member whose TCP window fills (it never reads) is closed with 4008 while the direct path is
    in use; the reading member gets every message, in order."""
    live = await live_rtm(outbox_frames=8)
    svc = live.service
    sock = socket.socket()  # a small receive window, set before connecting so the kernel absorbs little
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(live.url.rsplit(":", 1)[1])))
    sock.setblocking(False)
    sleeper = await websockets.connect(rtm_url(live.url), max_size=1 << 22, max_queue=2, sock=sock)
    await sleeper.send(json.dumps({"type": "rtm_login", "id": "l", "token": live.token("sleeper")}))
    assert json.loads(await sleeper.recv())["type"] == "rtm_logged_in"
    await sleeper.send(json.dumps({"type": "rtm_subscribe", "id": "s", "channel": "bulk", "presence": False}))
    while json.loads(await sleeper.recv())["type"] != "rtm_subscribed":
        pass
    reader = await connect_rtm(live.url, live.token("reader"))
    await reader.subscribe("bulk", presence=False)
    body = "z" * 30_000
    sent = [await svc.send(None, "bulk", NewMessage(live.app_id, "server", text=f"{n}:{body}")) for n in range(300)]
    seqs: list[int] = []
    while len(seqs) < len(sent):
        event = await reader.next_event(timeout=10)
        if isinstance(event, rtm.MessageEvent):
            seqs.append(event.message.seq)
    assert seqs == [m.seq for m in sent]
    members = svc.hubs[(live.app_id, "bulk")].members.values()
    assert [m.conn.user_id for m in members] == ["reader"]
    try:  # the sleeper reads at last: what was buffered, then the close with its reason
        async for _ in sleeper:
            pass
    except websockets.ConnectionClosed:
        pass
    assert sleeper.close_code == 4008 and sleeper.close_reason == "slow_consumer"
    await reader.close()
