"""Deep and wide JSON on both sockets: every frame gets one answer and the session stays.

A frame the server cannot take (nested past the limit, over the size limit) is answered with an
``error`` frame carrying its request id; a frame within the limits is served. Either way the next
ping on the same socket is answered. Before ``join`` or ``rtm_login`` a bad first frame is answered
with ``invalid_message`` before the socket closes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubbub.schema import messaging as rtm
from hubbub.schema import signaling as sig

pytestmark = pytest.mark.asyncio(loop_scope="module")

OPEN = {"[": "]", "{": "}"}


LEAVES = {"1": 0, '"]]]}}}"': 0, '"\\"[[[["': 0, "null": 0, "[]": 1, "{}": 1, '{"a":[1,2]}': 2, '"x"': 0}
"""Leaf documents and their nesting levels (brackets inside strings do not count)."""


def nested(depth: int, kinds: str, leaf: str = "1") -> tuple[str, int]:
    """``depth`` levels of arrays and objects (``kinds`` cycles through ``[`` and ``{``) around ``leaf``,
    and the levels of the whole."""
    opens, closes = [], []
    for i in range(depth):
        kind = kinds[i % len(kinds)]
        opens.append('{"k":' if kind == "{" else "[")
        closes.append(OPEN[kind])
    return "".join(opens) + leaf + "".join(reversed(closes)), depth + LEAVES[leaf]


deep = st.builds(
    nested,
    st.one_of(st.integers(1, 80), st.integers(80, 3_000), st.sampled_from([63, 64, 65, 500, 1_000])),
    st.sampled_from(["[", "{", "[{", "{[", "[[{"]),
    st.sampled_from(["1", '"]]]}}}"', '"\\"[[[["', "null", "[]", "{}"]),
)
wide = st.builds(
    lambda n, item: ("[" + ",".join([item] * n) + "]", 1 + (LEAVES[item] if n else 0)),
    st.integers(0, 24_000),
    st.sampled_from(["1", "[]", '{"a":[1,2]}', '"x"']),
)
documents = st.one_of(deep, wide)
"""(document, its nesting levels)"""


class Socket:
    """One websocket kept open across examples, so each example also checks that the session stayed."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.sent = 0

    def next_id(self) -> str:
        """A request id no earlier example used, so a late answer is never taken for this one's."""
        self.sent += 1
        return f"r{self.sent}"

    async def request(self, frame: str, rid: str) -> dict[str, Any]:
        """Send ``frame`` and return the answer carrying ``re == rid`` (events in between are skipped)."""
        await self.ws.send(frame)

        async def scan() -> dict[str, Any]:
            while True:
                answer = dict(json.loads(await self.ws.recv()))
                if answer.get("re") == rid:
                    return answer

        return await asyncio.wait_for(scan(), 10)

    async def still_serves(self) -> None:
        rid = self.next_id()
        pong = await self.request(json.dumps({"type": "ping", "id": rid, "t": 7}), rid)
        assert pong["type"] == "pong" and pong["t"] == 7, pong


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sockets(live_module: Any) -> AsyncIterator[dict[str, Socket]]:
    ws_url = live_module.url.replace("http", "ws", 1)
    rtc = await websockets.connect(ws_url + "/rtc/v1", max_size=2**22)
    await rtc.send(json.dumps({"type": "join", "id": "j", "token": live_module.token("mallory")}))
    assert json.loads(await rtc.recv())["type"] == "joined"
    rtm_ws = await websockets.connect(ws_url + "/rtm/v1", max_size=2**22)
    token = live_module.token("trudy", channel="*")
    await rtm_ws.send(json.dumps({"type": "rtm_login", "id": "l", "token": token}))
    assert json.loads(await rtm_ws.recv())["type"] == "rtm_logged_in"
    for ws in (rtc, rtm_ws):
        await ws.send(json.dumps({"type": "rtm_subscribe", "id": "s", "channel": "room1"}))
    found = {"rtc": Socket(rtc), "rtm": Socket(rtm_ws)}
    for s in found.values():
        await s.still_serves()
    yield found
    await rtc.close()
    await rtm_ws.close()


def expect(answer: dict[str, Any], levels: int, frame: str, max_bytes: int, served: set[str]) -> None:
    """The answer the limits call for: refused past a limit, served (or refused for another reason) within."""
    if len(frame) > max_bytes:
        assert answer["type"] == "error" and answer["code"] == "frame_too_large", answer
    elif levels + 1 > sig.MAX_FRAME_DEPTH:  # the frame's own object is one level
        assert answer["type"] == "error" and answer["code"] == "invalid_message", answer
        assert "levels deep" in answer["message"]
    else:
        assert answer["type"] in served or answer["type"] == "error", answer
        assert answer.get("code") != "server_error", answer


EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@EXAMPLES
@given(doc=documents)
async def test_signaling_frames_of_any_depth_and_width(sockets: dict[str, Socket], doc: tuple[str, int]) -> None:
    (text, levels), s = doc, sockets["rtc"]
    rid = s.next_id()
    frame = '{"type":"ping","id":"' + rid + '","t":1,"extra":' + text + "}"
    answer = await s.request(frame, rid)
    expect(answer, levels, frame, sig.MAX_FRAME_BYTES, {"pong"})
    await s.still_serves()


@EXAMPLES
@given(doc=documents, path=st.sampled_from(["rtm", "rtc"]))
async def test_messaging_frames_of_any_depth_and_width(
    sockets: dict[str, Socket], doc: tuple[str, int], path: str
) -> None:
    """``rtm_send`` with the document as its ``data``, on /rtm/v1 and in a call's signaling socket."""
    (text, levels), s = doc, sockets[path]
    rid = s.next_id()
    frame = '{"type":"rtm_send","id":"' + rid + '","channel":"room1","data":' + text + "}"
    answer = await s.request(frame, rid)
    expect(answer, levels, frame, rtm.MAX_FRAME_BYTES, {"rtm_ack"})
    if answer["type"] == "error":
        assert answer["code"] in ("frame_too_large", "invalid_message", "payload_too_large", "rate_limited"), answer
    await s.still_serves()


@pytest.mark.parametrize("path", ["/rtc/v1", "/rtm/v1"])
@pytest.mark.parametrize("depth", [1_000, 100_000])
async def test_a_deep_first_frame_is_answered_before_the_close(live_module: Any, path: str, depth: int) -> None:
    first = "join" if path == "/rtc/v1" else "rtm_login"
    frame = '{"type":"' + first + '","id":"first","token":"t","x":' + nested(depth, "[")[0] + "}"
    async with websockets.connect(live_module.url.replace("http", "ws", 1) + path, max_size=2**22) as ws:
        await ws.send(frame)
        answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
        expected = "frame_too_large" if len(frame) > rtm.MAX_FRAME_BYTES and path == "/rtm/v1" else "invalid_message"
        if len(frame) > sig.MAX_FRAME_BYTES:
            expected = "frame_too_large"
        assert answer["type"] == "error" and answer["code"] == expected and answer["re"] in ("first", None), answer
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
