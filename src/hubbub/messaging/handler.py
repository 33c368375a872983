"""The ``/rtm/v1`` protocol: ``rtm_login`` first, then messaging frames until logout or disconnect.

:class:`RtmHandler` is the protocol handler the server's connection host
(:mod:`hubbub.server.connection`) drives: it gets each frame with ``now`` and answers through the
``push`` and ``close`` functions the host gives it; it never sees the socket. The frames after
login are :class:`~hubbub.messaging.session.MessagingSession`'s, as on a call's ``/rtc/v1`` socket.
"""

from __future__ import annotations

from hubbub.messaging.connection import CloseFn, PushFn
from hubbub.messaging.service import MessagingService
from hubbub.messaging.session import MessagingSession
from hubbub.messaging.types import RtmAdmission
from hubbub.schema import messaging as rtm
from hubbub.schema.close import CLOSE_POLICY

LOGIN_REFUSED = "login_refused"


def _closed(_code: int, _reason: str) -> None:
    """Before the socket opens there is nothing to close."""


class RtmHandler:
    def __init__(self, service: MessagingService, admission: RtmAdmission) -> None:
        self.session = MessagingSession(service)
        self.admission = admission
        self.logged_in = False
        self._push: PushFn = lambda _frame: False
        self._close_socket: CloseFn = _closed

    def opened(self, push: PushFn, close: CloseFn, now: float) -> None:
        self._push = push
        self._close_socket = close

    async def received(self, text: str, now: float) -> None:
        if self.logged_in:
            await self.session.handle_text(text, now)
        elif await self.session.login(text, self.admission, self._push, self._close, now):
            self.logged_in = True
        else:
            self._close_socket(CLOSE_POLICY, LOGIN_REFUSED)

    def first_frame_missed(self, now: float) -> str:
        error = rtm.Error(code=rtm.ErrorCode.login_required.value, message="send rtm_login first")
        self._push(rtm.encode(error).decode())
        return rtm.CloseReason.login_timeout.value

    def closed(self, now: float) -> None:
        self.session.close()

    def _close(self, code: int, reason: str) -> None:
        """The service closes a connection (logout, flood, token expiry, slow consumer, shutdown)."""
        self._close_socket(code, reason)
        self.session.close()  # leave every channel now, not when the socket is finally gone
