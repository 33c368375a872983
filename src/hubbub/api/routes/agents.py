"""Voice agents of a project: ``/api/v1/projects/{app_id}/agents``.

``POST`` starts an agent (body: an agent config, ``hubbub.agents.config.AgentConfig``), ``GET``
lists a project's agents or returns one with its per-turn metrics, transcript and history,
``DELETE`` stops one; ``POST .../say`` and ``POST .../interrupt`` steer a running agent.

Authentication is the API's own (an API key or a console session). Isolation comes first: every
call asks ``projects.project_id_for(principal, app_id)``, which answers ``project_not_found`` for a
project the caller cannot see; agents of other projects are likewise ``agent_not_found``. The
agents themselves are the worker's :class:`~hubbub.api.services.AgentRunner`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from hubbub.api.deps import PrincipalDep, ServicesDep
from hubbub.api.services import AgentRunner, AgentView, Services
from hubbub.control.context import Principal
from hubbub.control.errors import Conflict, NotFound

router = APIRouter(prefix="/projects/{app_id}/agents", tags=["agents"])


async def _runner(svc: Services, who: Principal, app_id: str) -> AgentRunner:
    """The worker's agents, once the caller is known to see the project."""
    await svc.projects.project_id_for(who, app_id)
    if svc.agents is None:
        raise NotFound("agents_not_running", "This server runs no voice agents.")
    return svc.agents


def _find(agents: AgentRunner, app_id: str, agent_id: str) -> AgentView:
    handle = agents.get(app_id, agent_id)
    if handle is None:
        raise NotFound("agent_not_found", f"No agent {agent_id!r} in this project.")
    return handle


@router.post("", status_code=201, summary="Start a voice agent in a channel")
async def start_agent(
    app_id: str, config: Annotated[dict[str, Any], Body()], svc: ServicesDep, who: PrincipalDep
) -> dict[str, Any]:
    agents = await _runner(svc, who, app_id)
    handle = await agents.start(app_id, config)
    return handle.info()


@router.get("", summary="The project's agents (running and recently ended)")
async def list_agents(app_id: str, svc: ServicesDep, who: PrincipalDep) -> dict[str, Any]:
    agents = await _runner(svc, who, app_id)
    return {"agents": [h.info() for h in agents.list(app_id)]}


@router.get("/{agent_id}", summary="An agent's state, per-turn metrics, transcript and history")
async def get_agent(app_id: str, agent_id: str, svc: ServicesDep, who: PrincipalDep) -> dict[str, Any]:
    agents = await _runner(svc, who, app_id)
    return _find(agents, app_id, agent_id).info(detail=True)


@router.delete("/{agent_id}", summary="Stop an agent (it leaves the channel)")
async def stop_agent(app_id: str, agent_id: str, svc: ServicesDep, who: PrincipalDep) -> dict[str, Any]:
    agents = await _runner(svc, who, app_id)
    handle = _find(agents, app_id, agent_id)
    await agents.stop(app_id, agent_id, reason="stopped_by_api")
    return handle.info()


@router.post("/{agent_id}/say", summary="Make a running agent say a line (no LLM)")
async def say(
    app_id: str,
    agent_id: str,
    text: Annotated[str, Body(embed=True, max_length=2000)],
    svc: ServicesDep,
    who: PrincipalDep,
) -> dict[str, Any]:
    agents = await _runner(svc, who, app_id)
    handle = _find(agents, app_id, agent_id)
    if handle.ended_at is not None:
        raise Conflict("agent_not_running", "The agent has ended.")
    handle.session.say(text)
    return {"ok": True}


@router.post("/{agent_id}/interrupt", summary="Cut the agent short, as if the user barged in")
async def interrupt(app_id: str, agent_id: str, svc: ServicesDep, who: PrincipalDep) -> dict[str, Any]:
    agents = await _runner(svc, who, app_id)
    _find(agents, app_id, agent_id).session.interrupt()
    return {"ok": True}
