"""REST endpoints for agents: ``/api/v1/projects/{app_id}/agents``.

``POST`` starts an agent (body: an :class:`~hubbub.agents.config.AgentConfig`), ``GET`` lists a
project's agents or returns one with its per-turn metrics, transcript and history, ``DELETE``
stops one; ``POST .../say`` and ``POST .../interrupt`` steer a running agent.

Authentication is the API's own (an API key or a console session): the composition root passes
the API's principal dependency in, because ``agents`` sits beside ``api`` in the layering and
does not import it. Project isolation: every call first asks
``services.projects.project_id_for(principal, app_id)``, which answers ``project_not_found`` for a
project the caller cannot see; agents of other projects are likewise ``agent_not_found``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Request

from hubbub.agents.config import AgentConfigError
from hubbub.agents.manager import AgentHandle, AgentLimitReached, AgentManager
from hubbub.control.context import Principal
from hubbub.control.errors import Conflict, InvalidInput, NotFound

API_PREFIX = "/api/v1"


def mount_agents(app: FastAPI, manager: AgentManager, principal: Callable[..., Any]) -> None:
    """Add the agent routes to ``app`` (``principal``: ``hubbub.api.deps.principal``)."""
    app.state.agents = manager
    auth = Depends(principal)  # a default, not Annotated: these annotations are strings resolved late
    router = APIRouter(prefix=f"{API_PREFIX}/projects/{{app_id}}/agents", tags=["agents"])

    async def check(request: Request, who: Principal, app_id: str) -> None:
        await request.app.state.services.projects.project_id_for(who, app_id)

    def find(app_id: str, agent_id: str) -> AgentHandle:
        handle = manager.get(app_id, agent_id)
        if handle is None:
            raise NotFound("agent_not_found", f"No agent {agent_id!r} in this project.")
        return handle

    @router.post("", status_code=201, summary="Start a voice agent in a channel")
    async def start_agent(
        app_id: str, request: Request, config: Annotated[dict[str, Any], Body()], who: Principal = auth
    ) -> dict[str, Any]:
        await check(request, who, app_id)
        try:
            handle = await manager.start(app_id, config)
        except AgentConfigError as exc:
            raise InvalidInput("invalid_agent_config", exc.message, errors=exc.errors) from None
        except AgentLimitReached as exc:
            raise Conflict("agent_limit_reached", str(exc)) from None
        return handle.info()

    @router.get("", summary="The project's agents (running and recently ended)")
    async def list_agents(app_id: str, request: Request, who: Principal = auth) -> dict[str, Any]:
        await check(request, who, app_id)
        return {"agents": [h.info() for h in manager.list(app_id)]}

    @router.get("/{agent_id}", summary="An agent's state, per-turn metrics, transcript and history")
    async def get_agent(app_id: str, agent_id: str, request: Request, who: Principal = auth) -> dict[str, Any]:
        await check(request, who, app_id)
        return find(app_id, agent_id).info(detail=True)

    @router.delete("/{agent_id}", summary="Stop an agent (it leaves the channel)")
    async def stop_agent(app_id: str, agent_id: str, request: Request, who: Principal = auth) -> dict[str, Any]:
        await check(request, who, app_id)
        handle = find(app_id, agent_id)
        await manager.stop(app_id, agent_id, reason="stopped_by_api")
        return handle.info()

    @router.post("/{agent_id}/say", summary="Make a running agent say a line (no LLM)")
    async def say(
        app_id: str,
        agent_id: str,
        request: Request,
        text: Annotated[str, Body(embed=True, max_length=2000)],
        who: Principal = auth,
    ) -> dict[str, Any]:
        await check(request, who, app_id)
        handle = find(app_id, agent_id)
        if handle.ended_at is not None:
            raise Conflict("agent_not_running", "The agent has ended.")
        handle.session.say(text)
        return {"ok": True}

    @router.post("/{agent_id}/interrupt", summary="Cut the agent short, as if the user barged in")
    async def interrupt(app_id: str, agent_id: str, request: Request, who: Principal = auth) -> dict[str, Any]:
        await check(request, who, app_id)
        find(app_id, agent_id).session.interrupt()
        return {"ok": True}

    app.include_router(router)
