"""Mounts the signaling WebSocket ``/rtc/v1``: one connection host per socket, driving a
:class:`~hubbub.signaling.handler.SignalingHandler` under the join deadline and outbox budget."""

from __future__ import annotations

import sys

from fastapi import FastAPI

from hubbub.control.admission import Admission
from hubbub.messaging import MessagingService
from hubbub.rooms.service import RoomService
from hubbub.server.connection import HostLimits, mount_socket
from hubbub.signaling.handler import JOIN_TIMEOUT, OUTBOX_LIMIT, SignalingHandler

PATH = "/rtc/v1"
LIMITS = HostLimits(first_frame_s=JOIN_TIMEOUT, max_frames=OUTBOX_LIMIT, max_bytes=sys.maxsize)
"""Signaling frames are few and small: the outbox counts frames, not bytes."""


def mount_signaling(
    app: FastAPI, rooms: RoomService, admission: Admission, messaging: MessagingService | None = None
) -> None:
    """``messaging``: in-call users also message over this socket (``rtm_*`` frames)."""
    mount_socket(
        app, PATH, "signaling", lambda: SignalingHandler(rooms, admission, messaging), lambda: LIMITS, rooms.clock
    )
