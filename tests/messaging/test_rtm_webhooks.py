"""Webhooks: signed bodies, retry with backoff, order per channel, and the pre-delivery hook
(manual clock, a mock HTTP receiver; SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from hubbub.control.context import UserPrincipal
from hubbub.control.webhooks import SIGNATURE_HEADER, verify_signature
from hubbub.messaging import MessagingError, MessagingSettings
from hubbub.schema.messaging import History
from hubbub.sdk.token import build_token
from hubbub.server import Platform
from hubbub.util.clock import ManualClock


class Receiver:
    def __init__(self) -> None:
        self.calls: list[httpx.Request] = []
        self.fail_next = 0
        self.hook_answer: dict[str, Any] = {"action": "allow"}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if request.url.path == "/hook":
            body = json.loads(request.content)["data"]
            if "bad" in (body.get("text") or ""):
                return httpx.Response(200, json={"action": "reject", "reason": "not nice"})
            if "rude" in (body.get("text") or ""):
                return httpx.Response(200, json={"action": "rewrite", "text": "****"})
            return httpx.Response(200, json=self.hook_answer)
        if self.fail_next:
            self.fail_next -= 1
            return httpx.Response(503)
        return httpx.Response(204)


async def _setup(platform: Platform, tmp_path: Any, wire: Any) -> tuple[Any, Receiver, str, str]:
    receiver = Receiver()
    client = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    wired = await wire(MessagingSettings(attachment_dir=tmp_path / "att"), webhook_client=client)
    svc = wired.platform.services
    user = await svc.accounts.sign_up("hooks@example.com", "correct horse battery")
    project, certificate = await svc.projects.create(UserPrincipal(user.id), "hooks")
    return wired, receiver, project.app_id, certificate


async def test_events_are_signed_retried_with_backoff_and_kept_in_order(
    platform: Platform, clock: ManualClock, tmp_path: Any, wire_rtm: Any
) -> None:
    wired, receiver, app_id, _ = await _setup(platform, tmp_path, wire_rtm)
    who = UserPrincipal(1)
    endpoint, secret = await wired.webhooks.create_endpoint(
        who, app_id, "https://example.test/events", events=["message"]
    )
    for n in range(3):
        await wired.service.send(None, app_id, "news", sender="server", text=f"m{n}")
    receiver.fail_next = 1
    assert await wired.webhooks.deliver_due() == 1  # only the head of the channel's line is tried
    assert await wired.webhooks.deliver_due() == 0  # it failed: nothing goes until its retry is due
    clock.advance(0.5)
    assert await wired.webhooks.deliver_due() == 0  # backoff ~1 s
    clock.advance(1.0)
    while await wired.webhooks.deliver_due():
        pass
    bodies = [r.content for r in receiver.calls]
    seqs = [json.loads(b)["data"]["seq"] for b in bodies]
    assert seqs == [1, 1, 2, 3]  # the retry, then the rest, in order
    for request in receiver.calls:
        assert request.headers["X-Hubbub-Event"] == "message.channel"
        assert verify_signature(secret, request.headers[SIGNATURE_HEADER], request.content, clock())
        assert not verify_signature(secret, request.headers[SIGNATURE_HEADER], request.content + b" ", clock())
        assert not verify_signature("whsec_wrong", request.headers[SIGNATURE_HEADER], request.content, clock())
    log = await wired.webhooks.deliveries(who, app_id, endpoint.id)
    assert [(d.status, d.attempts) for d in reversed(log)] == [("delivered", 2), ("delivered", 1), ("delivered", 1)]
    await wired.webhooks.close()


async def test_delivery_gives_up_after_max_attempts_then_moves_on(
    platform: Platform, clock: ManualClock, tmp_path: Any, wire_rtm: Any
) -> None:
    wired, receiver, app_id, _ = await _setup(platform, tmp_path, wire_rtm)
    wired.webhooks.max_attempts = 3
    endpoint, _ = await wired.webhooks.create_endpoint(UserPrincipal(1), app_id, "https://example.test/e")
    await wired.service.send(None, app_id, "c", sender="server", text="a")
    await wired.service.send(None, app_id, "c", sender="server", text="b")
    receiver.fail_next = 3
    for _ in range(6):
        await wired.webhooks.deliver_due()
        clock.advance(10)
    log = await wired.webhooks.deliveries(UserPrincipal(1), app_id, endpoint.id)
    assert [(d.status, d.attempts, d.last_error) for d in reversed(log)] == [
        ("failed", 3, "HTTP 503"),
        ("delivered", 1, None),
    ]
    await wired.webhooks.close()


async def test_pre_delivery_hook_rejects_and_rewrites(
    platform: Platform, clock: ManualClock, tmp_path: Any, wire_rtm: Any
) -> None:
    wired, _receiver, app_id, certificate = await _setup(platform, tmp_path, wire_rtm)
    await wired.webhooks.create_endpoint(UserPrincipal(1), app_id, "https://example.test/hook", kind="pre_delivery")
    token = build_token(app_id, certificate, user_id="u", now=int(clock()))
    grant = await platform.admission.verify(token, channel="c")
    frames: list[str] = []

    def push(frame: str) -> bool:
        frames.append(frame)
        return True

    conn = wired.service.connect(grant, push, lambda _c, _r: None)
    await wired.service.subscribe(conn, "c", since_seq=None, presence=False, reply=lambda _s: None)
    with pytest.raises(MessagingError) as rejected:
        await wired.service.send(conn, app_id, "c", sender="u", text="a bad word")
    assert (rejected.value.code, rejected.value.message) == ("rejected", "not nice")
    await wired.service.send(conn, app_id, "c", sender="u", text="so rude")
    await wired.service.send(conn, app_id, "c", sender="u", text="fine")
    page = await wired.service.history(None, app_id, History(channel="c"))
    assert [m.text for m in page.messages] == ["****", "fine"]
    await wired.webhooks.close()
