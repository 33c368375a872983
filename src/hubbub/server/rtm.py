"""Mounts the messaging-only WebSocket ``/rtm/v1``: one connection host per socket, driving an
:class:`~hubbub.messaging.handler.RtmHandler` under the messaging settings' login deadline and
outbox budgets."""

from __future__ import annotations

from fastapi import FastAPI

from hubbub.messaging.handler import RtmHandler
from hubbub.messaging.service import MessagingService
from hubbub.messaging.types import RtmAdmission
from hubbub.server.connection import HostLimits, mount_socket

PATH = "/rtm/v1"


def mount_messaging(app: FastAPI, service: MessagingService, admission: RtmAdmission, path: str = PATH) -> None:
    def limits() -> HostLimits:
        s = service.settings
        return HostLimits(first_frame_s=s.login_timeout_s, max_frames=s.outbox_frames, max_bytes=s.outbox_bytes)

    mount_socket(app, path, "messaging", lambda: RtmHandler(service, admission), limits, service.clock)
