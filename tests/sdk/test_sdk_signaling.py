"""Unit tests of the SDK's protocol handling against a scripted in-test signaling server.

This is not the real Hubbub server: a small ``websockets`` server replays protocol v1 frames that
each test scripts, so the client's framing, ``id``/``re`` correlation, error mapping, ping/RTT,
resume-on-reconnect and room state can be checked exactly. Where media is involved the script
answers with a plain aiortc peer connection standing in for the SFU. Integration tests against
the real server live beside these and use the same public API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from av import VideoFrame
from websockets.asyncio.server import ServerConnection, serve

from hubbub.schema import signaling as proto
from hubbub.sdk import (
    Backoff,
    ConnectionLostError,
    Disconnected,
    FrameCounterTrack,
    HubbubError,
    JoinError,
    Kicked,
    ParticipantJoined,
    PermissionDenied,
    Reconnected,
    Reconnecting,
    RequestTimeout,
    Room,
    RoomEvent,
    ToneTrack,
    TrackPublished,
    TrackSubscribed,
    connect,
    read_frame_counter,
)
from hubbub.sdk.signaling import SignalingClient, signaling_url

Frame = dict[str, Any]


class Peer:
    """The server side of one WebSocket, speaking JSON dicts."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws

    async def recv(self, timeout: float = 5.0) -> Frame:
        frame: Frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        return frame

    async def recv_type(self, kind: str, timeout: float = 5.0) -> Frame:
        """Next frame of type ``kind``, skipping pings (answered) and anything else."""
        while True:
            frame = await self.recv(timeout)
            if frame["type"] == "ping":
                await self.send({"type": "pong", "t": frame["t"], "server_t": 1.0})
            if frame["type"] == kind:
                return frame

    async def send(self, frame: Frame) -> None:
        await self.ws.send(json.dumps(frame))


Script = Callable[[Peer], Awaitable[None]]


@contextlib.asynccontextmanager
async def scripted(*scripts: Script) -> AsyncIterator[str]:
    """Serve ``/rtc/v1``: the n-th connection runs the n-th script (the last one repeats)."""
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        script = scripts[min(connections, len(scripts) - 1)]
        connections += 1
        with contextlib.suppress(websockets.ConnectionClosed):
            await script(Peer(ws))

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}"


def joined(sid: str = "PA", *, re_: str | None = None, others: list[Frame] | None = None, **extra: Any) -> Frame:
    frame: Frame = {
        "type": "joined",
        "room": {"sid": "RM1", "channel": "room1", "created_at": 1.0},
        "participant": {"sid": sid, "identity": "alice", "role": "host", "can_publish": True},
        "participants": others or [],
        "resume_key": "key-1",
        **extra,
    }
    if re_ is not None:
        frame["re"] = re_
    return frame


BOB: Frame = {
    "sid": "PB",
    "identity": "bob",
    "role": "host",
    "tracks": [{"sid": "TB1", "participant_sid": "PB", "kind": "audio", "source": "microphone"}],
}


async def accept_join(peer: Peer, **extra: Any) -> Frame:
    join = await peer.recv_type("join")
    await peer.send(joined(re_=join.get("id"), **extra))
    return join


async def hold(peer: Peer) -> None:
    """Answer pings until the client goes away."""
    while True:
        await peer.recv_type("never")


async def events_until(room: Room, predicate: Callable[[RoomEvent], bool], timeout: float = 10) -> list[RoomEvent]:
    seen: list[RoomEvent] = []

    async def collect() -> None:
        async for event in room.events():
            seen.append(event)
            if predicate(event):
                return

    await asyncio.wait_for(collect(), timeout)
    return seen


# --- URLs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/rtc/v1"),
        ("https://rtc.example.com/", "wss://rtc.example.com/rtc/v1"),
        ("https://example.com/hubbub", "wss://example.com/hubbub/rtc/v1"),
        ("ws://h:1/rtc/v1", "ws://h:1/rtc/v1"),
        ("wss://h/rtc/v1?x=1", "wss://h/rtc/v1?x=1"),
        ("localhost:8080", "ws://localhost:8080/rtc/v1"),
    ],
)
def test_signaling_url(url: str, expected: str) -> None:
    assert signaling_url(url) == expected


