"""Webhooks: a project's event endpoints and its pre-delivery hook.

Theory of operation
===================

An event (``message.channel``, ``message.peer``, ``message.deleted``, ``presence.online`` ...;
later room and agent events) becomes one ``webhook_deliveries`` row per matching endpoint: the
*outbox*. :meth:`Webhooks.stage` adds the rows to the caller's transaction, so a message and the
events that report it are committed together; nothing is lost across a restart.

The delivery worker POSTs each row's body with ``X-Hubbub-Signature: t=<unix ts>,v1=<hex>``,
where ``v1`` is HMAC-SHA256 keyed with the endpoint's secret over ``"<t>." + body``. A 2xx answer
delivers it; anything else is retried with exponential backoff (``base_delay * 2**n``, jittered,
capped at ``max_delay``) up to ``max_attempts``, then marked failed. Rows that share an endpoint
and an ``ordering_key`` (one channel's events) go strictly in order: a row is sent only when no
older row of its key is still pending.

The pre-delivery hook (an endpoint of kind ``pre_delivery``) is asked synchronously before a
message is stored and answers ``{"action": "allow" | "reject" | "rewrite", ...}``; when it fails
or times out the message passes if the endpoint is ``fail_open``, and is rejected otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hubbub.control.context import ControlContext, Principal
from hubbub.control.errors import InvalidInput, NotFound
from hubbub.control.projects import Projects
from hubbub.messaging.types import HookVerdict
from hubbub.schema import jsonsafe
from hubbub.storage.models import Project
from hubbub.storage.models_messaging import WebhookDelivery, WebhookEndpoint

log = logging.getLogger("hubbub.webhooks")

SIGNATURE_HEADER = "X-Hubbub-Signature"
CACHE_TTL = 5.0
KINDS = ("events", "pre_delivery")
MAX_ANSWER_BYTES = 256 * 1024
"""Largest pre-delivery answer read (a rewrite carries at most one message body)."""


def sign(secret: str, body: bytes, t: int) -> str:
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, now: float, tolerance: float = 300.0) -> bool:
    """What a receiver does: check the HMAC and that ``t`` is within ``tolerance`` seconds of ``now``."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        t = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - t) > tolerance:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


@dataclass(frozen=True, slots=True)
class EndpointView:
    id: int
    app_id: str
    kind: str
    url: str
    events: list[str]
    timeout_ms: int
    fail_open: bool
    created_at: float


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    event: str
    status: str
    attempts: int
    next_attempt_at: float
    created_at: float
    delivered_at: float | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class _Target:
    id: int
    kind: str
    url: str
    secret: str
    events: tuple[str, ...]
    timeout: float
    fail_open: bool

    def wants(self, event: str) -> bool:
        return not self.events or any(event == e or event.startswith(e + ".") for e in self.events)


def _view(e: WebhookEndpoint) -> EndpointView:
    events = [x for x in e.events.split(",") if x]
    return EndpointView(e.id, e.app_id, e.kind, e.url, events, e.timeout_ms, e.fail_open, e.created_at)


