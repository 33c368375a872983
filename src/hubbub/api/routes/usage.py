"""Usage per project and day."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter

from hubbub.api.deps import PrincipalDep, ServicesDep
from hubbub.api.schemas import UsageDayOut, UsageOut

router = APIRouter(prefix="/projects", tags=["usage"])


@router.get(
    "/{app_id}/usage",
    response_model=UsageOut,
    summary="Participant-minutes (audio, video), messages and agent minutes per UTC day",
)
async def get_usage(
    app_id: str, who: PrincipalDep, svc: ServicesDep, start: dt.date | None = None, end: dt.date | None = None
) -> UsageOut:
    days = await svc.usage.query(who, app_id, start, end)
    out = [
        UsageDayOut(
            day=d.day,
            audio_minutes=d.audio_minutes,
            video_minutes=d.video_minutes,
            messages=d.messages,
            agent_minutes=d.agent_minutes,
        )
        for d in days
    ]
    totals = UsageDayOut(
        day=days[-1].day,
        audio_minutes=sum(d.audio_minutes for d in days),
        video_minutes=sum(d.video_minutes for d in days),
        messages=sum(d.messages for d in days),
        agent_minutes=sum(d.agent_minutes for d in days),
    )
    return UsageOut(app_id=app_id, start=days[0].day, end=days[-1].day, days=out, totals=totals)
