"""The contract of the messaging layer with the layers around it.

Messaging sits below ``control`` (docs/architecture.md), so it never imports token verification,
webhooks or projects: it names what it needs as protocols here and the composition root hands in
the implementations (:mod:`hubbub.control.webhooks`, the RTM admission adapter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from hubbub.schema.messaging import ErrorCode
from hubbub.schema.tokens import WILDCARD_CHANNEL, Privilege
from hubbub.schema.tokens import Grant as Grant  # re-exported: messaging names it


class MessagingError(Exception):
    """A refused request; ``code`` is an :class:`ErrorCode` value or a token error code."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


def refuse(code: ErrorCode, message: str, retry_after: float | None = None) -> MessagingError:
    return MessagingError(code.value, message, retry_after)


def privilege_problem(grant: Grant, priv: Privilege, now: float) -> MessagingError | None:
    """The token error for a missing or expired privilege, or None when it holds."""
    expiry = grant.privileges.get(priv)
    if expiry is None:
        return MessagingError("token_privilege_missing", f"the token does not grant the {priv.value} privilege")
    if expiry < now:
        return MessagingError("token_privilege_expired", f"the {priv.value} privilege expired; renew the token")
    return None


def may_use_channel(grant: Grant, channel: str) -> bool:
    return grant.channel in (WILDCARD_CHANNEL, channel)


class RtmAdmission(Protocol):
    """Verifies an RTM login: a token with ``rtm_login``, or App ID + user id in testing mode.

    Raises :class:`MessagingError` with the token error code when refused.
    """

    async def admit_rtm(self, *, token: str, app_id: str = "", user_id: str = "") -> Grant: ...


class EventSink(Protocol):
    """Where message and presence events go (the webhook outbox).

    ``stage`` adds the event to ``db``'s transaction, so it is stored exactly when the message
    is; ``publish`` stores it in a transaction of its own. ``ordering_key`` groups the events
    that must reach a receiver in order (one channel's).
    """

    async def stage(
        self, db: AsyncSession, app_id: str, event: str, payload: dict[str, Any], ordering_key: str
    ) -> None: ...

    async def publish(self, app_id: str, event: str, payload: dict[str, Any], ordering_key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A channel or peer message to send, as a client's frame or a REST call hands it in.

    ``sender`` is the user id it is sent as (a client's own; any for the server's REST API);
    exactly one of ``text`` and ``data`` is set; ``client_msg_id`` makes a retried send idempotent.
    """

    app_id: str
    sender: str
    text: str | None = None
    data: Any = None
    attachments: tuple[str, ...] = ()
    client_msg_id: str = ""


@dataclass(frozen=True, slots=True)
class HookVerdict:
    """The pre-delivery hook's answer: ``allow``, ``reject`` (with ``reason``) or ``rewrite``."""

    action: str
    text: str | None = None
    data: Any = None
    reason: str = ""


class PreDeliveryHook(Protocol):
    """A project's content filter, asked before a message is stored; None: no hook configured."""

    async def check(
        self, app_id: str, *, kind: str, target: str, sender: str, text: str | None, data: Any
    ) -> HookVerdict | None: ...


class NullSink:
    async def stage(
        self, db: AsyncSession, app_id: str, event: str, payload: dict[str, Any], ordering_key: str
    ) -> None:
        return None

    async def publish(self, app_id: str, event: str, payload: dict[str, Any], ordering_key: str) -> None:
        return None