def test_signaling_url_rejects_other_schemes() -> None:
    with pytest.raises(ValueError):
        signaling_url("ftp://h/")


def test_backoff_grows_to_its_cap() -> None:
    delays = Backoff(initial=0.1, factor=2, maximum=0.5, jitter=0).delays()
    assert [next(delays) for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]


# --- the signaling client ----------------------------------------------------------------------


async def test_join_sends_a_join_frame_and_returns_joined() -> None:
    seen: list[Frame] = []

    async def script(peer: Peer) -> None:
        seen.append(await accept_join(peer, ping_interval=30))
        await hold(peer)

    async with scripted(script) as url:
        client = SignalingClient(signaling_url(url))
        result = await client.join(proto.Join(token="tok", name="Alice"))
        assert isinstance(result, proto.Joined)
        assert result.participant.sid == "PA" and result.resume_key == "key-1"
        assert client.connected
        await client.close()
        assert not client.connected
    assert seen[0]["type"] == "join" and seen[0]["token"] == "tok" and seen[0]["name"] == "Alice"
    assert isinstance(seen[0]["id"], str) and len(seen[0]["id"]) <= 64


@pytest.mark.parametrize("echo_id", [True, False])
async def test_refused_join_raises_join_error(echo_id: bool) -> None:
    async def script(peer: Peer) -> None:
        join = await peer.recv_type("join")
        frame = {"type": "error", "code": "token_expired", "message": "the token expired"}
        if echo_id:
            frame["re"] = join["id"]
        await peer.send(frame)
        await peer.ws.close()

    async with scripted(script) as url:
        with pytest.raises(JoinError) as info:
            await SignalingClient(signaling_url(url)).join(proto.Join(token="old"))
    assert info.value.code == "token_expired" and info.value.message == "the token expired"
    assert info.value.is_token_error


async def test_join_to_nowhere_raises_connection_lost() -> None:
    client = SignalingClient("ws://127.0.0.1:9/rtc/v1", open_timeout=2)
    with pytest.raises(ConnectionLostError):
        await client.join(proto.Join(token="t"))


async def test_replies_are_matched_by_id_even_out_of_order() -> None:
    async def script(peer: Peer) -> None:
        await accept_join(peer)
        first = await peer.recv_type("publish")
        second = await peer.recv_type("publish")
        assert first["id"] != second["id"]
        for request, sid in ((second, "T2"), (first, "T1")):  # answer in reverse order
            await peer.send(
                {
                    "type": "track_published",
                    "re": request["id"],
                    "cid": request["cid"],
                    "track": {"sid": sid, "participant_sid": "PA", "kind": request["kind"]},
                }
            )
        await hold(peer)

    async with scripted(script) as url:
        client = SignalingClient(signaling_url(url))
        await client.join(proto.Join(token="t"))
        audio, video = await asyncio.gather(
            client.request(proto.Publish(cid="a", kind=proto.TrackKind.audio)),
            client.request(proto.Publish(cid="v", kind=proto.TrackKind.video)),
        )
        await client.close()
    assert isinstance(audio, proto.TrackPublished) and audio.track.sid == "T1" and audio.cid == "a"
    assert isinstance(video, proto.TrackPublished) and video.track.sid == "T2" and video.cid == "v"


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        ("permission_denied", PermissionDenied),
        ("token_privilege_expired", PermissionDenied),
        ("track_not_found", HubbubError),
        ("rate_limited", HubbubError),
    ],
)
async def test_error_frames_raise_typed_errors(code: str, error_type: type[HubbubError]) -> None:
    async def script(peer: Peer) -> None:
        await accept_join(peer)
        request = await peer.recv_type("mute")
        await peer.send({"type": "error", "re": request["id"], "code": code, "message": "no"})
        await hold(peer)

    async with scripted(script) as url:
        client = SignalingClient(signaling_url(url))
        await client.join(proto.Join(token="t"))
        with pytest.raises(HubbubError) as info:
            await client.request(proto.Mute(track_sid="T1", muted=True))
        await client.close()
    assert type(info.value) is error_type
    assert info.value.code == code and info.value.message == "no"


