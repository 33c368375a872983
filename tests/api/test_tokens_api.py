"""Minting and verifying access tokens over REST."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from hubbub.control.tokens import AppKeys, VerifiedToken, verify_token
from hubbub.schema.tokens import DEFAULT_PRIVILEGES, Privilege, Role
from hubbub.sdk.token import build_token
from hubbub.server import Platform
from hubbub.util.clock import ManualClock

API = "/api/v1"


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    return body


def local_verify(token: str, project: dict[str, Any], now: float, **kwargs: Any) -> VerifiedToken:
    keys = AppKeys(project["app_id"], project["app_certificate"])
    return verify_token(token, lookup=lambda a: keys if a == keys.app_id else None, now=now, **kwargs)


async def mint(c: httpx.AsyncClient, project: dict[str, Any], **body: Any) -> httpx.Response:
    return await c.post(f"{API}/projects/{project['app_id']}/tokens", json={"user_id": "alice", **body})


async def check(c: httpx.AsyncClient, project: dict[str, Any], token: str, **body: Any) -> httpx.Response:
    return await c.post(f"{API}/projects/{project['app_id']}/tokens/verify", json={"token": token, **body})


# --- minting -----------------------------------------------------------------------------------


async def test_mint_with_api_key_defaults(
    api_key: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock
) -> None:
    r = await mint(api_key, project)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["app_id"] == project["app_id"]
    assert body["user_id"] == "alice" and body["channel"] == "*" and body["role"] == "host"
    assert body["expires_at"] == clock.now + 3600
    assert body["privileges"] == {p.value: clock.now + 3600 for p in DEFAULT_PRIVILEGES[Role.host]}
    v = local_verify(body["token"], project, clock.now, expected_app_id=project["app_id"], channel="any-room")
    assert v.user_id == "alice" and v.role is Role.host and v.expires_at == body["expires_at"]
    assert v.issued_at == clock.now
    assert {p.value: t for p, t in v.privileges.items()} == body["privileges"]
    # each token is distinct
    again = (await mint(api_key, project)).json()["token"]
    assert again != body["token"]


async def test_mint_with_console_session(
    signed_in: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock
) -> None:
    r = await mint(signed_in, project, channel="room1", role="audience", expire=600)
    assert r.status_code == 201, r.text
    v = local_verify(r.json()["token"], project, clock.now, channel="room1")
    assert v.role is Role.audience and v.channel == "room1"
    assert set(v.privileges) == DEFAULT_PRIVILEGES[Role.audience]
    assert v.expires_at == clock.now + 600


async def test_privilege_map_is_honoured_and_capped(
    api_key: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock
) -> None:
    r = await mint(
        api_key,
        project,
        channel="stage",
        expire=600,
        privileges={"join_channel": 7200, "publish_audio": 60, "subscribe": 600},
    )
    assert r.status_code == 201, r.text
    now = clock.now
    expected = {"join_channel": now + 600, "publish_audio": now + 60, "subscribe": now + 600}
    assert r.json()["privileges"] == expected
    v = local_verify(r.json()["token"], project, now)
    assert {p.value: t for p, t in v.privileges.items()} == expected
    assert Privilege.publish_video not in v.privileges
    for t in v.privileges.values():
        assert t <= v.expires_at


async def test_privilege_list_lasts_as_long_as_the_token(
    api_key: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock
) -> None:
    r = await mint(api_key, project, role="agent", expire=120, privileges=["join_channel", "publish_data"])
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "agent"
    assert r.json()["privileges"] == {"join_channel": clock.now + 120, "publish_data": clock.now + 120}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"role": "superuser"}, "invalid_role"),
        ({"role": "Host"}, "invalid_role"),
        ({"role": ""}, "invalid_role"),
        ({"privileges": ["join_channel", "fly"]}, "invalid_privilege"),
        ({"privileges": {"teleport": 60}}, "invalid_privilege"),
        ({"channel": "room/1"}, "invalid_channel"),
        ({"channel": "caf\u00e9"}, "invalid_channel"),
        ({"channel": "**"}, "invalid_channel"),
        ({"channel": ""}, "invalid_request"),
        ({"channel": "x" * 65}, "invalid_request"),
        ({"user_id": ""}, "invalid_request"),
        ({"user_id": "u" * 256}, "invalid_request"),
        ({"expire": 0}, "invalid_request"),
        ({"expire": -5}, "invalid_request"),
        ({"expire": 7 * 86_400 + 1}, "invalid_request"),
        ({"expire": "3600"}, "invalid_request"),
        ({"privileges": {"publish_audio": 0}}, "invalid_request"),
        ({"privileges": "join_channel"}, "invalid_request"),
    ],
)
async def test_mint_refuses_bad_input(
    api_key: httpx.AsyncClient, project: dict[str, Any], body: dict[str, Any], code: str
) -> None:
    r = await mint(api_key, project, **body)
    problem(r, 422, code)
    if code != "invalid_request":
        assert r.json()["detail"]  # says what is wrong


async def test_mint_errors_name_the_wrong_value(api_key: httpx.AsyncClient, project: dict[str, Any]) -> None:
    assert "superuser" in problem(await mint(api_key, project, role="superuser"), 422, "invalid_role")["detail"]
    detail = problem(await mint(api_key, project, privileges=["fly"]), 422, "invalid_privilege")["detail"]
    assert "fly" in detail and "join_channel" in detail


# --- verifying ---------------------------------------------------------------------------------


async def test_verify_accepts_a_good_token(api_key: httpx.AsyncClient, project: dict[str, Any]) -> None:
    token = (await mint(api_key, project, channel="room1", role="audience")).json()["token"]
    r = await check(api_key, project, token, channel="room1", require=["join_channel", "subscribe"])
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == "alice" and r.json()["channel"] == "room1" and r.json()["role"] == "audience"
    assert r.json()["token"] == token


async def test_verify_expired(
    api_key: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock, platform: Platform
) -> None:
    token = (await mint(api_key, project, expire=60)).json()["token"]
    leeway = platform.settings.token_leeway_s
    clock.advance(60 + leeway)
    assert (await check(api_key, project, token)).status_code == 200
    clock.advance(1)
    body = problem(await check(api_key, project, token), 422, "token_expired")
    assert token not in json.dumps(body)


async def test_verify_not_yet_valid(api_key: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock) -> None:
    now = int(clock.now)
    token = build_token(project["app_id"], project["app_certificate"], user_id="alice", now=now, not_before=now + 600)
    problem(await check(api_key, project, token), 422, "token_not_yet_valid")
    clock.advance(600)
    assert (await check(api_key, project, token)).status_code == 200


async def test_verify_channel_mismatch(api_key: httpx.AsyncClient, project: dict[str, Any]) -> None:
    token = (await mint(api_key, project, channel="room1")).json()["token"]
    assert (await check(api_key, project, token, channel="room1")).status_code == 200
    problem(await check(api_key, project, token, channel="room2"), 422, "token_channel_mismatch")
    problem(await check(api_key, project, token, channel="Room1"), 422, "token_channel_mismatch")
    wildcard = (await mint(api_key, project)).json()["token"]
    assert (await check(api_key, project, wildcard, channel="room2")).status_code == 200


async def test_verify_privilege_missing_and_expired(
    api_key: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock, platform: Platform
) -> None:
    token = (await mint(api_key, project, privileges={"join_channel": 3600, "publish_audio": 60})).json()["token"]
    problem(await check(api_key, project, token, require=["publish_video"]), 422, "token_privilege_missing")
    assert (await check(api_key, project, token, require=["publish_audio"])).status_code == 200
    clock.advance(60 + platform.settings.token_leeway_s + 1)
    problem(await check(api_key, project, token, require=["publish_audio"]), 422, "token_privilege_expired")
    problem(
        await check(api_key, project, token, require=["join_channel", "publish_audio"]), 422, "token_privilege_expired"
    )
    # the token itself, and its other privileges, are still good
    assert (await check(api_key, project, token, require=["join_channel"])).status_code == 200
    audience = (await mint(api_key, project, role="audience")).json()["token"]
    problem(await check(api_key, project, audience, require=["publish_audio"]), 422, "token_privilege_missing")


async def test_verify_unknown_required_privilege(api_key: httpx.AsyncClient, project: dict[str, Any]) -> None:
    token = (await mint(api_key, project)).json()["token"]
    problem(await check(api_key, project, token, require=["fly"]), 422, "invalid_privilege")


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "!!!.###.$$$",
        _b64({"alg": "none", "typ": "JWT"}) + "." + _b64({"iss": "x"}) + ".",
        _b64({"alg": "HS256"}) + "." + _b64(["not", "an", "object"]) + "." + _b64("sig"),
        _b64({"alg": "HS256"}) + "." + _b64({"iss": "x", "sub": "u"}) + "." + _b64("sig"),
    ],
)
async def test_verify_malformed(api_key: httpx.AsyncClient, project: dict[str, Any], token: str) -> None:
    problem(await check(api_key, project, token), 422, "token_malformed")


async def test_verify_too_long_is_refused(api_key: httpx.AsyncClient, project: dict[str, Any]) -> None:
    problem(await check(api_key, project, "a" * 9000), 422, "invalid_request")


async def test_verify_bad_signature(api_key: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock) -> None:
    forged = build_token(project["app_id"], "0123456789abcdef" * 2 + "x", user_id="alice", now=int(clock.now))
    problem(await check(api_key, project, forged), 422, "token_bad_signature")
    # a genuine token with its payload altered (role upgraded to admin)
    token = (await mint(api_key, project, role="audience")).json()["token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["hubbub"]["role"] = "admin"
    tampered = ".".join([header, _b64(claims), signature])
    problem(await check(api_key, project, tampered), 422, "token_bad_signature")
