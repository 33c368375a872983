"""Mounts ``/rtc/v1`` on the ASGI app (called by the composition root)."""

from __future__ import annotations

from fastapi import FastAPI, WebSocket

from hubbub.control.admission import Admission
from hubbub.messaging import MessagingService
from hubbub.rooms.service import RoomService
from hubbub.signaling.session import SignalingSession

PATH = "/rtc/v1"


def mount_signaling(
    app: FastAPI, rooms: RoomService, admission: Admission, messaging: MessagingService | None = None
) -> None:
    """``messaging``: in-call users also message over this socket (``rtm_*`` frames)."""

    async def rtc(ws: WebSocket) -> None:
        await SignalingSession(ws, rooms, admission, messaging).run()

    app.add_api_websocket_route(PATH, rtc, name="signaling")