async def test_unanswered_request_times_out() -> None:
    async def script(peer: Peer) -> None:
        await accept_join(peer)
        await hold(peer)

    async with scripted(script) as url:
        client = SignalingClient(signaling_url(url), request_timeout=0.2)
        await client.join(proto.Join(token="t"))
        with pytest.raises(RequestTimeout):
            await client.request(proto.RenewToken(token="new"))
        with pytest.raises(TimeoutError):  # RequestTimeout is a TimeoutError too
            await client.request(proto.RenewToken(token="new"), timeout=0.05)
        await client.close()


async def test_reply_matcher_accepts_a_confirming_event_without_re() -> None:
    async def script(peer: Peer) -> None:
        await accept_join(peer)
        await peer.recv_type("mute")
        await peer.send({"type": "track_muted", "participant_sid": "PA", "track_sid": "T9", "muted": True})
        await hold(peer)

    async with scripted(script) as url:
        client = SignalingClient(signaling_url(url))
        await client.join(proto.Join(token="t"))
        reply = await client.request(
            proto.Mute(track_sid="T9", muted=True),
            reply=lambda m: isinstance(m, proto.TrackMuted) and m.track_sid == "T9",
        )
        await client.close()
    assert isinstance(reply, proto.TrackMuted)


async def test_ping_pong_measures_rtt() -> None:
    pings: list[Frame] = []

    async def script(peer: Peer) -> None:
        await accept_join(peer, ping_interval=0.1)
        while True:
            ping = await peer.recv()
            assert ping["type"] == "ping"
            pings.append(ping)
            await asyncio.sleep(0.03)
            await peer.send({"type": "pong", "t": ping["t"], "server_t": 123.0})

    async with scripted(script) as url:
        client = SignalingClient(signaling_url(url))
        await client.join(proto.Join(token="t"))
        assert client.rtt_ms is None
        for _ in range(100):
            if client.rtt_ms is not None and len(pings) >= 3:
                break
            await asyncio.sleep(0.02)
        rtt = client.rtt_ms
        await client.close()
    assert rtt is not None and 25 <= rtt < 1000
    assert all(isinstance(p["t"], float) for p in pings)
    assert pings[-1].get("rtt", 0) > 0  # the last measured RTT is reported to the server


async def test_silent_server_is_declared_lost() -> None:
    lost: list[str] = []

    async def script(peer: Peer) -> None:
        await accept_join(peer, ping_interval=0.05)
        while True:
            await peer.recv(timeout=10)  # reads pings, never answers them

    async with scripted(script) as url:
        client = SignalingClient(signaling_url(url), on_lost=lost.append)
        await client.join(proto.Join(token="t"))
        for _ in range(100):
            if lost:
                break
            await asyncio.sleep(0.02)
        await client.close()
    assert len(lost) == 1


async def test_dropped_socket_fails_pending_requests_and_reports_once() -> None:
    lost: list[str] = []

    async def script(peer: Peer) -> None:
        await accept_join(peer)
        await peer.recv_type("renew_token")
        await peer.ws.close()

    async with scripted(script) as url:
        client = SignalingClient(signaling_url(url), on_lost=lost.append)
        await client.join(proto.Join(token="t"))
        with pytest.raises(ConnectionLostError):
            await client.request(proto.RenewToken(token="x"))
        await asyncio.sleep(0.05)
        with pytest.raises(ConnectionLostError):
            await client.send(proto.Leave())
    assert len(lost) == 1


