"""What the API layer is handed by the composition root."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from hubbub.config import Settings
from hubbub.control.accounts import Accounts
from hubbub.control.apikeys import ApiKeys
from hubbub.control.projects import Projects
from hubbub.control.usage import Usage
from hubbub.rooms.service import RoomService
from hubbub.util.clock import Clock


class AgentControl(Protocol):
    """What the REST routes steer a running agent with (``hubbub.agents.session.AgentSession``)."""

    def say(self, text: str) -> None: ...

    def interrupt(self) -> None: ...


class AgentView(Protocol):
    """One agent as the REST routes show it (``hubbub.agents.manager.AgentHandle``)."""

    @property
    def ended_at(self) -> float | None: ...

    @property
    def session(self) -> AgentControl: ...

    def info(self, *, detail: bool = False) -> dict[str, Any]: ...


class AgentRunner(Protocol):
    """The voice agents of this worker (``hubbub.agents.manager.AgentManager``).

    ``agents`` ranks beside ``api``, so the API reaches it through this shape, handed in by the
    composition root; ``start`` refuses with control errors (``invalid_agent_config`` 422,
    ``agent_limit_reached`` 409), which the API answers as problems like its own.
    """

    async def start(self, app_id: str, config: dict[str, Any]) -> AgentView: ...

    def get(self, app_id: str, agent_id: str) -> AgentView | None: ...

    def list(self, app_id: str) -> Sequence[AgentView]: ...

    async def stop(self, app_id: str, agent_id: str, *, reason: str = "stopped") -> bool: ...


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
    agents: AgentRunner | None = None  # the voice agents (None in processes that run none)
