"""One client's messaging frames, on either socket, without the socket: frames and ``now`` in,
frames out through the client's push function.

``/rtm/v1`` (:mod:`hubbub.messaging.handler`) logs in with :meth:`MessagingSession.login`. A
call's signaling session on ``/rtc/v1`` calls :meth:`MessagingSession.attach` with the grant it
verified at ``join`` and hands every frame to :meth:`MessagingSession.handle_frame`, which answers
True for the ``rtm_*`` frames it took (and False for the others, which stay signaling's). ``now``
is the connection host's clock; it paces the frame rate limit and stamps ``rtm_pong``.
"""

from __future__ import annotations

import logging

from hubbub.messaging.channel import _encode
from hubbub.messaging.connection import CloseFn, Connection, PushFn
from hubbub.messaging.service import MessagingService
from hubbub.messaging.types import Grant, MessagingError, NewMessage, RtmAdmission, refuse
from hubbub.schema import messaging as rtm

log = logging.getLogger("hubbub.messaging")

E = rtm.ErrorCode


class MessagingSession:
    def __init__(self, service: MessagingService) -> None:
        self.service = service
        self.conn: Connection | None = None
        self._push: PushFn | None = None
        self._refusal: MessagingError | None = None

    # --- opening -----------------------------------------------------------------------------

    def attach(self, send_fn: PushFn, grant: Grant, close_fn: CloseFn | None = None) -> None:
        """Attach to an already verified session (a call's signaling socket).

        Without ``rtm_login`` in the grant, the session stays detached and every messaging
        frame is answered with the token error.
        """
        self._push = send_fn
        try:
            self.conn = self.service.connect(grant, send_fn, close_fn or (lambda _code, _reason: None))
        except MessagingError as exc:
            self._refusal = exc
            return
        self.service.spawn(self.service.deliver_offline(self.conn))

    async def login(self, text: str, admission: RtmAdmission, send_fn: PushFn, close_fn: CloseFn, now: float) -> bool:
        """Handle the first frame of ``/rtm/v1``; False (after an error frame) when refused."""
        self._push = send_fn
        try:
            msg = rtm.decode_client(text)
        except rtm.ProtocolError as exc:
            self._error(exc.code.value, exc.message, exc.request_id)
            return False
        if not isinstance(msg, rtm.Login):
            self._error(E.login_required.value, "the first message must be rtm_login", msg.id)
            return False
        if msg.protocol != rtm.PROTOCOL_VERSION:
            self._error(E.unsupported_protocol.value, f"this server speaks protocol {rtm.PROTOCOL_VERSION}", msg.id)
            return False
        try:
            grant = await admission.admit_rtm(token=msg.token, app_id=msg.app_id, user_id=msg.user_id)
            self.conn = self.service.connect(grant, send_fn, close_fn)
        except MessagingError as exc:
            log.info("rtm login refused", extra={"code": exc.code})
            self._error(exc.code, exc.message, msg.id)
            return False
        self._send(
            rtm.LoggedIn(
                re=msg.id,
                user_id=self.conn.user_id,
                session_id=self.conn.sid,
                server_time=now,
                limits=self.service.limits(),
            )
        )
        await self.service.deliver_offline(self.conn)
        return True

    def renew(self, grant: Grant) -> None:
        """Use a renewed token's grant (privileges and expiry) from now on."""
        if self.conn is not None:
            self.conn.grant = grant

    def close(self) -> None:
        if self.conn is not None:
            self.service.disconnect(self.conn)
            self.conn = None

    # --- frames ------------------------------------------------------------------------------

    async def handle_frame(self, text: str, now: float) -> bool:
        """Handle one frame if it is a messaging one (``rtm_*``); False leaves it to the caller."""
        if not rtm.is_messaging_type(rtm.frame_type(text)):
            return False
        await self.handle_text(text, now)
        return True

    async def handle_text(self, text: str, now: float) -> None:
        conn = self.conn
        if conn is not None and conn.frames.take(now) > 0:
            self._send(rtm.Closing(reason=rtm.CloseReason.flood.value, message="far beyond the rate limit"))
            conn.flood()
            return
        try:
            msg = rtm.decode_client(text)
        except rtm.ProtocolError as exc:
            self._error(exc.code.value, exc.message, exc.request_id)
            return
        try:
            if conn is None:
                if self._refusal is not None:
                    raise self._refusal
                raise refuse(E.login_required, "log in first")
            await self._handle(conn, msg, now)
        except MessagingError as exc:
            self._error(exc.code, exc.message, msg.id, exc.retry_after)
        except Exception:
            log.exception("messaging request failed", extra={"type": type(msg).__name__})
            self._error(E.server_error.value, "the server failed to handle this request", msg.id)

    async def _handle(self, conn: Connection, msg: rtm.ClientMessage, now: float) -> None:
        svc = self.service
        match msg:
            case rtm.Send():
                ack = await svc.send(conn, msg.channel, _new_message(conn, msg))
                ack.re = msg.id
                self._send(ack)
            case rtm.SendPeer():
                ack = await svc.send_peer(conn, msg.to, _new_message(conn, msg))
                ack.re = msg.id
                self._send(ack)
            case rtm.Subscribe():

                def reply(sub: rtm.Subscribed) -> None:
                    sub.re = msg.id
                    sub.members = svc.members(conn.app_id, msg.channel) if msg.presence else []
                    self._send(sub)

                await svc.subscribe(conn, msg.channel, since_seq=msg.since_seq, presence=msg.presence, reply=reply)
            case rtm.Unsubscribe():
                svc.unsubscribe(conn, msg.channel)
                self._send(rtm.Unsubscribed(channel=msg.channel, re=msg.id))
            case rtm.History():
                page = await svc.history(conn, conn.app_id, msg)
                page.re = msg.id
                self._send(page)
            case rtm.PeerAck():
                await svc.ack_peer(conn, msg.seq)
                self._ok(msg.id)
            case rtm.SetPresence():
                svc.set_attrs(conn, msg.attrs)
                self._ok(msg.id)
            case rtm.GetPresence():
                await svc.hub(conn.app_id, msg.channel)
                self._send(
                    rtm.PresenceList(channel=msg.channel, members=svc.members(conn.app_id, msg.channel), re=msg.id)
                )
            case rtm.Typing():
                svc.typing(conn, msg.channel, msg.to)
                if msg.id is not None:
                    self._ok(msg.id)
            case rtm.MarkRead():
                await svc.mark_read(conn, msg.channel, msg.seq)
                self._ok(msg.id)
            case rtm.GetUnread():
                counts = await svc.unread(conn.app_id, conn.user_id, msg.channels or sorted(conn.channels))
                self._send(rtm.Unread(counts=counts, re=msg.id))
            case rtm.Delete():
                await svc.delete_message(conn, conn.app_id, msg.channel, msg.message_id)
                self._ok(msg.id)
            case rtm.Ping():
                self._send(rtm.Pong(t=msg.t, server_t=now * 1000.0, re=msg.id))
            case rtm.Logout():
                self._send(rtm.Closing(reason=rtm.CloseReason.client_logout.value, re=msg.id))
                conn.close(rtm.CloseReason.client_logout.value)
            case rtm.Login():
                raise refuse(E.already_logged_in, "this session is logged in already")

    # --- replies -----------------------------------------------------------------------------

    def _send(self, event: rtm.ServerMessage) -> None:
        if self._push is not None:
            self._push(_encode(event))

    def _ok(self, re: str | None) -> None:
        self._send(rtm.Ok(re=re))

    def _error(self, code: str, message: str, re: str | None, retry_after: float | None = None) -> None:
        self._send(rtm.Error(code=code, message=message, re=re, retry_after=retry_after))


def _new_message(conn: Connection, msg: rtm.Send | rtm.SendPeer) -> NewMessage:
    return NewMessage(
        conn.app_id,
        conn.user_id,
        text=msg.text,
        data=msg.data,
        attachments=tuple(msg.attachments),
        client_msg_id=msg.client_msg_id,
    )


__all__ = ["MessagingSession"]
