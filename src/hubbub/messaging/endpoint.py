"""The messaging-only WebSocket ``/rtm/v1`` (mounted by the composition root).

One reader (this coroutine) and one writer task per socket; the writer drains the connection's
:class:`~hubbub.messaging.outbox.Outbox`, so fan-out never waits on a socket. Where the server
offers the ``hubbub.send_nowait`` scope extension (``hubbub serve`` does), a frame for a socket
whose outbox is idle is written at once instead, with no task switch; a socket that stops reading
fills its transport buffer, then its outbox, and is closed as a slow consumer.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from hubbub.messaging.outbox import CLOSE_POLICY, Outbox
from hubbub.messaging.service import MessagingService
from hubbub.messaging.session import MessagingSession
from hubbub.messaging.types import RtmAdmission
from hubbub.schema import messaging as rtm
from hubbub.util.websocket import send_nowait_of

PATH = "/rtm/v1"
WRITE_BATCH = 64


def mount_messaging(app: FastAPI, service: MessagingService, admission: RtmAdmission, path: str = PATH) -> None:
    async def rtm_socket(ws: WebSocket) -> None:
        await RtmSocket(ws, service, admission).run()

    app.add_api_websocket_route(path, rtm_socket, name="messaging")


class RtmSocket:
    def __init__(self, ws: WebSocket, service: MessagingService, admission: RtmAdmission) -> None:
        self.ws = ws
        self.service = service
        self.admission = admission
        s = service.settings
        self.outbox = Outbox(s.outbox_frames, s.outbox_bytes)
        self.session = MessagingSession(service)
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._nowait = send_nowait_of(ws.scope)

    async def run(self) -> None:
        await self.ws.accept()
        writer = self._writer = asyncio.create_task(self._write())
        try:
            first = await asyncio.wait_for(self._receive(), self.service.settings.login_timeout_s)
            if await self.session.login(first, self.admission, self._push, self._close):
                while not self.outbox.closed:
                    await self.session.handle_text(await self._receive())
            else:
                self.outbox.close(CLOSE_POLICY, "login_refused")
        except TimeoutError:
            err = rtm.Error(code=rtm.ErrorCode.login_required.value, message="send rtm_login first")
            self._push(rtm.encode(err).decode())
            self.outbox.close(CLOSE_POLICY, rtm.CloseReason.login_timeout.value)
        except WebSocketDisconnect:
            pass
        finally:
            self.session.close()
            self.outbox.close(self.outbox.close_code, self.outbox.close_reason)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 2.0)
            writer.cancel()
            if self._closer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._closer, 6.0)

    def _push(self, frame: str) -> bool:
        nowait = self._nowait
        if nowait is not None and self.outbox.idle and nowait(frame):
            return True
        return self.outbox.push(frame)

    def _close(self, code: int, reason: str) -> None:
        self.outbox.close(code, reason)
        self.session.close()  # leave every channel now, not when the socket is finally gone
        if self._writer is not None and self._closer is None:
            self._closer = asyncio.get_running_loop().create_task(self._abort())

    async def _abort(self) -> None:
        """Stop a writer stuck on a client that does not read, and close with the reason."""
        assert self._writer is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._writer), 1.0)
        self._writer.cancel()
        if self.ws.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(self.outbox.close_code, self.outbox.close_reason[:120]), 5.0)

    async def _receive(self) -> str:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            raw = message.get("bytes") or b""
            text = raw.decode("utf-8", errors="replace")
        return str(text)

    async def _write(self) -> None:
        send = self.ws.send
        try:
            while True:
                frame = await self.outbox.next()
                if frame is None:
                    break
                await send({"type": "websocket.send", "text": frame})
                for more in self.outbox.drain_ready(WRITE_BATCH):
                    await send({"type": "websocket.send", "text": more})
        except Exception:  # the socket is gone; the reader notices too
            return
        if self.ws.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(self.outbox.close_code, self.outbox.close_reason[:120])