class Webhooks:
    def __init__(
        self,
        ctx: ControlContext,
        projects: Projects,
        *,
        client: httpx.AsyncClient | None = None,
        max_attempts: int = 8,
        base_delay: float = 1.0,
        max_delay: float = 600.0,
        poll_interval: float = 0.5,
        idle_poll_interval: float = 5.0,
    ) -> None:
        self.ctx = ctx
        self.projects = projects
        self.client = client or httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.poll_interval = poll_interval
        self.idle_poll_interval = idle_poll_interval
        self._cache: dict[str, tuple[float, list[_Target]]] = {}
        self._worker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # --- configuration -----------------------------------------------------------------------

    async def create_endpoint(
        self,
        principal: Principal,
        app_id: str,
        url: str,
        *,
        events: list[str] | None = None,
        kind: str = "events",
        timeout_ms: int = 5000,
        fail_open: bool = True,
    ) -> tuple[EndpointView, str]:
        """Add an endpoint; returns it with its signing secret, which is shown only here."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048:
            raise InvalidInput("invalid_url", "The webhook URL must be an absolute http(s) URL.")
        if kind not in KINDS:
            raise InvalidInput("invalid_kind", f"kind is one of {', '.join(KINDS)}.")
        if not 100 <= timeout_ms <= 30_000:
            raise InvalidInput("invalid_timeout", "timeout_ms is 100 to 30000.")
        names = [e.strip() for e in events or [] if e.strip()]
        if len(",".join(names)) > 1024 or any("," in e for e in names):
            raise InvalidInput("invalid_events", "Name at most 1024 characters of event prefixes.")
        project_id = await self.projects.project_id_for(principal, app_id)
        secret = "whsec_" + secrets.token_urlsafe(24)
        row = WebhookEndpoint(
            project_id=project_id,
            app_id=app_id,
            kind=kind,
            url=url,
            secret_enc=self.ctx.box.seal(secret),
            events=",".join(names),
            timeout_ms=timeout_ms,
            fail_open=fail_open,
            created_at=self.ctx.clock(),
        )
        async with self.ctx.db() as db:
            db.add(row)
            await db.commit()
        self._cache.pop(app_id, None)
        return _view(row), secret

    async def list_endpoints(self, principal: Principal, app_id: str) -> list[EndpointView]:
        project_id = await self.projects.project_id_for(principal, app_id)
        async with self.ctx.db() as db:
            rows = await db.execute(
                select(WebhookEndpoint).where(WebhookEndpoint.project_id == project_id).order_by(WebhookEndpoint.id)
            )
            return [_view(r) for r in rows.scalars()]

    async def _endpoint(self, db: AsyncSession, principal: Principal, app_id: str, endpoint_id: int) -> WebhookEndpoint:
        project_id = await self.projects.project_id_for(principal, app_id)
        row = await db.get(WebhookEndpoint, endpoint_id)
        if row is None or row.project_id != project_id:
            raise NotFound("webhook_not_found", "No such webhook endpoint in this project.")
        return row

    async def delete_endpoint(self, principal: Principal, app_id: str, endpoint_id: int) -> None:
        async with self.ctx.db() as db:
            await db.delete(await self._endpoint(db, principal, app_id, endpoint_id))
            await db.commit()
        self._cache.pop(app_id, None)

    async def deliveries(
        self, principal: Principal, app_id: str, endpoint_id: int, limit: int = 50
    ) -> list[DeliveryView]:
        async with self.ctx.db() as db:
            await self._endpoint(db, principal, app_id, endpoint_id)
            rows = await db.execute(
                select(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == endpoint_id)
                .order_by(WebhookDelivery.id.desc())
                .limit(max(1, min(limit, 200)))
            )
            return [
                DeliveryView(
                    r.id, r.event, r.status, r.attempts, r.next_attempt_at, r.created_at, r.delivered_at, r.last_error
                )
                for r in rows.scalars()
            ]

    async def _targets(self, app_id: str) -> list[_Target]:
        now = self.ctx.clock()
        hit = self._cache.get(app_id)
        if hit is not None and now - hit[0] < CACHE_TTL:
            return hit[1]
        async with self.ctx.db() as db:
            rows = (
                await db.execute(
                    select(WebhookEndpoint)
                    .join(Project, Project.id == WebhookEndpoint.project_id)
                    .where(WebhookEndpoint.app_id == app_id)
                    .order_by(WebhookEndpoint.id)
                )
            ).scalars()
            targets = [
                _Target(
                    r.id,
                    r.kind,
                    r.url,
                    self.ctx.box.open(r.secret_enc),
                    tuple(x for x in r.events.split(",") if x),
                    r.timeout_ms / 1000.0,
                    r.fail_open,
                )
                for r in rows
            ]
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[app_id] = (now, targets)
        return targets

    # --- the outbox (hubbub.messaging.types.EventSink) ---------------------------------------

    def _body(self, event: str, payload: dict[str, Any]) -> str:
        envelope = {"id": secrets.token_hex(12), "event": event, "created_at": self.ctx.clock(), "data": payload}
        return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)

    async def stage(
        self, db: AsyncSession, app_id: str, event: str, payload: dict[str, Any], ordering_key: str
    ) -> None:
        targets = [t for t in await self._targets(app_id) if t.kind == "events" and t.wants(event)]
        if not targets:
            return
        body, now = self._body(event, payload), self.ctx.clock()
        for t in targets:
            db.add(
                WebhookDelivery(
                    endpoint_id=t.id,
                    ordering_key=ordering_key[:200],
                    event=event,
                    body=body,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        self._wake.set()

    async def publish(self, app_id: str, event: str, payload: dict[str, Any], ordering_key: str) -> None:
        if not any(t.kind == "events" and t.wants(event) for t in await self._targets(app_id)):
            return
        async with self.ctx.db() as db:
            await self.stage(db, app_id, event, payload, ordering_key)
            await db.commit()

    # --- delivery ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._work_forever(), name="webhook-delivery")

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        await self.client.aclose()

    async def _work_forever(self) -> None:
        """Deliver what is due; poll every ``poll_interval`` while deliveries are pending (or just
        after a wake-up, whose rows may not be committed yet), else sleep until woken or
        ``idle_poll_interval`` (rows staged by another node) so an idle server costs nothing."""
        woken = True
        while True:
            self._wake.clear()  # before the pass: a row staged during it wakes the next one
            try:
                sent = await self.deliver_due()
                busy = sent > 0 or woken or await self._any_pending()
            except Exception:
                log.exception("webhook delivery pass failed")
                sent, busy = 0, True
            if sent:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval if busy else self.idle_poll_interval)
                woken = True
            except TimeoutError:
                woken = False

    async def _any_pending(self) -> bool:
        async with self.ctx.db() as db:
            found = await db.execute(select(WebhookDelivery.id).where(WebhookDelivery.status == "pending").limit(1))
            return found.first() is not None

    async def deliver_due(self, limit: int = 100) -> int:
        """One pass: send every due row that heads its (endpoint, ordering key) line; returns attempts made."""
        now = self.ctx.clock()
        older = aliased(WebhookDelivery)
        blocked = exists().where(
            and_(
                older.endpoint_id == WebhookDelivery.endpoint_id,
                older.ordering_key == WebhookDelivery.ordering_key,
                older.status == "pending",
                older.id < WebhookDelivery.id,
            )
        )
        async with self.ctx.db() as db:
            rows: list[tuple[WebhookDelivery, WebhookEndpoint]] = [
                (row[0], row[1])
                for row in (
                    await db.execute(
                        select(WebhookDelivery, WebhookEndpoint)
                        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now, ~blocked)
                        .order_by(WebhookDelivery.id)
                        .limit(limit)
                    )
                ).all()
            ]
            if not rows:
                return 0
            outcomes = await asyncio.gather(*(self._post(d, e) for d, e in rows))
            for (delivery, _), error in zip(rows, outcomes, strict=True):
                self._record(delivery, error, now)
            await db.commit()
        return len(rows)

    def _record(self, d: WebhookDelivery, error: str | None, now: float) -> None:
        d.attempts += 1
        if error is None:
            d.status, d.delivered_at, d.last_error = "delivered", now, None
            return
        d.last_error = error[:200]
        if d.attempts >= self.max_attempts:
            d.status = "failed"
            log.warning("webhook delivery failed for good", extra={"delivery": d.id, "attempts": d.attempts})
            return
        delay = min(self.max_delay, self.base_delay * 2 ** (d.attempts - 1))
        d.next_attempt_at = now + delay * random.uniform(0.9, 1.1)

    async def _post(self, d: WebhookDelivery, e: WebhookEndpoint) -> str | None:
        body = d.body.encode()
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(self.ctx.box.open(e.secret_enc), body, int(self.ctx.clock())),
            "X-Hubbub-Event": d.event,
            "X-Hubbub-Delivery": str(d.id),
        }
        try:
            r = await self.client.post(e.url, content=body, headers=headers, timeout=e.timeout_ms / 1000.0)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}"
        return None if 200 <= r.status_code < 300 else f"HTTP {r.status_code}"

    # --- the pre-delivery hook (hubbub.messaging.types.PreDeliveryHook) -----------------------

    async def check(
        self, app_id: str, *, kind: str, target: str, sender: str, text: str | None, data: Any
    ) -> HookVerdict | None:
        hook = next((t for t in await self._targets(app_id) if t.kind == "pre_delivery"), None)
        if hook is None:
            return None
        message: dict[str, Any] = {"kind": kind, "target": target, "sender": sender}
        message["text" if text is not None else "data"] = text if text is not None else data
        body = self._body("message.pre_delivery", {"app_id": app_id, **message}).encode()
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(hook.secret, body, int(self.ctx.clock())),
            "X-Hubbub-Event": "message.pre_delivery",
        }
        try:
            r = await self.client.post(hook.url, content=body, headers=headers, timeout=hook.timeout)
            ok = r.status_code == 200
            answer = jsonsafe.loads(r.content, max_bytes=MAX_ANSWER_BYTES, what="the answer") if ok else None
        except (httpx.HTTPError, ValueError):
            answer = None
        if not isinstance(answer, dict) or answer.get("action") not in ("allow", "reject", "rewrite"):
            log.warning("pre-delivery hook unavailable", extra={"app_id": app_id, "fail_open": hook.fail_open})
            return None if hook.fail_open else HookVerdict("reject", reason="the content filter is unavailable")
        action = str(answer["action"])
        if action == "rewrite":
            return HookVerdict("rewrite", text=answer.get("text"), data=answer.get("data"))
        return HookVerdict(action, reason=str(answer.get("reason", ""))[:200])
