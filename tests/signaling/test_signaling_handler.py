"""The signaling protocol without a socket: frames and ``now`` in, frames and closes out."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

from hubbub.control.tokens import TokenError, VerifiedToken
from hubbub.rooms.model import Grant, Participant, ParticipantState
from hubbub.rooms.ports import MediaTransport
from hubbub.rooms.service import RoomService, RoomSettings
from hubbub.schema.close import CLOSE_NORMAL, CLOSE_POLICY
from hubbub.schema.tokens import Privilege, Role, TokenErrorCode
from hubbub.signaling.handler import JOIN_TIMEOUT, SignalingHandler
from hubbub.util.clock import ManualClock

APP, CHANNEL = "app1", "lobby"


class Admission:
    """Tokens are user names; "expired" is refused, as an expired token is."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    async def admit(self, *, token: str, channel: str, app_id: str = "", user_id: str = "") -> tuple[Grant, str]:
        return await self.verify(token, channel=channel), channel or CHANNEL

    async def verify(self, token: str, *, channel: str | None, app_id: str | None = None) -> Grant:
        if token == "expired":
            raise TokenError(TokenErrorCode.token_expired, "the token expired")
        now = self.clock()
        return VerifiedToken(
            app_id=APP,
            user_id=token,
            channel=CHANNEL,
            role=Role.host,
            privileges={p: now + 3600.0 for p in Privilege},
            issued_at=now,
            not_before=now,
            expires_at=now + 3600.0,
            token_id=f"t-{token}",
        )


class Client:
    """What the host would write: the frames pushed, and the close."""

    def __init__(self, rooms: RoomService, admission: Admission, now: float) -> None:
        self.handler = SignalingHandler(rooms, admission)
        self.wire: list[dict[str, Any]] = []
        self.closed_with: tuple[int, str] | None = None
        self.handler.opened(self._push, self._close, now)

    def _push(self, text: str) -> bool:
        if self.closed_with is not None:
            return False
        self.wire.append(json.loads(text))
        return True

    def _close(self, code: int, reason: str) -> None:
        if self.closed_with is None:
            self.closed_with = (code, reason)

    async def send(self, frame: dict[str, Any] | str, now: float) -> None:
        await self.handler.received(frame if isinstance(frame, str) else json.dumps(frame), now)

    def types(self) -> list[str]:
        return [f["type"] for f in self.wire]


class World:
    def __init__(self) -> None:
        self.clock = ManualClock()
        transport = cast(MediaTransport, SimpleNamespace(now=lambda: 0.0, fanout=None))
        self.rooms = RoomService(transport, self.clock, RoomSettings(native_fanout=False))
        self.admission = Admission(self.clock)

    def client(self) -> Client:
        return Client(self.rooms, self.admission, self.clock())

    async def joined(self, user: str) -> Client:
        client = self.client()
        await client.send({"type": "join", "id": "j", "token": user}, self.clock())
        assert client.types() == ["joined"] and client.wire[0]["re"] == "j"
        return client


async def test_a_join_is_answered_with_joined_and_requests_follow() -> None:
    world = World()
    alice = await world.joined("alice")
    assert alice.wire[0]["participant"]["identity"] == "alice" and alice.closed_with is None
    await alice.send({"type": "ping", "id": "p", "t": 5}, 1_750_000_123.5)
    assert alice.wire[-1] == {"type": "pong", "re": "p", "t": 5.0, "server_t": 1_750_000_123_500.0}


async def test_a_first_frame_that_is_not_a_join_is_refused_and_closed() -> None:
    world = World()
    cases: list[tuple[dict[str, Any] | str, str, str]] = [
        ({"type": "ping", "id": "p", "t": 1}, "join_required", "join_required"),
        ("{not json", "invalid_message", "invalid_join"),
        ({"type": "join", "id": "j", "token": "alice", "protocol": 99}, "unsupported_protocol", "unsupported_protocol"),
        ({"type": "join", "id": "j", "token": "expired"}, "token_expired", "token_expired"),
    ]
    for frame, code, reason in cases:
        client = world.client()
        await client.send(frame, world.clock())
        (error,) = client.wire
        assert error["type"] == "error" and error["code"] == code, error
        assert client.closed_with == (CLOSE_POLICY, reason)
        await client.send({"type": "ping", "t": 1}, world.clock())  # nothing is read after the close
        assert len(client.wire) == 1
    assert world.rooms.rooms == {}


async def test_no_join_in_time_is_told_why() -> None:
    world = World()
    client = world.client()
    reason = client.handler.first_frame_missed(world.clock.advance(JOIN_TIMEOUT))
    assert reason == "join_timeout"
    (error,) = client.wire
    assert error["code"] == "join_required" and "10 s" in error["message"]


async def test_bad_frames_after_join_get_an_error_and_the_session_goes_on() -> None:
    world = World()
    alice = await world.joined("alice")
    for frame, code in [
        ("[1, 2]", "invalid_message"),
        ('{"type": "teleport", "id": "x"}', "unknown_type"),
        ('{"type": "answer", "id": "x", "sdp": "v=0"}', "out_of_order"),
        ('{"type": "join", "id": "x", "token": "again"}', "already_joined"),
        ('{"type": "renew_token", "id": "x", "token": "expired"}', "token_expired"),
    ]:
        await alice.send(frame, world.clock())
        assert alice.wire[-1]["type"] == "error" and alice.wire[-1]["code"] == code, alice.wire[-1]
    await alice.send({"type": "trickle", "id": "t", "target": "publisher", "candidate": ""}, world.clock())
    assert alice.wire[-1] == {"type": "ack", "re": "t"} and alice.closed_with is None


async def test_room_events_reach_the_other_participants_socket() -> None:
    world = World()
    alice = await world.joined("alice")
    bob = await world.joined("bob")
    assert [p["identity"] for p in bob.wire[0]["participants"]] == ["alice"]
    assert alice.types() == ["joined", "participant_joined"]
    await bob.send({"type": "leave", "id": "l"}, world.clock())
    assert bob.closed_with == (CLOSE_NORMAL, "client_left")
    assert alice.wire[-1]["type"] == "participant_left" and alice.wire[-1]["reason"] == "client_left"


async def test_a_kick_sends_kicked_then_closes() -> None:
    world = World()
    alice = await world.joined("alice")
    assert world.rooms.kick(APP, CHANNEL, "alice", "be nice")
    assert alice.wire[-1]["type"] == "kicked" and alice.wire[-1]["reason"] == "kicked"
    assert alice.closed_with == (CLOSE_NORMAL, "kicked")


async def test_the_socket_going_leaves_the_participant_disconnected_until_it_resumes() -> None:
    world = World()
    bob = await world.joined("bob")
    participant = bob.handler.participant
    assert participant is not None
    sid, key = participant.sid, participant.resume_key
    bob.handler.closed(world.clock())
    assert _state(participant) is ParticipantState.disconnected
    again = world.client()
    await again.send({"type": "join", "id": "r", "token": "bob", "resume_sid": sid, "resume_key": key}, world.clock())
    assert again.types() == ["joined"] and again.wire[0]["resumed"] is True
    assert again.handler.participant is participant
    # The old connection ending later does not disturb the participant its successor holds.
    bob.handler.closed(world.clock())
    assert _state(participant) is ParticipantState.joined


def _state(p: Participant) -> ParticipantState:
    return p.state
