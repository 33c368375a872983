"""A participant without publish privileges who offers media anyway is refused: an ``error`` frame
with ``permission_denied``, every m-line rejected in the answer (port 0), and not one media packet
received by the server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from hubbub.proto import sdp
from hubbub.sdk import ToneTrack, connect
from hubbub.sdk.loopback import allow_loopback_candidates


@pytest.fixture(autouse=True)
def _loopback() -> Iterator[None]:
    """The raw aiortc peers here reach the server on 127.0.0.1."""
    with allow_loopback_candidates():
        yield


def _ws_url(live: Any) -> str:
    url: str = live.url
    return url.replace("http", "ws", 1) + "/rtc/v1"


async def _replies(ws: Any, re: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The next ``count`` frames that answer request ``re`` (other events are skipped)."""
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(found) < count:
            frame = json.loads(await ws.recv())
            if frame.get("re") == re:
                found.append(frame)
    return found


async def _offer_as(live: Any, token: str, pc: RTCPeerConnection) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    ws = await websockets.connect(_ws_url(live), max_size=2**22)
    await ws.send(json.dumps({"type": "join", "id": "j", "token": token}))
    (joined,) = await _replies(ws, "j", 1)
    assert joined["type"] == "joined" and not joined["participant"].get("can_publish")
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    await ws.send(json.dumps({"type": "offer", "id": "o", "sdp": pc.localDescription.sdp}))
    answer, error = await _replies(ws, "o", 2)
    return ws, answer, error


async def test_audience_offer_is_refused_and_no_media_arrives(live: Any) -> None:
    host = await connect(live.url, live.token("host"))  # would subscribe to anything routed
    pc = RTCPeerConnection()
    ws = None
    try:
        ws, answer, error = await _offer_as(live, live.token("viewer", role="audience"), pc)
        assert answer["type"] == "answer"
        assert error["type"] == "error" and error["code"] == "permission_denied", error
        assert "publish_audio" in error["message"] and "publish_video" in error["message"]
        desc = sdp.parse(answer["sdp"])
        assert [(m.kind, m.port) for m in desc.media] == [("audio", 0), ("video", 0)]
        assert desc.bundle_group() is None or not desc.bundle_group().mids  # type: ignore[union-attr]
        # A standard client settles its offer with the answer and sends nothing.
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        assert pc.signalingState == "stable"
        assert all(t.currentDirection in (None, "inactive") for t in pc.getTransceivers())
        await asyncio.sleep(2.0)  # long enough for a connection and a few hundred packets
        room = next(iter(live.platform.rooms.rooms.values()))
        viewer = next(p for p in room.participants.values() if p.identity == "viewer")
        assert viewer.publications == {}
        media = live.platform.rooms.media_of(room)
        assert media.participant(viewer).publisher is None  # no transport was created for it
        router = media.router
        assert sum(router.drops.values()) == 0  # not even dropped: nothing came in
        assert live.platform.transport.stats["rtp_in"] == 0
    finally:
        await pc.close()
        if ws is not None:
            await ws.close()
        await host.disconnect()


async def test_audio_only_token_gets_audio_and_a_refused_video_line(live: Any) -> None:
    """Per-privilege refusal: the audio m-line is answered and carries media, the video one is rejected."""
    token = live.token("speaker", privileges={"join_channel": 3600, "subscribe": 3600, "publish_audio": 3600})
    listener = await connect(live.url, live.token("listener"))
    pc = RTCPeerConnection()
    ws = None
    try:
        ws = await websockets.connect(_ws_url(live), max_size=2**22)
        await ws.send(json.dumps({"type": "join", "id": "j", "token": token}))
        (joined,) = await _replies(ws, "j", 1)
        assert joined["type"] == "joined"
        pc.addTransceiver(ToneTrack(440), direction="sendonly")
        pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        await ws.send(json.dumps({"type": "offer", "id": "o", "sdp": pc.localDescription.sdp}))
        answer, error = await _replies(ws, "o", 2)
        assert error["type"] == "error" and error["code"] == "permission_denied", error
        assert "publish_video" in error["message"] and "publish_audio" not in error["message"]
        desc = sdp.parse(answer["sdp"])
        assert [(m.kind, m.port != 0) for m in desc.media] == [("audio", True), ("video", False)]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        audio = await listener.wait_for_track("speaker", kind="audio", timeout=15)
        await asyncio.wait_for(audio.recv(), 10)
        room = next(iter(live.platform.rooms.rooms.values()))
        speaker = next(p for p in room.participants.values() if p.identity == "speaker")
        assert [pub.kind.value for pub in speaker.publications.values()] == ["audio"]
        router = live.platform.rooms.media_of(room).router
        assert router.drops["unknown_ssrc"] == 0  # nothing arrived for the refused video line
    finally:
        await pc.close()
        if ws is not None:
            await ws.close()
        await listener.disconnect()