async def test_unparsable_frames_are_skipped_and_events_delivered_in_order() -> None:
    got: list[proto.ServerMessage] = []

    async def script(peer: Peer) -> None:
        await accept_join(peer)
        await peer.ws.send("not json")
        await peer.send({"type": "no_such_type"})
        await peer.send({"type": "participant_left", "participant_sid": 5})  # wrong field type
        await peer.send({"type": "participant_joined", "participant": BOB, "future_field": 1})
        await peer.send({"type": "active_speakers", "speakers": [{"participant_sid": "PB", "level": 0.5}]})
        await hold(peer)

    async with scripted(script) as url:
        client = SignalingClient(signaling_url(url), on_message=got.append)
        await client.join(proto.Join(token="t"))
        for _ in range(100):
            if len(got) >= 3:
                break
            await asyncio.sleep(0.02)
        await client.close()
    # replies (here ``joined``) reach on_message too, so state is kept in one place
    assert [type(m) for m in got] == [proto.Joined, proto.ParticipantJoined, proto.ActiveSpeakers]


# --- the room ----------------------------------------------------------------------------------


async def test_connect_builds_room_state_and_yields_events() -> None:
    async def script(peer: Peer) -> None:
        await accept_join(peer, others=[BOB])
        await peer.send(
            {"type": "participant_joined", "participant": {"sid": "PC", "identity": "carol", "role": "host"}}
        )
        await peer.send(
            {"type": "track_published", "cid": "x", "track": {"sid": "TC1", "participant_sid": "PC", "kind": "video"}}
        )
        await hold(peer)

    async with scripted(script) as url, await connect(url, "tok") as room:
        assert room.local_participant.sid == "PA" and room.local_participant.identity == "alice"
        assert room.channel == "room1" and room.reconnect_window == 10.0
        assert set(room.participants) == {"PB"}
        assert room.participants["PB"].tracks["TB1"].source == "microphone"
        seen = await events_until(room, lambda e: isinstance(e, TrackPublished))
        assert isinstance(seen[0], ParticipantJoined) and seen[0].participant.identity == "carol"
        assert isinstance(seen[1], TrackPublished) and seen[1].publication.sid == "TC1"
        assert room.participants["PC"].tracks["TC1"].kind == "video"


async def test_connect_refused_raises_join_error() -> None:
    async def script(peer: Peer) -> None:
        join = await peer.recv_type("join")
        await peer.send({"type": "error", "re": join["id"], "code": "room_full", "message": "full"})

    async with scripted(script) as url:
        with pytest.raises(JoinError) as info:
            await connect(url, "tok", join_timeout=3)
    assert info.value.code == "room_full" and not info.value.is_token_error


async def test_kicked_ends_the_room() -> None:
    async def script(peer: Peer) -> None:
        await accept_join(peer)
        await asyncio.sleep(0.05)
        await peer.send({"type": "kicked", "reason": "kicked", "message": "bye"})
        await peer.ws.close()

    async with scripted(script) as url:
        room = await connect(url, "tok")
        with pytest.raises(Kicked):
            await room.wait_for_track(timeout=5)
        seen = await events_until(room, lambda e: isinstance(e, Disconnected))
        last = seen[-1]
        assert isinstance(last, Disconnected) and last.reason == "kicked"
        assert isinstance(last.error, Kicked) and last.error.message == "bye"
        assert not any(isinstance(e, Reconnecting) for e in seen)
        with pytest.raises(Kicked):
            await room.publish(ToneTrack(440))
        await room.disconnect()


