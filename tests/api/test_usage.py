"""Usage metering: per project and UTC day, atomic under concurrency, read back over REST."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest

from hubbub.control.context import UserPrincipal
from hubbub.server import Platform
from hubbub.util.clock import ManualClock

API = "/api/v1"
DAY = 86_400.0


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    return body


def day_of(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).date()


async def project_id(platform: Platform, console: httpx.AsyncClient, app_id: str) -> int:
    user_id = (await console.get(f"{API}/auth/me")).json()["user"]["id"]
    return await platform.services.projects.project_id_for(UserPrincipal(user_id), app_id)


async def usage(c: httpx.AsyncClient, app_id: str, **params: Any) -> httpx.Response:
    return await c.get(f"{API}/projects/{app_id}/usage", params={k: str(v) for k, v in params.items()})


@pytest.fixture
async def pid(platform: Platform, signed_in: httpx.AsyncClient, project: dict[str, Any]) -> int:
    return await project_id(platform, signed_in, project["app_id"])


async def test_records_on_one_day_add_up(
    platform: Platform, signed_in: httpx.AsyncClient, project: dict[str, Any], pid: int, clock: ManualClock
) -> None:
    rec = platform.services.usage.record
    await rec(pid, audio_minutes=2.5, messages=3)
    clock.advance(60)
    await rec(pid, audio_minutes=1.25, video_minutes=4.0, messages=2, agent_minutes=0.5)
    today = day_of(clock.now)
    r = await usage(signed_in, project["app_id"], start=today, end=today)
    assert r.status_code == 200, r.text
    assert r.json()["days"] == [
        {"day": today.isoformat(), "audio_minutes": 3.75, "video_minutes": 4.0, "messages": 5, "agent_minutes": 0.5}
    ]


async def test_records_land_on_their_utc_day(
    platform: Platform, signed_in: httpx.AsyncClient, project: dict[str, Any], pid: int, clock: ManualClock
) -> None:
    rec = platform.services.usage.record
    today = day_of(clock.now)
    midnight = dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC).timestamp()
    await rec(pid, at=midnight - 1, messages=1)  # 23:59:59 yesterday
    await rec(pid, at=midnight, messages=10)  # 00:00:00 today
    await rec(pid, at=clock.now - 3 * DAY, audio_minutes=7.0)
    await rec(pid, messages=100)  # no ``at``: the clock's day
    r = await usage(signed_in, project["app_id"], start=today - dt.timedelta(days=3), end=today)
    days = {d["day"]: d for d in r.json()["days"]}
    assert days[(today - dt.timedelta(days=1)).isoformat()]["messages"] == 1
    assert days[today.isoformat()]["messages"] == 110
    assert days[(today - dt.timedelta(days=3)).isoformat()]["audio_minutes"] == 7.0
    assert days[(today - dt.timedelta(days=2)).isoformat()]["audio_minutes"] == 0.0


async def test_concurrent_records_lose_nothing(
    platform: Platform, signed_in: httpx.AsyncClient, project: dict[str, Any], pid: int, clock: ManualClock
) -> None:
    rec = platform.services.usage.record
    # the first record of the day races to create the row; later ones race to increment it
    await asyncio.gather(*(rec(pid, audio_minutes=1.5, messages=1) for _ in range(20)))
    await asyncio.gather(*(rec(pid, video_minutes=0.25, agent_minutes=2.0, messages=2) for _ in range(20)))
    today = day_of(clock.now)
    r = await usage(signed_in, project["app_id"], start=today, end=today)
    assert r.json()["days"][0] == {
        "day": today.isoformat(),
        "audio_minutes": 30.0,
        "video_minutes": 5.0,
        "messages": 60,
        "agent_minutes": 40.0,
    }


async def test_usage_range_is_zero_filled_with_totals(
    platform: Platform, signed_in: httpx.AsyncClient, project: dict[str, Any], pid: int, clock: ManualClock
) -> None:
    rec = platform.services.usage.record
    today = day_of(clock.now)
    await rec(pid, at=clock.now - 2 * DAY, audio_minutes=1.0, messages=4)
    await rec(pid, at=clock.now, video_minutes=2.0, agent_minutes=3.0)
    await rec(pid, at=clock.now - 10 * DAY, messages=1000)  # outside the range asked for
    start = today - dt.timedelta(days=4)
    r = await usage(signed_in, project["app_id"], start=start, end=today)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["app_id"] == project["app_id"]
    assert body["start"] == start.isoformat() and body["end"] == today.isoformat()
    assert [d["day"] for d in body["days"]] == [(start + dt.timedelta(days=i)).isoformat() for i in range(5)]
    zero = {"audio_minutes": 0.0, "video_minutes": 0.0, "messages": 0, "agent_minutes": 0.0}
    for i in (0, 1, 3):
        assert {k: v for k, v in body["days"][i].items() if k != "day"} == zero
    assert body["days"][2]["audio_minutes"] == 1.0 and body["days"][2]["messages"] == 4
    assert body["days"][4]["video_minutes"] == 2.0 and body["days"][4]["agent_minutes"] == 3.0
    totals = body["totals"]
    assert (totals["audio_minutes"], totals["video_minutes"], totals["messages"], totals["agent_minutes"]) == (
        1.0,
        2.0,
        4,
        3.0,
    )


async def test_default_range_is_the_last_30_days(
    platform: Platform, signed_in: httpx.AsyncClient, project: dict[str, Any], pid: int, clock: ManualClock
) -> None:
    await platform.services.usage.record(pid, at=clock.now - 29 * DAY, messages=1)
    await platform.services.usage.record(pid, at=clock.now - 30 * DAY, messages=50)
    body = (await usage(signed_in, project["app_id"])).json()
    today = day_of(clock.now)
    assert body["end"] == today.isoformat()
    assert body["start"] == (today - dt.timedelta(days=29)).isoformat()
    assert len(body["days"]) == 30
    assert body["totals"]["messages"] == 1
    # the window follows the clock
    clock.advance(DAY)
    assert (await usage(signed_in, project["app_id"])).json()["totals"]["messages"] == 0
    # only ``end`` given: the 30 days before it
    body = (await usage(signed_in, project["app_id"], end=today - dt.timedelta(days=30))).json()
    assert body["totals"]["messages"] == 50 and len(body["days"]) == 30


async def test_a_single_day_and_a_future_range(
    signed_in: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock
) -> None:
    future = day_of(clock.now) + dt.timedelta(days=100)
    body = (await usage(signed_in, project["app_id"], start=future, end=future)).json()
    assert [d["day"] for d in body["days"]] == [future.isoformat()]
    assert body["totals"]["messages"] == 0


async def test_usage_is_per_project(
    platform: Platform,
    signed_in: httpx.AsyncClient,
    make_project: Any,
    project: dict[str, Any],
    pid: int,
    clock: ManualClock,
) -> None:
    other = await make_project(signed_in)
    other_pid = await project_id(platform, signed_in, other["app_id"])
    await platform.services.usage.record(pid, messages=1)
    await platform.services.usage.record(other_pid, messages=1000)
    today = day_of(clock.now)
    assert (await usage(signed_in, project["app_id"], start=today, end=today)).json()["totals"]["messages"] == 1
    assert (await usage(signed_in, other["app_id"], start=today, end=today)).json()["totals"]["messages"] == 1000


async def test_usage_readable_with_api_key(
    platform: Platform, api_key: httpx.AsyncClient, project: dict[str, Any], pid: int, clock: ManualClock
) -> None:
    await platform.services.usage.record(pid, audio_minutes=9.0)
    today = day_of(clock.now)
    r = await usage(api_key, project["app_id"], start=today, end=today)
    assert r.status_code == 200 and r.json()["totals"]["audio_minutes"] == 9.0


async def test_bad_ranges_are_422(signed_in: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock) -> None:
    today = day_of(clock.now)
    app_id = project["app_id"]
    problem(await usage(signed_in, app_id, start=today + dt.timedelta(days=1), end=today), 422, "invalid_range")
    problem(await usage(signed_in, app_id, start=today - dt.timedelta(days=400), end=today), 422, "invalid_range")
    ok = await usage(signed_in, app_id, start=today - dt.timedelta(days=399), end=today)
    assert ok.status_code == 200 and len(ok.json()["days"]) == 400
    problem(await usage(signed_in, app_id, start="2026-13-01"), 422, "invalid_request")
    problem(await usage(signed_in, app_id, end="not-a-date"), 422, "invalid_request")
