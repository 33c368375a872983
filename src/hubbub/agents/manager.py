"""Many agents in one worker process: start, list, stop, crash isolation, lifecycle events.

Every agent is an :class:`~hubbub.agents.session.AgentSession` running in its own task on the
same event loop; blocking inference goes through the shared bounded pool
(:func:`hubbub.agents.providers.base.run_blocking`), so the loop never stalls. A session that
fails (or whose task dies of a bug) is marked ``failed`` with its error and the others carry on.

Lifecycle events (``agent.started``, ``agent.state``, ``agent.error``, ``agent.stopped``,
``agent.failed``) go to ``on_event``; the composition root forwards them to webhooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hubbub.agents.config import AgentConfig, AgentConfigError, Providers, build_providers, parse_config
from hubbub.agents.session import AgentSession
from hubbub.agents.transcripts import TranscriptSink
from hubbub.control.errors import Conflict

log = logging.getLogger("hubbub.agents")

TokenSource = Callable[[str, str, str], Awaitable[str]]  # (app_id, channel, identity) -> access token
ProviderFactory = Callable[[AgentConfig], Providers]


@dataclass(frozen=True, slots=True)
class AgentEvent:
    type: str  # agent.started | agent.state | agent.error | agent.stopped | agent.failed
    app_id: str
    agent_id: str
    channel: str
    data: dict[str, Any] = field(default_factory=dict)


class AgentLimitReached(Conflict):
    """The worker runs as many agents as it may; the API answers ``409 agent_limit_reached``."""

    def __init__(self, message: str) -> None:
        super().__init__("agent_limit_reached", message)


@dataclass
class AgentHandle:
    agent_id: str
    app_id: str
    config: AgentConfig
    session: AgentSession
    created_at: float
    task: asyncio.Task[None] | None = None
    ended_at: float | None = None

    def info(self, *, detail: bool = False) -> dict[str, Any]:
        s = self.session
        out: dict[str, Any] = {
            "agent_id": self.agent_id,
            "app_id": self.app_id,
            "channel": self.config.channel,
            "identity": self.config.identity,
            "state": s.state,
            "reason": s.reason,
            "created_at": self.created_at,
            "ended_at": self.ended_at,
            "turns": len(s.ctx.turns),
            "errors": list(s.errors)[-5:],
            "providers": {k: getattr(self.config.providers, k).name for k in ("vad", "stt", "llm", "tts")},
        }
        if detail:
            out["metrics"] = [t.as_dict() for t in s.ctx.turns]
            out["transcript"] = [line.as_dict() for line in s.ctx.transcripts.final_lines()]
            out["interim"] = {k: v.as_dict() for k, v in s.ctx.transcripts.interim.items()}
            out["history"] = s.ctx.conversation.history()
            out["config"] = self.config.model_dump(mode="json")
        return out


async def _no_tokens(app_id: str, channel: str, identity: str) -> str:
    raise RuntimeError("the agent manager has no token source")


class AgentManager:
    def __init__(
        self,
        *,
        url: str = "",
        tokens: TokenSource = _no_tokens,
        providers: ProviderFactory = build_providers,
        on_event: Callable[[AgentEvent], None] | None = None,
        sink: TranscriptSink | None = None,
        sink_for: Callable[[str, str], TranscriptSink] | None = None,
        max_agents: int = 200,
        keep_ended: int = 200,
    ) -> None:
        self.url = url  # the server the agents join, e.g. http://127.0.0.1:8080
        self.tokens = tokens
        self.providers = providers
        self.on_event = on_event
        self.sink = sink
        self.sink_for = sink_for  # (app_id, agent identity) -> sink: per-project transcript publishing
        self.max_agents = max_agents
        self.keep_ended = keep_ended
        self._agents: dict[str, AgentHandle] = {}

    def _emit(self, handle: AgentHandle, type_: str, **data: Any) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(AgentEvent(type_, handle.app_id, handle.agent_id, handle.config.channel, data))
        except Exception:
            log.exception("agent event callback failed")

    @property
    def running(self) -> list[AgentHandle]:
        return [h for h in self._agents.values() if h.ended_at is None]

    async def start(self, app_id: str, config: AgentConfig | dict[str, Any]) -> AgentHandle:
        """Validate, build providers (off the loop), mint the agent's token and start it.

        Raises :class:`AgentConfigError` (malformed config, unknown or unavailable provider) and
        :class:`AgentLimitReached`; both before anything joins the channel.
        """
        cfg = parse_config(config)
        if len(self.running) >= self.max_agents:
            raise AgentLimitReached(f"this worker already runs {self.max_agents} agents")
        if any(
            h.app_id == app_id and h.config.channel == cfg.channel and h.config.identity == cfg.identity
            for h in self.running
        ):
            raise AgentConfigError(f"an agent named {cfg.identity!r} already runs in channel {cfg.channel!r}")
        providers = await asyncio.to_thread(self.providers, cfg)
        token = await self.tokens(app_id, cfg.channel, cfg.identity)
        agent_id = "ag_" + secrets.token_hex(8)
        handle: AgentHandle | None = None

        def on_state(state: str, detail: str) -> None:
            assert handle is not None
            if state == "error":
                self._emit(handle, "agent.error", error=detail)
            elif state not in ("stopped", "failed"):
                self._emit(handle, "agent.state", state=state)

        sink = self.sink_for(app_id, cfg.identity) if self.sink_for is not None else self.sink
        session = AgentSession(cfg, providers, url=self.url, token=token, sink=sink, on_state=on_state)
        handle = AgentHandle(agent_id, app_id, cfg, session, time.time())
        self._agents[agent_id] = handle
        handle.task = asyncio.create_task(self._run(handle), name=f"agent-{agent_id}")
        self._emit(handle, "agent.started", identity=cfg.identity)
        log.info("agent started", extra={"agent_id": agent_id, "app_id": app_id})
        return handle

    async def _run(self, handle: AgentHandle) -> None:
        session = handle.session
        try:
            await session.run()
        except asyncio.CancelledError:
            session.reason = session.reason or "cancelled"
        except Exception as exc:  # a bug in one agent must not touch the others
            log.exception("agent crashed", extra={"agent_id": handle.agent_id})
            session.state, session.reason = "failed", f"crashed: {type(exc).__name__}: {exc}"
        finally:
            handle.ended_at = time.time()
            if session.state == "failed":
                self._emit(handle, "agent.failed", reason=session.reason, errors=list(session.errors)[-5:])
            else:
                session.state = "stopped"
                self._emit(handle, "agent.stopped", reason=session.reason or "stopped", turns=len(session.ctx.turns))
            log.info("agent ended", extra={"agent_id": handle.agent_id, "state": session.state})
            self._forget_old()

    def _forget_old(self) -> None:
        ended = sorted((h for h in self._agents.values() if h.ended_at is not None), key=lambda h: h.ended_at or 0)
        for h in ended[: max(0, len(ended) - self.keep_ended)]:
            self._agents.pop(h.agent_id, None)

    def get(self, app_id: str, agent_id: str) -> AgentHandle | None:
        handle = self._agents.get(agent_id)
        return handle if handle is not None and handle.app_id == app_id else None

    def list(self, app_id: str) -> list[AgentHandle]:
        return [h for h in self._agents.values() if h.app_id == app_id]

    async def stop(self, app_id: str, agent_id: str, *, reason: str = "stopped", timeout: float = 10.0) -> bool:
        handle = self.get(app_id, agent_id)
        if handle is None:
            return False
        handle.session.stop(reason)
        if handle.task is not None and not handle.task.done():
            try:
                await asyncio.wait_for(asyncio.shield(handle.task), timeout)
            except TimeoutError:
                handle.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await handle.task
        return True

    async def close(self) -> None:
        await asyncio.gather(
            *(self.stop(h.app_id, h.agent_id, reason="shutdown", timeout=5) for h in self.running),
            return_exceptions=True,
        )


def project_token_source(
    projects: Any, clock: Callable[[], float] = time.time, lifetime: int = 24 * 3600
) -> TokenSource:
    """Tokens for agents from a project's keys (``control.projects.Projects``), role ``agent``."""
    from hubbub.control.tokens import mint_token
    from hubbub.schema.tokens import Role

    async def source(app_id: str, channel: str, identity: str) -> str:
        keys = await projects.app_keys(app_id)
        if keys is None:
            raise AgentConfigError(f"no project with App ID {app_id!r}")
        return mint_token(keys, user_id=identity, channel=channel, role=Role.agent, expires_in=lifetime, now=clock())

    return source
