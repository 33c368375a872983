"""Usage metering per project and UTC day. Media, messaging and agents call :meth:`Usage.record`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from hubbub.control.context import ControlContext, Principal
from hubbub.control.errors import InvalidInput
from hubbub.control.projects import Projects
from hubbub.storage.models import UsageDaily

MAX_RANGE_DAYS = 400


@dataclass(frozen=True, slots=True)
class UsageDay:
    day: dt.date
    audio_minutes: float
    video_minutes: float
    messages: int
    agent_minutes: float


def utc_day(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).date()


class Usage:
    def __init__(self, ctx: ControlContext, projects: Projects) -> None:
        self.ctx = ctx
        self.projects = projects

    async def record(
        self,
        project_id: int,
        *,
        at: float | None = None,
        audio_minutes: float = 0.0,
        video_minutes: float = 0.0,
        messages: int = 0,
        agent_minutes: float = 0.0,
    ) -> None:
        """Add to the day's counters (an atomic increment; the row is created on first use)."""
        day = utc_day(self.ctx.clock() if at is None else at)
        increments = {
            UsageDaily.audio_minutes: UsageDaily.audio_minutes + audio_minutes,
            UsageDaily.video_minutes: UsageDaily.video_minutes + video_minutes,
            UsageDaily.messages: UsageDaily.messages + messages,
            UsageDaily.agent_minutes: UsageDaily.agent_minutes + agent_minutes,
        }
        where = (UsageDaily.project_id == project_id, UsageDaily.day == day)
        for _ in range(3):
            async with self.ctx.db() as db:
                result = await db.execute(update(UsageDaily).where(*where).values(increments))
                if result.rowcount:  # type: ignore[attr-defined]
                    await db.commit()
                    return
                db.add(
                    UsageDaily(
                        project_id=project_id,
                        day=day,
                        audio_minutes=audio_minutes,
                        video_minutes=video_minutes,
                        messages=messages,
                        agent_minutes=agent_minutes,
                    )
                )
                try:
                    await db.commit()
                    return
                except IntegrityError:  # another writer created the row first: increment it
                    await db.rollback()
        raise RuntimeError("usage row could not be written")

    async def record_for_app(self, app_id: str, **amounts: float) -> None:
        """:meth:`record` by App ID (what the media and messaging layers know); unknown apps are ignored."""
        project_id = await self.projects.project_id_of(app_id)
        if project_id is not None:
            await self.record(project_id, **amounts)  # type: ignore[arg-type]

    async def query(
        self, principal: Principal, app_id: str, start: dt.date | None, end: dt.date | None
    ) -> list[UsageDay]:
        project_id = await self.projects.project_id_for(principal, app_id)
        end = end or utc_day(self.ctx.clock())
        start = start or end - dt.timedelta(days=29)
        if start > end:
            raise InvalidInput("invalid_range", "The start day is after the end day.")
        if (end - start).days >= MAX_RANGE_DAYS:
            raise InvalidInput("invalid_range", f"Ask for at most {MAX_RANGE_DAYS} days at a time.")
        async with self.ctx.db() as db:
            rows = (
                await db.execute(
                    select(UsageDaily)
                    .where(UsageDaily.project_id == project_id, UsageDaily.day >= start, UsageDaily.day <= end)
                    .order_by(UsageDaily.day)
                )
            ).scalars()
            stored = {r.day: r for r in rows}
        days = []
        day = start
        while day <= end:
            r = stored.get(day)
            days.append(
                UsageDay(day, r.audio_minutes, r.video_minutes, r.messages, r.agent_minutes)
                if r
                else UsageDay(day, 0.0, 0.0, 0, 0.0)
            )
            day += dt.timedelta(days=1)
        return days
