"""Bad signaling input gets a clear error and breaks nothing; tokens are checked on every join and
one project can never reach another's room."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websockets

from hubbub.control.context import UserPrincipal
from hubbub.sdk import Disconnected, JoinError, PermissionDenied, ToneTrack, build_token, connect


def _ws_url(live: Any) -> str:
    url: str = live.url
    return url.replace("http", "ws", 1) + "/rtc/v1"


async def _frame(ws: Any) -> dict[str, Any]:
    return dict(json.loads(await ws.recv()))


async def _joined(live: Any, user: str) -> Any:
    ws = await websockets.connect(_ws_url(live), max_size=2**22)
    await ws.send(json.dumps({"type": "join", "id": "j", "token": live.token(user)}))
    joined = await _frame(ws)
    assert joined["type"] == "joined" and joined["re"] == "j"
    return ws


async def test_request_before_join_is_refused_and_closed(live: Any) -> None:
    async with websockets.connect(_ws_url(live)) as ws:
        await ws.send(json.dumps({"type": "ping", "id": "p", "t": 1}))
        err = await _frame(ws)
        assert err == {"type": "error", "re": "p", "code": "join_required", "message": err["message"]}
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid_message"),
        ("[1, 2]", "invalid_message"),
        ('{"type": "teleport", "id": "x"}', "unknown_type"),
        ('{"type": "mute", "id": "x", "track_sid": 7, "muted": true}', "invalid_message"),
        ('{"type": "answer", "id": "x", "sdp": "v=0"}', "out_of_order"),
        ('{"type": "offer", "id": "x", "sdp": "this is not sdp"}', "invalid_sdp"),
        ('{"type": "unpublish", "id": "x", "track_sid": "TR_nope"}', "track_not_found"),
        ('{"type": "subscribe", "id": "x", "track_sids": ["TR_nope"]}', "track_not_found"),
        ('{"type": "join", "id": "x", "token": "again"}', "already_joined"),
    ],
)
async def test_bad_frames_get_an_error_and_the_session_goes_on(live: Any, frame: str, code: str) -> None:
    ws = await _joined(live, "mallory")
    try:
        await ws.send(frame)
        err = await _frame(ws)
        assert err["type"] == "error" and err["code"] == code, err
        await ws.send(json.dumps({"type": "ping", "id": "after", "t": 5}))
        pong = await _frame(ws)
        assert pong["type"] == "pong" and pong["re"] == "after" and pong["t"] == 5
    finally:
        await ws.close()


async def test_oversize_frame_is_refused_without_closing(live: Any) -> None:
    ws = await _joined(live, "mallory")
    try:
        await ws.send(json.dumps({"type": "offer", "id": "big", "sdp": "x" * 300_000}))
        err = await _frame(ws)
        assert err["code"] == "frame_too_large"
        await ws.send(json.dumps({"type": "ping", "t": 1}))
        assert (await _frame(ws))["type"] == "pong"
    finally:
        await ws.close()


async def test_bad_input_does_not_disturb_a_call(live: Any) -> None:
    """Garbage from one participant leaves another's media and session alone."""
    alice = await connect(live.url, live.token("alice"))
    bob = await connect(live.url, live.token("bob"))
    mallory = await _joined(live, "mallory")
    try:
        await alice.publish(ToneTrack(440))
        audio = await bob.wait_for_track("alice", kind="audio", timeout=15)
        for junk in ("{", '{"type": "offer", "sdp": "v=0\\r\\nm=audio"}', '{"type": "answer", "sdp": ""}'):
            await mallory.send(junk)
        for _ in range(25):
            await audio.recv()
        assert bob.connected and alice.connected
    finally:
        await mallory.close()
        await alice.disconnect()
        await bob.disconnect()


async def test_token_for_one_channel_cannot_join_another(live: Any) -> None:
    token = live.token("alice", channel="room-a")
    with pytest.raises(JoinError) as refused:
        await connect(live.url, token, channel="room-b")
    assert refused.value.code == "token_channel_mismatch"


async def test_expired_and_forged_tokens_are_refused(live: Any) -> None:
    expired = build_token(live.app_id, live.certificate, user_id="a", channel="room1", now=1_000_000)
    with pytest.raises(JoinError) as refused:
        await connect(live.url, expired)
    assert refused.value.code == "token_expired"
    forged = build_token(live.app_id, "f" * 32, user_id="a", channel="room1")
    with pytest.raises(JoinError) as refused:
        await connect(live.url, forged)
    assert refused.value.code == "token_bad_signature"


async def test_subscribe_only_token_cannot_publish(live: Any) -> None:
    viewer = await connect(live.url, live.token("viewer", role="audience"))
    try:
        with pytest.raises(PermissionDenied) as denied:
            await viewer.publish(ToneTrack(440))
        assert denied.value.code == "permission_denied"
    finally:
        await viewer.disconnect()


async def test_projects_never_share_rooms(live: Any) -> None:
    """The same channel name in two projects is two rooms: nobody sees across."""
    svc = live.platform.services
    other_owner = await svc.accounts.sign_up("other@example.com", "another long password")
    other, other_cert = await svc.projects.create(UserPrincipal(other_owner.id), "other")
    a = await connect(live.url, live.token("alice", channel="lobby"))
    b = await connect(live.url, build_token(other.app_id, other_cert, user_id="eve", channel="lobby"))
    try:
        assert a.participants == {} and b.participants == {}
        assert len(live.platform.rooms.rooms) == 2
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_deleting_a_project_with_live_channels_needs_force(live: Any) -> None:
    import httpx

    from hubbub.sdk import Kicked

    svc = live.platform.services
    signed = await svc.accounts.sign_in("owner@example.com", "correct horse battery", "127.0.0.1")
    alice = await connect(live.url, live.token("alice"))
    events = alice.events()
    async with httpx.AsyncClient(base_url=live.url, cookies={"hubbub_session": signed.session_id}) as http:
        headers = {"x-csrf-token": signed.csrf_token}
        refused = await http.delete(f"/api/v1/projects/{live.app_id}", headers=headers)
        assert refused.status_code == 409 and refused.json()["code"] == "project_in_use"
        assert await svc.projects.project_id_of(live.app_id) is not None  # nothing deleted
        forced = await http.delete(f"/api/v1/projects/{live.app_id}?force=true", headers=headers)
        assert forced.status_code == 204
    assert await svc.projects.project_id_of(live.app_id) is None
    assert live.platform.rooms.rooms == {}
    async for event in events:  # the participant is told why the call ended
        if isinstance(event, Disconnected):
            assert event.reason == "room_closed" or isinstance(event.error, Kicked)
            break
    await alice.disconnect()