async def test_renew_token_is_used_for_the_resume_and_the_session_resumes() -> None:
    joins: list[Frame] = []

    async def first(peer: Peer) -> None:
        joins.append(await accept_join(peer, reconnect_window=5))
        renew = await peer.recv_type("renew_token")
        await peer.send({"type": "token_renewed", "re": renew["id"], "expires_at": 99.0, "privileges": {}})
        await asyncio.sleep(0.05)
        await peer.ws.close()  # the network drops

    async def second(peer: Peer) -> None:
        join = await peer.recv_type("join")
        joins.append(join)
        await peer.send(joined(re_=join["id"], resumed=True, reconnect_window=5, others=[BOB]))
        await hold(peer)

    async with scripted(first, second) as url:
        room = await connect(url, "tok-1", backoff=Backoff(initial=0.05))
        renewed = await room.renew_token("tok-2")
        assert renewed.expires_at == 99.0
        seen = await events_until(room, lambda e: isinstance(e, Reconnected))
        await room.disconnect()
    assert isinstance(seen[0], Reconnecting)
    reconnected = seen[-1]
    assert isinstance(reconnected, Reconnected) and reconnected.resumed
    assert any(isinstance(e, ParticipantJoined) and e.participant.sid == "PB" for e in seen)
    assert joins[1]["resume_sid"] == "PA" and joins[1]["resume_key"] == "key-1"
    assert joins[1]["token"] == "tok-2"


async def test_reconnect_gives_up_after_the_window() -> None:
    async def first(peer: Peer) -> None:
        await accept_join(peer, reconnect_window=0.5)
        await peer.ws.close()

    async def refuse(peer: Peer) -> None:
        await peer.ws.close()

    async with scripted(first, refuse) as url:
        room = await connect(url, "tok", backoff=Backoff(initial=0.05, maximum=0.1))
        seen = await events_until(room, lambda e: isinstance(e, Disconnected))
    assert isinstance(seen[0], Reconnecting)
    last = seen[-1]
    assert isinstance(last, Disconnected) and last.reason == "connection_lost"
    assert isinstance(last.error, ConnectionLostError)


# --- the room with media (an aiortc peer connection stands in for the SFU) ---------------------


async def test_publish_mute_and_subscribe_with_a_stand_in_sfu() -> None:
    """Publish: publish -> track_published -> offer/answer, media reaches the SFU stand-in.
    Subscribe: the stand-in offers a track with msid ``PB TB2``; the client answers and maps it."""
    results: dict[str, Any] = {}

    async def script(peer: Peer) -> None:
        await accept_join(peer, others=[{**BOB, "tracks": []}])
        publish = await peer.recv_type("publish")
        results["publish"] = publish
        await peer.send(
            {
                "type": "track_published",
                "re": publish["id"],
                "cid": publish["cid"],
                "track": {"sid": "TA1", "participant_sid": "PA", "kind": "video", "source": "camera"},
            }
        )
        # publisher connection: the SFU answers the client's offer
        offer = await peer.recv_type("offer")
        results["offer_sdp"] = offer["sdp"]
        inbound = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        got_track: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

        def on_track(track: MediaStreamTrack) -> None:
            if not got_track.done():
                got_track.set_result(track)

        inbound.add_listener("track", on_track)
        await inbound.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await inbound.setLocalDescription(await inbound.createAnswer())
        await peer.send({"type": "answer", "sdp": inbound.localDescription.sdp})
        frame = await asyncio.wait_for((await asyncio.wait_for(got_track, 5)).recv(), 10)
        assert isinstance(frame, VideoFrame)
        results["first_counter"] = read_frame_counter(frame)
        mute = await peer.recv_type("mute")
        await peer.send(
            {"type": "track_muted", "re": mute["id"], "participant_sid": "PA", "track_sid": "TA1", "muted": True}
        )
        # subscriber connection: bob publishes TB2 and the SFU offers it
        await peer.send(
            {"type": "track_published", "cid": "b", "track": {"sid": "TB2", "participant_sid": "PB", "kind": "video"}}
        )
        outbound = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        outbound.addTrack(FrameCounterTrack(160, 120, 15))
        await outbound.setLocalDescription(await outbound.createOffer())
        sdp = re.sub(r"a=msid:\S+ \S+", "a=msid:PB TB2", outbound.localDescription.sdp)
        await peer.send({"type": "offer", "sdp": sdp})
        answer = await peer.recv_type("answer")
        await outbound.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        await peer.send({"type": "subscription", "track_sid": "TB2", "subscribed": True, "mid": "0"})
        try:
            await hold(peer)
        finally:
            await inbound.close()
            await outbound.close()

    async with scripted(script) as url, await connect(url, "tok") as room:
        camera = FrameCounterTrack(160, 120, 15)
        pub = await room.publish(camera)
        assert pub.track_sid == "TA1" and pub.source == "camera"
        assert results["publish"]["cid"] == camera.id and results["publish"]["width"] == 160
        assert f" {camera.id}" in results["offer_sdp"]  # cid is the msid track id
        await pub.mute()
        assert pub.muted
        track = await room.wait_for_track("bob", kind="video", timeout=15)
        frame = await asyncio.wait_for(track.recv(), 10)
        assert isinstance(frame, VideoFrame)
        seen = await events_until(room, lambda e: isinstance(e, TrackSubscribed))
        subscribed = seen[-1]
        assert isinstance(subscribed, TrackSubscribed)
        assert subscribed.participant.identity == "bob" and subscribed.publication.sid == "TB2"
        assert subscribed.track is track
    assert results["first_counter"] is not None


