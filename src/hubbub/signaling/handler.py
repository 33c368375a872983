"""The ``/rtc/v1`` protocol: ``join`` first, then requests until ``leave`` or disconnect.

Theory of operation
===================

:class:`SignalingHandler` is the protocol handler the server's connection host
(:mod:`hubbub.server.connection`) drives, one per socket. It never sees the socket, never reads
the clock and never sleeps: it gets each client frame as text with ``now`` (wall-clock seconds),
and answers through the ``push(text)`` and ``close(code, reason)`` functions the host gives it
when the socket opens. The use cases it calls may be awaited (token checks at ``join`` and
``renew_token``); the room service is synchronous.

- The first frame must be a ``join`` of this protocol version whose token is admitted; otherwise
  the client gets an ``error`` frame and the socket is closed with 1008 and a reason. When no frame
  comes within :data:`JOIN_TIMEOUT` the host asks :meth:`SignalingHandler.first_frame_missed`.
- A join's outcome (:class:`~hubbub.rooms.service.JoinOutcome`: ``joined``, then its follow-up
  frames) is pushed in order. From then on the room's events for the participant (other
  participants, subscriber offers, kicks) are pushed as they happen, through the participant's
  outbox (:class:`ParticipantOutbox`).
- Each later frame is a request: an ``rtm_*`` frame goes to the call's
  :class:`~hubbub.messaging.MessagingSession`; a bad frame or a refused request gets an ``error``
  frame and the session goes on. ``leave`` leaves the room and closes with 1000.
- When the socket is gone (:meth:`SignalingHandler.closed`) a participant still held by this
  connection becomes *disconnected*: it may resume from a new one within the reconnect window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from hubbub.control.tokens import TokenError
from hubbub.messaging import MessagingService, MessagingSession
from hubbub.rooms.model import Grant, Participant, ParticipantState, Room
from hubbub.rooms.service import RoomError, RoomService
from hubbub.schema import signaling as sig
from hubbub.schema.close import CLOSE_NORMAL, CLOSE_POLICY

log = logging.getLogger("hubbub.signaling")

JOIN_TIMEOUT = 10.0
"""Seconds a new socket has to send ``join``."""
OUTBOX_LIMIT = 2048
"""Frames queued for a client that does not keep up before it is disconnected (4008 slow_consumer)."""
JOIN_TIMEOUT_REASON = "join_timeout"

Push = Callable[[str], bool]
"""Hand the client one encoded frame; False once its outbox is closed (or just overflowed)."""
Close = Callable[[int, str], None]
"""Close the socket with a WebSocket close code and a reason, after what is queued."""


class JoinAdmission(Protocol):
    """The token checks signaling needs (:class:`hubbub.control.admission.Admission` is one)."""

    async def admit(self, *, token: str, channel: str, app_id: str = "", user_id: str = "") -> tuple[Grant, str]: ...

    async def verify(self, token: str, *, channel: str | None, app_id: str | None = None) -> Grant: ...


def _not_open(_frame: str) -> bool:
    return False


def _no_socket(_code: int, _reason: str) -> None:
    """Before the socket opens there is nothing to close."""


class ParticipantOutbox:
    """Where the room sends this connection's participant its events: encoded, then pushed."""

    __slots__ = ("_handler",)

    def __init__(self, handler: SignalingHandler) -> None:
        self._handler = handler

    def send(self, message: sig.ServerMessage) -> None:
        self._handler.send(message)

    def close(self, reason: sig.LeaveReason, message: str = "") -> None:
        self._handler.close(CLOSE_NORMAL, reason.value)


