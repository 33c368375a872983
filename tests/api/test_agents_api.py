"""The agent routes alone, on a scripted runner in place of the worker's agent manager: project
isolation first, then each route's answer and refusal (tests/agents/test_live.py drives the same
routes with real agents on a live server)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from hubbub.agents.config import AgentConfigError
from hubbub.agents.manager import AgentLimitReached
from hubbub.server import Platform

API = "/api/v1"
MakeProject = Callable[..., Awaitable[dict[str, Any]]]
SignIn = Callable[..., Awaitable[httpx.AsyncClient]]


@dataclass
class Session:
    said: list[str] = field(default_factory=list)
    interrupts: int = 0

    def say(self, text: str) -> None:
        self.said.append(text)

    def interrupt(self) -> None:
        self.interrupts += 1


@dataclass
class Agent:
    agent_id: str
    app_id: str
    session: Session = field(default_factory=Session)
    ended_at: float | None = None

    def info(self, *, detail: bool = False) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "detail": detail, "ended": self.ended_at is not None}


class Runner:
    """Starts a scripted agent per call; a config's ``refuse`` names the refusal to raise."""

    def __init__(self) -> None:
        self.agents: dict[str, Agent] = {}
        self.stops: list[tuple[str, str, str]] = []

    async def start(self, app_id: str, config: dict[str, Any]) -> Agent:
        if config.get("refuse") == "config":
            raise AgentConfigError("channel: required", [{"field": "channel", "message": "required"}])
        if config.get("refuse") == "limit":
            raise AgentLimitReached("this worker already runs 1 agents")
        agent = Agent(f"ag_{len(self.agents)}", app_id)
        self.agents[agent.agent_id] = agent
        return agent

    def get(self, app_id: str, agent_id: str) -> Agent | None:
        agent = self.agents.get(agent_id)
        return agent if agent is not None and agent.app_id == app_id else None

    def list(self, app_id: str) -> Sequence[Agent]:
        return [a for a in self.agents.values() if a.app_id == app_id]

    async def stop(self, app_id: str, agent_id: str, *, reason: str = "stopped") -> bool:
        self.stops.append((app_id, agent_id, reason))
        return True


@pytest.fixture
def runner(platform: Platform) -> Runner:
    platform.services.agents = runner = Runner()
    return runner


async def test_a_project_the_caller_cannot_see_is_not_found_on_every_route(
    runner: Runner, sign_in: SignIn, make_project: MakeProject
) -> None:
    owner, stranger = await sign_in(), await sign_in()
    base = f"{API}/projects/{(await make_project(owner))['app_id']}/agents"
    calls = [
        stranger.post(base, json={"channel": "room1"}),
        stranger.get(base),
        stranger.get(f"{base}/ag_0"),
        stranger.delete(f"{base}/ag_0"),
        stranger.post(f"{base}/ag_0/say", json={"text": "hi"}),
        stranger.post(f"{base}/ag_0/interrupt"),
    ]
    for call in calls:
        r = await call
        assert r.status_code == 404 and r.json()["code"] == "project_not_found", r.text
    assert runner.agents == {} and runner.stops == []


async def test_start_list_show_steer_and_stop(runner: Runner, signed_in: httpx.AsyncClient, project: Any) -> None:
    base = f"{API}/projects/{project['app_id']}/agents"
    created = await signed_in.post(base, json={"channel": "room1"})
    assert created.status_code == 201 and created.json() == {"agent_id": "ag_0", "detail": False, "ended": False}
    assert (await signed_in.get(base)).json() == {"agents": [created.json()]}
    assert (await signed_in.get(f"{base}/ag_0")).json()["detail"] is True
    assert (await signed_in.post(f"{base}/ag_0/say", json={"text": "Hello."})).json() == {"ok": True}
    assert (await signed_in.post(f"{base}/ag_0/interrupt")).json() == {"ok": True}
    session = runner.agents["ag_0"].session
    assert session.said == ["Hello."] and session.interrupts == 1
    too_long = await signed_in.post(f"{base}/ag_0/say", json={"text": "x" * 2001})
    assert too_long.status_code == 422 and session.said == ["Hello."]
    stopped = await signed_in.delete(f"{base}/ag_0")
    assert stopped.status_code == 200 and runner.stops == [(project["app_id"], "ag_0", "stopped_by_api")]
    runner.agents["ag_0"].ended_at = 1.0
    ended = await signed_in.post(f"{base}/ag_0/say", json={"text": "Still there?"})
    assert ended.status_code == 409 and ended.json()["code"] == "agent_not_running"


async def test_refusals_are_problems_with_their_codes(
    runner: Runner, signed_in: httpx.AsyncClient, project: Any, make_project: MakeProject
) -> None:
    base = f"{API}/projects/{project['app_id']}/agents"
    bad = await signed_in.post(base, json={"refuse": "config"})
    assert bad.status_code == 422
    assert {k: bad.json()[k] for k in ("code", "detail", "errors")} == {
        "code": "invalid_agent_config",
        "detail": "channel: required",
        "errors": [{"field": "channel", "message": "required"}],
    }
    full = await signed_in.post(base, json={"refuse": "limit"})
    assert full.status_code == 409 and full.json()["code"] == "agent_limit_reached"
    assert full.json()["detail"] == "this worker already runs 1 agents"
    other = await make_project(signed_in)  # the same owner's other project: its agents are not these
    await signed_in.post(f"{API}/projects/{other['app_id']}/agents", json={"channel": "room1"})
    for call in (signed_in.get(f"{base}/ag_0"), signed_in.delete(f"{base}/ag_0"), signed_in.get(f"{base}/ag_9")):
        r = await call
        assert r.status_code == 404 and r.json()["code"] == "agent_not_found", r.text
    assert runner.stops == []


async def test_a_server_without_agents_says_so_after_the_isolation_check(
    platform: Platform, signed_in: httpx.AsyncClient, project: Any
) -> None:
    platform.services.agents = None
    r = await signed_in.get(f"{API}/projects/{project['app_id']}/agents")
    assert r.status_code == 404 and r.json()["code"] == "agents_not_running"
    other = await signed_in.get(f"{API}/projects/{'0' * 32}/agents")
    assert other.status_code == 404 and other.json()["code"] == "project_not_found"
