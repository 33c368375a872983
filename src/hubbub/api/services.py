"""What the API layer is handed by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from hubbub.config import Settings
from hubbub.control.accounts import Accounts
from hubbub.control.apikeys import ApiKeys
from hubbub.control.projects import Projects
from hubbub.control.usage import Usage
from hubbub.rooms.service import RoomService
from hubbub.util.clock import Clock


@dataclass(slots=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    clock: Clock
    accounts: Accounts
    projects: Projects
    api_keys: ApiKeys
    usage: Usage
    rooms: RoomService | None = None  # the live rooms (None in processes without media)
