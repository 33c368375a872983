"""Webhooks: signed bodies, retry with backoff, order per channel, and the pre-delivery hook
(manual clock; deliveries go over real HTTP to a real receiver on 127.0.0.1; SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from webhook_receiver import Received, WebhookReceiver

from hubbub.control.context import UserPrincipal
from hubbub.control.webhooks import SIGNATURE_HEADER, verify_signature
from hubbub.messaging import MessagingError, MessagingSettings, NewMessage
from hubbub.messaging.connection import Connection
from hubbub.schema.messaging import History
from hubbub.sdk.token import build_token
from hubbub.util.clock import ManualClock

SIGNATURE = re.compile(r"t=(\d+),v1=([0-9a-f]{64})")


@dataclass
class Setup:
    wired: Any
    app_id: str
    certificate: str


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


async def _setup(tmp_path: Any, wire: Any) -> Setup:
    # A real client, as the platform builds its own (no proxies from the environment, though).
    client = httpx.AsyncClient(timeout=10.0, follow_redirects=False, trust_env=False)
    wired = await wire(MessagingSettings(attachment_dir=tmp_path / "att"), webhook_client=client)
    svc = wired.platform.services
    user = await svc.accounts.sign_up("hooks@example.com", "correct horse battery")
    project, certificate = await svc.projects.create(UserPrincipal(user.id), "hooks")
    return Setup(wired, project.app_id, certificate)


async def _connect(s: Setup, clock: ManualClock, channel: str) -> Connection:
    """A client connection subscribed to ``channel`` (its sends go through the pre-delivery hook)."""
    token = build_token(s.app_id, s.certificate, user_id="u", now=int(clock()))
    grant = await s.wired.platform.admission.verify(token, channel=channel)
    conn: Connection = s.wired.service.connect(grant, lambda _frame: True, lambda _c, _r: None)
    await s.wired.service.subscribe(conn, channel, since_seq=None, presence=False, reply=lambda _s: None)
    return conn


def _assert_signed(request: Received, secret: str, now: float, event: str) -> None:
    """The signature header is ``t=<unix ts>,v1=<HMAC-SHA256(secret, "<t>." + raw body)>``."""
    assert request.method == "POST"
    assert request.headers["X-Hubbub-Event"] == event
    assert request.headers["content-type"] == "application/json"
    assert int(request.headers["content-length"]) == len(request.body)
    header = request.headers[SIGNATURE_HEADER]
    match = SIGNATURE.fullmatch(header)
    assert match is not None, header
    t, v1 = match.groups()
    assert abs(now - int(t)) <= 300
    expected = hmac.new(secret.encode(), t.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(v1, expected)
    assert verify_signature(secret, header, request.body, now)
    assert not verify_signature(secret, header, request.body + b" ", now)
    assert not verify_signature("whsec_wrong", header, request.body, now)


async def test_events_are_signed_retried_with_backoff_and_kept_in_order(
    clock: ManualClock, tmp_path: Any, wire_rtm: Any, receiver: WebhookReceiver
) -> None:
    s = await _setup(tmp_path, wire_rtm)
    wired, app_id = s.wired, s.app_id
    who = UserPrincipal(1)
    endpoint, secret = await wired.webhooks.create_endpoint(who, app_id, receiver.url("/events"), events=["message"])
    for n in range(3):
        await wired.service.send(None, "news", NewMessage(app_id, "server", text=f"m{n}"))
    receiver.fail(1, status=503)
    assert await wired.webhooks.deliver_due() == 1  # only the head of the channel's line is tried
    assert await wired.webhooks.deliver_due() == 0  # it failed: nothing goes until its retry is due
    clock.advance(0.5)
    assert await wired.webhooks.deliver_due() == 0  # backoff ~1 s
    clock.advance(1.0)
    while await wired.webhooks.deliver_due():
        pass
    requests = await receiver.wait_for(4)
    assert len(requests) == 4
    seqs = [r.json()["data"]["seq"] for r in requests]
    assert seqs == [1, 1, 2, 3]  # the retry, then the rest, in order
    assert [r.json()["data"]["text"] for r in requests] == ["m0", "m0", "m1", "m2"]
    assert {r.path for r in requests} == {"/events"}
    for request in requests:
        _assert_signed(request, secret, clock(), "message.channel")
    ids = [r.headers["X-Hubbub-Delivery"] for r in requests]
    assert ids[0] == ids[1] and len(set(ids)) == 3  # a retry is the same delivery, with the same body
    assert requests[0].body == requests[1].body
    log = await wired.webhooks.deliveries(who, app_id, endpoint.id)
    assert [(d.status, d.attempts) for d in reversed(log)] == [("delivered", 2), ("delivered", 1), ("delivered", 1)]
    await wired.webhooks.close()


async def test_a_failing_channel_does_not_hold_up_another(
    clock: ManualClock, tmp_path: Any, wire_rtm: Any, receiver: WebhookReceiver
) -> None:
    s = await _setup(tmp_path, wire_rtm)
    wired, app_id = s.wired, s.app_id
    endpoint, secret = await wired.webhooks.create_endpoint(UserPrincipal(1), app_id, receiver.url("/e"))
    for channel, text in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2"), ("a", "a3")]:
        await wired.service.send(None, channel, NewMessage(app_id, "server", text=text))
    receiver.fail(1, status=500, match=lambda r: r.json()["data"]["channel"] == "a")
    assert await wired.webhooks.deliver_due() == 2  # the heads of both lines: a1 fails, b1 goes
    assert await wired.webhooks.deliver_due() == 1  # b2; a waits for its retry
    assert await wired.webhooks.deliver_due() == 0
    log = await wired.webhooks.deliveries(UserPrincipal(1), app_id, endpoint.id)
    assert [(d.status, d.attempts, d.last_error) for d in reversed(log)] == [
        ("pending", 1, "HTTP 500"),
        ("delivered", 1, None),
        ("pending", 0, None),
        ("delivered", 1, None),
        ("pending", 0, None),
    ]
    clock.advance(1.5)
    while await wired.webhooks.deliver_due():
        pass
    requests = await receiver.wait_for(6)
    assert len(requests) == 6
    texts = {ch: [r.json()["data"]["text"] for r in requests if r.json()["data"]["channel"] == ch] for ch in "ab"}
    assert texts == {"a": ["a1", "a1", "a2", "a3"], "b": ["b1", "b2"]}
    assert [r.json()["data"]["text"] for r in requests[-3:]] == ["a1", "a2", "a3"]  # after b was done
    for request in requests:
        _assert_signed(request, secret, clock(), "message.channel")
    log = await wired.webhooks.deliveries(UserPrincipal(1), app_id, endpoint.id)
    assert [(d.status, d.attempts) for d in reversed(log)] == [("delivered", 2)] + [("delivered", 1)] * 4
    await wired.webhooks.close()


async def test_a_receiver_that_times_out_is_retried(
    clock: ManualClock, tmp_path: Any, wire_rtm: Any, receiver: WebhookReceiver
) -> None:
    s = await _setup(tmp_path, wire_rtm)
    wired, app_id = s.wired, s.app_id
    endpoint, secret = await wired.webhooks.create_endpoint(
        UserPrincipal(1), app_id, receiver.url("/slow"), timeout_ms=200
    )
    await wired.service.send(None, "c", NewMessage(app_id, "server", text="late"))
    receiver.stall(1)
    assert await wired.webhooks.deliver_due() == 1  # the receiver read it and never answered
    await receiver.wait_for(1)
    log = await wired.webhooks.deliveries(UserPrincipal(1), app_id, endpoint.id)
    assert [(d.status, d.attempts, d.last_error) for d in log] == [("pending", 1, "ReadTimeout")]
    assert await wired.webhooks.deliver_due() == 0
    clock.advance(1.5)
    assert await wired.webhooks.deliver_due() == 1
    requests = await receiver.wait_for(2)
    assert len(requests) == 2 and requests[0].body == requests[1].body
    for request in requests:
        _assert_signed(request, secret, clock(), "message.channel")
        assert request.json()["data"]["text"] == "late"
    log = await wired.webhooks.deliveries(UserPrincipal(1), app_id, endpoint.id)
    assert [(d.status, d.attempts, d.last_error) for d in log] == [("delivered", 2, None)]
    await wired.webhooks.close()


async def test_delivery_gives_up_after_max_attempts_then_moves_on(
    clock: ManualClock, tmp_path: Any, wire_rtm: Any, receiver: WebhookReceiver
) -> None:
    s = await _setup(tmp_path, wire_rtm)
    wired, app_id = s.wired, s.app_id
    wired.webhooks.max_attempts = 3
    endpoint, _ = await wired.webhooks.create_endpoint(UserPrincipal(1), app_id, receiver.url("/e"))
    await wired.service.send(None, "c", NewMessage(app_id, "server", text="a"))
    await wired.service.send(None, "c", NewMessage(app_id, "server", text="b"))
    receiver.fail(3, status=503)
    for _ in range(6):
        await wired.webhooks.deliver_due()
        clock.advance(10)
    log = await wired.webhooks.deliveries(UserPrincipal(1), app_id, endpoint.id)
    assert [(d.status, d.attempts, d.last_error) for d in reversed(log)] == [
        ("failed", 3, "HTTP 503"),
        ("delivered", 1, None),
    ]
    requests = await receiver.wait_for(4)
    assert [r.json()["data"]["text"] for r in requests] == ["a", "a", "a", "b"]
    await wired.webhooks.close()


async def test_pre_delivery_hook_rejects_and_rewrites(
    clock: ManualClock, tmp_path: Any, wire_rtm: Any, receiver: WebhookReceiver
) -> None:
    s = await _setup(tmp_path, wire_rtm)
    wired, app_id = s.wired, s.app_id

    def verdict(request: Received) -> tuple[int, Any]:
        text = request.json()["data"].get("text") or ""
        if "bad" in text:
            return 200, {"action": "reject", "reason": "not nice"}
        if "rude" in text:
            return 200, {"action": "rewrite", "text": "****"}
        return 200, {"action": "allow"}

    receiver.on("/hook", verdict)
    _, secret = await wired.webhooks.create_endpoint(
        UserPrincipal(1), app_id, receiver.url("/hook"), kind="pre_delivery"
    )
    conn = await _connect(s, clock, "c")
    with pytest.raises(MessagingError) as rejected:
        await wired.service.send(conn, "c", NewMessage(app_id, "u", text="a bad word"))
    assert (rejected.value.code, rejected.value.message) == ("rejected", "not nice")
    await wired.service.send(conn, "c", NewMessage(app_id, "u", text="so rude"))
    await wired.service.send(conn, "c", NewMessage(app_id, "u", text="fine"))
    page = await wired.service.history(None, app_id, History(channel="c"))
    assert [m.text for m in page.messages] == ["****", "fine"]
    requests = await receiver.wait_for(3)
    assert [r.json()["data"]["text"] for r in requests] == ["a bad word", "so rude", "fine"]
    for request in requests:
        _assert_signed(request, secret, clock(), "message.pre_delivery")
        assert request.json()["data"]["app_id"] == app_id
        assert (request.json()["data"]["kind"], request.json()["data"]["target"]) == ("channel", "c")
    await wired.webhooks.close()


@pytest.mark.parametrize("fail_open", [True, False])
async def test_pre_delivery_hook_that_fails_or_times_out(
    clock: ManualClock, tmp_path: Any, wire_rtm: Any, receiver: WebhookReceiver, fail_open: bool
) -> None:
    s = await _setup(tmp_path, wire_rtm)
    wired, app_id = s.wired, s.app_id
    receiver.on("/hook", lambda _r: (200, {"action": "rewrite", "text": "checked"}))
    await wired.webhooks.create_endpoint(
        UserPrincipal(1), app_id, receiver.url("/hook"), kind="pre_delivery", timeout_ms=200, fail_open=fail_open
    )
    conn = await _connect(s, clock, "c")
    receiver.stall(1)
    receiver.fail(1, status=500)
    outcomes: list[str] = []
    for text in ["stalled", "errored", "answered"]:
        try:
            await wired.service.send(conn, "c", NewMessage(app_id, "u", text=text))
            outcomes.append("sent")
        except MessagingError as e:
            outcomes.append(f"{e.code}: {e.message}")
    await receiver.wait_for(3)
    unavailable = "rejected: the content filter is unavailable"
    assert outcomes == (["sent", "sent", "sent"] if fail_open else [unavailable, unavailable, "sent"])
    page = await wired.service.history(None, app_id, History(channel="c"))
    assert [m.text for m in page.messages] == (["stalled", "errored", "checked"] if fail_open else ["checked"])
    await wired.webhooks.close()


@pytest.mark.parametrize("levels", [1_000, 50_000])
async def test_a_pre_delivery_answer_nested_too_deep_counts_as_no_answer(
    clock: ManualClock, tmp_path: Any, wire_rtm: Any, receiver: WebhookReceiver, levels: int
) -> None:
    """An answer that would exhaust a decoder's recursion is the receiver's failure: fail_open applies."""
    s = await _setup(tmp_path, wire_rtm)
    wired, app_id = s.wired, s.app_id
    deep = b'{"action":"rewrite","text":"x","data":' + b"[" * levels + b"]" * levels + b"}"
    receiver.on("/hook", lambda r: (200, deep if "deep" in r.json()["data"]["text"] else {"action": "allow"}))
    await wired.webhooks.create_endpoint(
        UserPrincipal(1), app_id, receiver.url("/hook"), kind="pre_delivery", fail_open=False
    )
    conn = await _connect(s, clock, "c")
    with pytest.raises(MessagingError) as refused:
        await wired.service.send(conn, "c", NewMessage(app_id, "u", text="deep answer"))
    assert (refused.value.code, refused.value.message) == ("rejected", "the content filter is unavailable")
    await wired.service.send(conn, "c", NewMessage(app_id, "u", text="plain answer"))
    page = await wired.service.history(None, app_id, History(channel="c"))
    assert [m.text for m in page.messages] == ["plain answer"]
    await wired.webhooks.close()