async def _answer_with_aiortc(peer: Peer, pcs: list[RTCPeerConnection]) -> str:
    """Receive the client's publisher offer and answer it from a fresh aiortc peer connection."""
    offer = await peer.recv_type("offer")
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pcs.append(pc)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    await peer.send({"type": "answer", "sdp": pc.localDescription.sdp})
    sdp: str = offer["sdp"]
    return sdp


async def test_resume_offers_a_new_publisher_connection_with_the_same_tracks() -> None:
    """aiortc cannot ICE-restart, so a resume re-offers a new connection; no ``publish`` is repeated."""
    pcs: list[RTCPeerConnection] = []
    offers: list[str] = []
    frames_after_resume: list[str] = []

    async def first(peer: Peer) -> None:
        await accept_join(peer, reconnect_window=5)
        publish = await peer.recv_type("publish")
        track = {"sid": "TA1", "participant_sid": "PA", "kind": "audio"}
        await peer.send({"type": "track_published", "re": publish["id"], "cid": publish["cid"], "track": track})
        offers.append(await _answer_with_aiortc(peer, pcs))
        await asyncio.sleep(0.1)
        await peer.ws.close()

    async def second(peer: Peer) -> None:
        join = await peer.recv_type("join")
        await peer.send(joined(re_=join["id"], resumed=True, reconnect_window=5))
        frame = await peer.recv()
        while frame["type"] == "ping":
            frame = await peer.recv()
        frames_after_resume.append(frame["type"])
        offer = frame
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pcs.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await peer.send({"type": "answer", "sdp": pc.localDescription.sdp})
        offers.append(offer["sdp"])
        await hold(peer)

    try:
        async with scripted(first, second) as url, await connect(url, "tok", backoff=Backoff(initial=0.05)) as room:
            tone = ToneTrack(440)
            pub = await room.publish(tone)
            seen = await events_until(room, lambda e: isinstance(e, Reconnected))
            assert isinstance(seen[0], Reconnecting)
            assert pub.track_sid == "TA1"
    finally:
        for pc in pcs:
            await pc.close()
    assert frames_after_resume == ["offer"]  # straight to the offer: the server kept the track
    fingerprints = [re.search(r"a=fingerprint:\S+ (\S+)", sdp) for sdp in offers]
    ufrags = [re.search(r"a=ice-ufrag:(\S+)", sdp) for sdp in offers]
    assert all(offers) and len(offers) == 2
    assert ufrags[0] and ufrags[1] and ufrags[0].group(1) != ufrags[1].group(1)  # new ICE credentials
    assert fingerprints[0] and fingerprints[1]
    assert all("a=msid:" in sdp and f" {tone.id}" in sdp for sdp in offers)  # same cid both times
