"""One signaling session per WebSocket: join first, then requests until leave or disconnect.

Frames are decoded with :func:`hubbub.schema.signaling.decode_client`; a bad frame gets an
``error`` frame and the session goes on (before ``join`` it is closed instead). Events for the
client go through :class:`QueueOutbox`: straight to the socket while it takes them, else queued
for one writer task, so a slow client can never block a room: when its queue overflows it is
disconnected with a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from hubbub.control.admission import Admission
from hubbub.control.tokens import TokenError
from hubbub.messaging import MessagingService, MessagingSession
from hubbub.rooms.model import Participant, ParticipantState, Room
from hubbub.rooms.service import RoomError, RoomService
from hubbub.schema import signaling as sig
from hubbub.util.websocket import SendNowait, send_nowait_of

log = logging.getLogger("hubbub.signaling")

JOIN_TIMEOUT = 10.0
OUTBOX_LIMIT = 2048
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008  # RFC 6455 §7.4.1: policy violation (no join, refused join)
CLOSE_SLOW = 4008  # the client did not read its events fast enough


class QueueOutbox:
    """A participant's outgoing frames; never blocks the caller.

    With ``nowait`` (the server's ``hubbub.send_nowait`` WebSocket extension) a frame goes
    straight to the socket while nothing is queued or being written; otherwise (the socket's
    buffer is over its high-water mark) it queues for the writer task, so frames keep their order.
    """

    def __init__(self, nowait: SendNowait | None = None) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(OUTBOX_LIMIT)
        self.nowait = nowait
        self.in_flight = False  # the writer holds a frame it has not finished sending
        self.closed = False
        self.close_code = CLOSE_NORMAL
        self.close_reason = ""

    def send(self, message: sig.ServerMessage) -> None:
        if self.closed:
            return
        self.put(sig.encode(message).decode())

    def put(self, text: str) -> bool:
        """One encoded frame (signaling or messaging); False once closed or just overflowed."""
        if self.closed:
            return False
        nowait = self.nowait
        if nowait is not None and not self.in_flight and self.queue.empty() and nowait(text):
            return True
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("slow signaling consumer disconnected")
            self._finish(CLOSE_SLOW, "slow_consumer")
            return False
        return True

    def close(self, reason: sig.LeaveReason, message: str = "") -> None:
        self._finish(CLOSE_NORMAL, reason.value)

    def _finish(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)
        if self.queue.full():  # make room for the end marker
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class SignalingSession:
    def __init__(
        self, ws: WebSocket, rooms: RoomService, admission: Admission, messaging: MessagingService | None = None
    ) -> None:
        self.ws = ws
        self.rooms = rooms
        self.admission = admission
        self.outbox = QueueOutbox(send_nowait_of(ws.scope))
        self.messaging = MessagingSession(messaging) if messaging is not None else None
        self.room: Room | None = None
        self.participant: Participant | None = None

    async def run(self) -> None:
        await self.ws.accept()
        writer = asyncio.create_task(self._writer())
        try:
            if await self._join():
                await self._serve()
        except WebSocketDisconnect:
            pass
        finally:
            if self.messaging is not None:
                self.messaging.close()
            p = self.participant
            if p is not None and p.outbox is self.outbox and p.state is ParticipantState.joined:
                self.rooms.disconnected(p)
            self.outbox._finish(self.outbox.close_code, self.outbox.close_reason)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 2.0)
            writer.cancel()

    async def _writer(self) -> None:
        while True:
            frame = await self.outbox.queue.get()
            if frame is None:
                break
            self.outbox.in_flight = True
            try:
                await self.ws.send_text(frame)
            except Exception:  # the socket is gone; the reader side notices too
                return
            finally:
                self.outbox.in_flight = False
        if self.ws.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(self.outbox.close_code, self.outbox.close_reason[:120])

    def _push_text(self, text: str) -> bool:
        """Messaging frames, already encoded, into the same outbox as signaling events."""
        return self.outbox.put(text)

    def _ack(self, msg: sig.ClientMessage) -> None:
        if msg.id is not None:
            self.outbox.send(sig.Ack(re=msg.id))

    def _error(self, code: str, message: str, re: str | None) -> None:
        self.outbox.send(sig.Error(code=code, message=message, re=re))

    async def _receive(self) -> str | None:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None and message.get("bytes") is not None:
            text = message["bytes"].decode("utf-8", errors="replace")
        return text

    async def _join(self) -> bool:
        try:
            text = await asyncio.wait_for(self._receive(), JOIN_TIMEOUT)
        except TimeoutError:
            self._error(sig.ErrorCode.join_required, f"send join within {JOIN_TIMEOUT:.0f} s", None)
            self.outbox._finish(CLOSE_POLICY, "join_timeout")
            return False
        try:
            msg = sig.decode_client(text or "")
        except sig.ProtocolError as exc:
            self._error(exc.code, exc.message, exc.request_id)
            self.outbox._finish(CLOSE_POLICY, "invalid_join")
            return False
        if not isinstance(msg, sig.Join):
            self._error(sig.ErrorCode.join_required, f"the first message must be join, not {_type(msg)}", msg.id)
            self.outbox._finish(CLOSE_POLICY, "join_required")
            return False
        if msg.protocol != sig.PROTOCOL_VERSION:
            self._error(
                sig.ErrorCode.unsupported_protocol, f"this server speaks protocol {sig.PROTOCOL_VERSION}", msg.id
            )
            self.outbox._finish(CLOSE_POLICY, "unsupported_protocol")
            return False
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
            self._error(exc.code.value, exc.message, msg.id)
            self.outbox._finish(CLOSE_POLICY, exc.code.value)
            return False
        except RoomError as exc:
            self._error(exc.code, exc.message, msg.id)
            self.outbox._finish(CLOSE_POLICY, exc.code)
            return False
        self.room, self.participant = outcome.room, outcome.participant
        outcome.joined.re = msg.id
        for message in outcome.frames():
            self.outbox.send(message)
        participant = outcome.participant
        if self.messaging is not None:
            self.messaging.attach(self._push_text, participant.grant, self.outbox._finish)
        return True

    async def _serve(self) -> None:
        while not self.outbox.closed:
            text = await self._receive()
            if self.messaging is not None and await self.messaging.handle_frame(text or ""):
                continue
            try:
                msg = sig.decode_client(text or "")
            except sig.ProtocolError as exc:
                self._error(exc.code, exc.message, exc.request_id)
                continue
            if isinstance(msg, sig.Leave):
                assert self.participant is not None
                self.rooms.leave(self.participant, sig.LeaveReason.client_left)
                self.outbox.close(sig.LeaveReason.client_left)
                return
            try:
                await self._handle(msg)
            except RoomError as exc:
                self._error(exc.code, exc.message, msg.id)
            except TokenError as exc:
                self._error(exc.code.value, exc.message, msg.id)
            except Exception:
                log.exception("signaling request failed", extra={"type": _type(msg)})
                self._error(sig.ErrorCode.server_error, "the server failed to handle this request", msg.id)

    async def _handle(self, msg: sig.ClientMessage) -> None:
        room, p, rooms = self.room, self.participant, self.rooms
        assert room is not None and p is not None
        if p.state is not ParticipantState.joined:
            raise RoomError(sig.ErrorCode.join_required, "this session no longer holds the participant")
        match msg:
            case sig.Ping():
                self.outbox.send(sig.Pong(t=msg.t, server_t=time.time() * 1000.0, re=msg.id))
            case sig.Publish():
                pub = rooms.publish(room, p, msg)
                self.outbox.send(sig.TrackPublished(cid=pub.cid, track=pub.info(), re=msg.id))
            case sig.Offer():
                answer, refusal = rooms.publisher_offer(room, p, msg.sdp)
                self.outbox.send(sig.Answer(sdp=answer, re=msg.id))
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
                self.outbox.send(sig.TrackMuted(participant_sid=p.sid, track_sid=pub.sid, muted=pub.muted, re=msg.id))
            case sig.Subscribe():
                rooms.subscribe(room, p, msg.track_sids, msg.subscribe)
                self._ack(msg)
            case sig.RenewToken():
                grant = await self.admission.verify(msg.token, channel=room.channel, app_id=p.grant.app_id)
                rooms.renew(p, grant)
                if self.messaging is not None:
                    self.messaging.renew(grant)
                self.outbox.send(
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