class SignalingHandler:
    def __init__(self, rooms: RoomService, admission: JoinAdmission, messaging: MessagingService | None = None) -> None:
        self.rooms = rooms
        self.admission = admission
        self.messaging = MessagingSession(messaging) if messaging is not None else None
        self.outbox = ParticipantOutbox(self)
        self.room: Room | None = None
        self.participant: Participant | None = None
        self.closing = False  # this side closed the socket: later frames are not read
        self._push: Push = _not_open
        self._close: Close = _no_socket

    # --- what the host calls ---------------------------------------------------------------------

    def opened(self, push: Push, close: Close, now: float) -> None:
        self._push = push
        self._close = close

    async def received(self, text: str, now: float) -> None:
        if self.closing:
            return
        if self.participant is None:
            await self._join(text)
        else:
            await self._request(text, now)

    def first_frame_missed(self, now: float) -> str:
        self._error(sig.ErrorCode.join_required, f"send join within {JOIN_TIMEOUT:.0f} s", None)
        self.closing = True
        return JOIN_TIMEOUT_REASON

    def closed(self, now: float) -> None:
        if self.messaging is not None:
            self.messaging.close()
        p = self.participant
        if p is not None and p.outbox is self.outbox and p.state is ParticipantState.joined:
            self.rooms.disconnected(p)

    # --- out -------------------------------------------------------------------------------------

    def send(self, message: sig.ServerMessage) -> None:
        if not self.closing:
            self._push(sig.encode(message).decode())

    def close(self, code: int, reason: str) -> None:
        self.closing = True
        self._close(code, reason)

    def _push_text(self, text: str) -> bool:
        """Messaging frames, already encoded, into the same outbox as signaling events."""
        return self._push(text)

    def _ack(self, msg: sig.ClientMessage) -> None:
        if msg.id is not None:
            self.send(sig.Ack(re=msg.id))

    def _error(self, code: str, message: str, re: str | None) -> None:
        self.send(sig.Error(code=code, message=message, re=re))

    def _refuse(self, code: str, message: str, re: str | None, reason: str) -> None:
        self._error(code, message, re)
        self.close(CLOSE_POLICY, reason)

    # --- join ------------------------------------------------------------------------------------

    async def _join(self, text: str) -> None:
        try:
            msg = sig.decode_client(text)
        except sig.ProtocolError as exc:
            self._refuse(exc.code, exc.message, exc.request_id, "invalid_join")
            return
        if not isinstance(msg, sig.Join):
            self._refuse(
                sig.ErrorCode.join_required,
                f"the first message must be join, not {_type(msg)}",
                msg.id,
                "join_required",
            )
            return
        if msg.protocol != sig.PROTOCOL_VERSION:
            self._refuse(
                sig.ErrorCode.unsupported_protocol,
                f"this server speaks protocol {sig.PROTOCOL_VERSION}",
                msg.id,
                "unsupported_protocol",
            )
            return
        try:
            grant, channel = await self.admission.admit(
                token=msg.token, channel=msg.channel, app_id=msg.app_id, user_id=msg.user_id
            )
            outcome = self.rooms.join(
                grant,
                channel,
                self.outbox,
                name=msg.name,
                metadata=msg.metadata,
                auto_subscribe=msg.auto_subscribe,
                resume_sid=msg.resume_sid,
                resume_key=msg.resume_key,
                inline_offer=msg.inline_offer,
            )
        except TokenError as exc:
            log.info("join refused", extra={"code": exc.code.value})
            self._refuse(exc.code.value, exc.message, msg.id, exc.code.value)
            return
        except RoomError as exc:
            self._refuse(exc.code, exc.message, msg.id, exc.code)
            return
        self.room, self.participant = outcome.room, outcome.participant
        outcome.joined.re = msg.id
        for message in outcome.frames():
            self.send(message)
        if self.messaging is not None:
            self.messaging.attach(self._push_text, outcome.participant.grant, self.close)

    # --- requests --------------------------------------------------------------------------------

    async def _request(self, text: str, now: float) -> None:
        if self.messaging is not None and await self.messaging.handle_frame(text, now):
            return
        try:
            msg = sig.decode_client(text)
        except sig.ProtocolError as exc:
            self._error(exc.code, exc.message, exc.request_id)
            return
        if isinstance(msg, sig.Leave):
            assert self.participant is not None
            self.rooms.leave(self.participant, sig.LeaveReason.client_left)
            self.close(CLOSE_NORMAL, sig.LeaveReason.client_left.value)
            return
        try:
            await self._handle(msg, now)
        except RoomError as exc:
            self._error(exc.code, exc.message, msg.id)
        except TokenError as exc:
            self._error(exc.code.value, exc.message, msg.id)
        except Exception:
            log.exception("signaling request failed", extra={"type": _type(msg)})
            self._error(sig.ErrorCode.server_error, "the server failed to handle this request", msg.id)

    async def _handle(self, msg: sig.ClientMessage, now: float) -> None:
        room, p, rooms = self.room, self.participant, self.rooms
        assert room is not None and p is not None
        if p.state is not ParticipantState.joined:
            raise RoomError(sig.ErrorCode.join_required, "this session no longer holds the participant")
        match msg:
            case sig.Ping():
                self.send(sig.Pong(t=msg.t, server_t=now * 1000.0, re=msg.id))
            case sig.Publish():
                pub = rooms.publish(room, p, msg)
                self.send(sig.TrackPublished(cid=pub.cid, track=pub.info(), re=msg.id))
            case sig.Offer():
                answer, refusal = rooms.publisher_offer(room, p, msg.sdp)
                self.send(sig.Answer(sdp=answer, re=msg.id))
                if refusal is not None:  # after the answer, which a client applies to settle its offer
                    self._error(refusal.code, refusal.message, msg.id)
            case sig.Answer():
                rooms.subscriber_answer(room, p, msg.sdp)
                self._ack(msg)
            case sig.Trickle():
                self._ack(msg)  # ICE-lite: the server learns addresses from connectivity checks
            case sig.Unpublish():
                rooms.unpublish(room, p, msg.track_sid)
                self._ack(msg)
            case sig.Mute():
                pub = rooms.mute(room, p, msg.track_sid, msg.muted)
                self.send(sig.TrackMuted(participant_sid=p.sid, track_sid=pub.sid, muted=pub.muted, re=msg.id))
            case sig.Subscribe():
                rooms.subscribe(room, p, msg.track_sids, msg.subscribe)
                self._ack(msg)
            case sig.UpdateSubscription():
                rooms.update_subscription(
                    room, p, msg.track_sids, msg.quality, msg.width, msg.height, visible=msg.visible
                )
                self._ack(msg)
            case sig.RenewToken():
                grant = await self.admission.verify(msg.token, channel=room.channel, app_id=p.grant.app_id)
                rooms.renew(p, grant)
                if self.messaging is not None:
                    self.messaging.renew(grant)
                self.send(
                    sig.TokenRenewed(
                        expires_at=grant.expires_at,
                        privileges={k.value: v for k, v in grant.privileges.items()},
                        re=msg.id,
                    )
                )
            case sig.Join():
                raise RoomError(sig.ErrorCode.already_joined, "this session has joined already")


def _type(msg: object) -> str:
    return type(msg).__name__.lower()
