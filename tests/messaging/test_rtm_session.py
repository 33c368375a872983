"""The messaging protocol handler without a socket: frames and a manual ``now`` in, frames out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hubbub.messaging import MessagingSession, MessagingSettings
from hubbub.messaging.handler import RtmHandler
from hubbub.messaging.types import Grant, MessagingError
from hubbub.schema.close import CLOSE_FLOOD, CLOSE_NORMAL, CLOSE_POLICY
from hubbub.schema.tokens import Privilege, Role

T0 = 1_795_000_000.0


@dataclass
class FakeGrant:
    user_id: str
    app_id: str = "app"
    channel: str = "*"
    role: Role = Role.host
    expires_at: float = T0 + 3600
    privileges: Mapping[Privilege, float] = field(
        default_factory=lambda: {Privilege.rtm_login: T0 + 3600, Privilege.publish_data: T0 + 3600}
    )

    def has(self, priv: Privilege, now: float, *, leeway: float = 0.0) -> bool:
        return self.privileges.get(priv, -1.0) + leeway >= now

    def expiring(self, now: float, within: float) -> list[tuple[str, float]]:
        return []


class Admission:
    """Admits ``rtm_login`` with token ``ok:<user>``; refuses any other token."""

    async def admit_rtm(self, *, token: str, app_id: str = "", user_id: str = "") -> Grant:
        if not token.startswith("ok:"):
            raise MessagingError("token_bad_signature", "no")
        return FakeGrant(user_id=token[3:])


class Client:
    """One handler as the connection host drives it, with the frames it pushed and its closes."""

    def __init__(self, service: Any) -> None:
        self.handler = RtmHandler(service, Admission())
        self.frames: list[dict[str, Any]] = []
        self.closes: list[tuple[int, str]] = []
        self.handler.opened(self._push, lambda code, reason: self.closes.append((code, reason)), T0)

    def _push(self, text: str) -> bool:
        self.frames.append(json.loads(text))
        return not self.closes

    async def send(self, now: float, **frame: Any) -> dict[str, Any]:
        await self.handler.received(json.dumps(frame), now)
        return self.frames[-1]


async def _service(wire_rtm: Any, **overrides: Any) -> Any:
    wired = await wire_rtm(MessagingSettings(**overrides))
    return wired.service


async def test_login_then_ping_use_the_hosts_now(wire_rtm: Any) -> None:
    client = Client(await _service(wire_rtm))
    logged = await client.send(T0 + 1.5, type="rtm_login", id="l", token="ok:ann")
    assert logged["type"] == "rtm_logged_in" and logged["server_time"] == T0 + 1.5 and logged["user_id"] == "ann"
    pong = await client.send(T0 + 2.0, type="ping", id="p", t=5.0)
    assert pong == {"type": "pong", "re": "p", "t": 5.0, "server_t": (T0 + 2.0) * 1000.0}
    assert client.closes == []
    client.handler.closed(T0 + 3)
    assert client.handler.session.conn is None


async def test_a_refused_first_frame_is_answered_and_closed_with_1008(wire_rtm: Any) -> None:
    service = await _service(wire_rtm)
    for first, code in (
        ({"type": "ping", "id": "p", "t": 1.0}, "login_required"),
        ({"type": "rtm_login", "id": "l", "token": "forged"}, "token_bad_signature"),
        ({"type": "rtm_login", "id": "l", "token": "ok:u", "protocol": 99}, "unsupported_protocol"),
    ):
        client = Client(service)
        reply = await client.send(T0, **first)
        assert reply["type"] == "error" and reply["code"] == code
        assert client.closes == [(CLOSE_POLICY, "login_refused")] and not client.handler.logged_in
    assert service.users == {}


async def test_no_login_in_time_gets_the_login_error_and_the_timeout_reason(wire_rtm: Any) -> None:
    client = Client(await _service(wire_rtm))
    assert client.handler.first_frame_missed(T0 + 10) == "login_timeout"
    assert [(f["type"], f["code"], f["message"]) for f in client.frames] == [
        ("error", "login_required", "send rtm_login first")
    ]


async def test_frames_far_beyond_the_rate_close_as_flood_on_the_given_clock(wire_rtm: Any) -> None:
    service = await _service(wire_rtm, frames_per_s=2.0, flood_factor=2.0)
    client = Client(service)
    await client.send(T0, type="rtm_login", id="l", token="ok:ann")
    for n in range(4):  # the burst: frames_per_s x flood_factor at one instant
        assert (await client.send(T0, type="ping", id=f"p{n}", t=0.0))["type"] == "pong"
    assert (await client.send(T0 + 0.5, type="ping", id="later", t=0.0))["type"] == "pong"  # 1 refilled
    closing = await client.send(T0 + 0.5, type="ping", id="over", t=0.0)
    assert closing["type"] == "rtm_closing" and closing["reason"] == "flood"
    assert client.closes == [(CLOSE_FLOOD, "flood")]
    assert service.users == {}  # it left at once, before the socket is gone


async def test_a_channel_message_reaches_the_other_member_through_its_push(wire_rtm: Any) -> None:
    service = await _service(wire_rtm)
    ann, bob = Client(service), Client(service)
    await ann.send(T0, type="rtm_login", id="l", token="ok:ann")
    await bob.send(T0, type="rtm_login", id="l", token="ok:bob")
    for c in (ann, bob):
        assert (await c.send(T0, type="rtm_subscribe", id="s", channel="lobby", presence=False))["type"] == (
            "rtm_subscribed"
        )
    ack = await ann.send(T0, type="rtm_send", id="m", channel="lobby", text="hi", client_msg_id="c1")
    assert ack["type"] == "rtm_ack" and ack["re"] == "m" and ack["seq"] == 1
    event = bob.frames[-1]
    assert event["type"] == "rtm_message" and event["message"]["text"] == "hi" and event["message"]["sender"] == "ann"
    bye = await bob.send(T0, type="rtm_logout", id="o")
    assert bye["type"] == "rtm_closing" and bye["reason"] == "client_logout"
    assert bob.closes == [(CLOSE_NORMAL, "client_logout")]
    assert [m.conn.user_id for m in service.hubs[("app", "lobby")].members.values()] == ["ann"]


async def test_in_call_frames_are_taken_only_when_they_are_messaging_ones(wire_rtm: Any) -> None:
    """A call's socket: the session attached with the join's grant takes rtm_* frames, with the host's now."""
    service = await _service(wire_rtm)
    frames: list[dict[str, Any]] = []

    def push(text: str) -> bool:
        frames.append(json.loads(text))
        return True

    session = MessagingSession(service)
    session.attach(push, FakeGrant(user_id="cal"))
    assert not await session.handle_frame(json.dumps({"type": "ping", "id": "p", "t": 1.0}), T0)  # signaling's
    assert await session.handle_frame(json.dumps({"type": "rtm_unread", "id": "u", "channels": ["a"]}), T0)
    assert frames[-1] == {"type": "rtm_unread_counts", "re": "u", "counts": {"a": 0}}
    session.close()
    no_rtm = MessagingSession(service)
    no_rtm.attach(push, FakeGrant("dan", privileges={}))
    assert await no_rtm.handle_frame(json.dumps({"type": "rtm_unread", "id": "v", "channels": ["a"]}), T0)
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "token_privilege_missing"
