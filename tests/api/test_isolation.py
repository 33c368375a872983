"""Tenant isolation: no user and no API key can see or touch another's project, or learn it exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from hubbub.control.tokens import AppKeys, verify_token
from hubbub.sdk.token import build_token
from hubbub.util.clock import ManualClock

API = "/api/v1"


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    return body


@dataclass
class Tenant:
    console: httpx.AsyncClient  # signed in, with the CSRF header
    server: httpx.AsyncClient  # API key only, no cookie
    project: dict[str, Any]
    key_id: str

    @property
    def app_id(self) -> str:
        return str(self.project["app_id"])


@pytest.fixture
async def tenants(sign_in: Any, new_client: Any, make_project: Any, make_api_key: Any) -> tuple[Tenant, Tenant]:
    made = []
    for who in ("a", "b"):
        console = await sign_in(f"{who}@example.com")
        project = await make_project(console, f"Project {who.upper()}")
        credential = await make_api_key(console, project["app_id"])
        server = await new_client()
        server.headers["Authorization"] = f"Bearer {credential}"
        made.append(Tenant(console, server, project, credential.split(".", 1)[0]))
    return made[0], made[1]


async def _every_endpoint(c: httpx.AsyncClient, app_id: str, key_id: str, token: str) -> list[httpx.Response]:
    base = f"{API}/projects/{app_id}"
    return [
        await c.get(base),
        await c.patch(base, json={"name": "Taken over"}),
        await c.patch(base, json={"token_required": False}),
        await c.delete(base),
        await c.post(f"{base}/certificate/rotate", json={"grace_seconds": 0}),
        await c.get(f"{base}/api-keys"),
        await c.post(f"{base}/api-keys", json={"name": "backdoor"}),
        await c.delete(f"{base}/api-keys/{key_id}"),
        await c.post(f"{base}/tokens", json={"user_id": "mallory"}),
        await c.post(f"{base}/tokens/verify", json={"token": token}),
        await c.get(f"{base}/usage"),
    ]


async def _snapshot(t: Tenant) -> tuple[Any, Any]:
    project = (await t.console.get(f"{API}/projects/{t.app_id}")).json()
    keys = (await t.console.get(f"{API}/projects/{t.app_id}/api-keys")).json()
    return project, [k["key_id"] for k in keys]


async def test_other_users_project_is_not_found_everywhere(tenants: tuple[Tenant, Tenant], clock: ManualClock) -> None:
    a, b = tenants
    token = build_token(a.app_id, a.project["app_certificate"], user_id="alice", now=int(clock.now))
    before = await _snapshot(a)
    assert before[1] == [a.key_id]
    for intruder in (b.console, b.server):
        responses = await _every_endpoint(intruder, a.app_id, a.key_id, token)
        for r in responses:
            body = problem(r, 404, "project_not_found")
            assert a.project["app_certificate"] not in r.text
            assert "Project A" not in r.text
        # the answer for A's project is the same as for one that does not exist
        missing = await _every_endpoint(intruder, "f" * 32, a.key_id, token)
        for r, m in zip(responses, missing, strict=True):
            assert m.status_code == r.status_code
            assert m.json()["code"] == r.json()["code"]
        assert body["detail"].replace(a.app_id, "f" * 32) == missing[-1].json()["detail"]
    # A's project, keys and certificate are untouched
    assert await _snapshot(a) == before
    r = await a.console.post(f"{API}/projects/{a.app_id}/tokens/verify", json={"token": token})
    assert r.status_code == 200, r.text
    assert (await a.server.get(f"{API}/projects/{a.app_id}")).status_code == 200


async def test_listing_shows_only_own_projects(tenants: tuple[Tenant, Tenant], make_project: Any) -> None:
    a, b = tenants
    extra = await make_project(a.console, "A's second")
    r = await a.console.get(f"{API}/projects")
    assert [p["app_id"] for p in r.json()] == [a.app_id, extra["app_id"]]
    r = await b.console.get(f"{API}/projects")
    assert [p["app_id"] for p in r.json()] == [b.app_id]
    # an API key sees its own project only, not the other projects of its owner
    r = await a.server.get(f"{API}/projects")
    assert [p["app_id"] for p in r.json()] == [a.app_id]
    problem(await a.server.get(f"{API}/projects/{extra['app_id']}"), 404, "project_not_found")
    problem(await a.server.get(f"{API}/projects/{extra['app_id']}/usage"), 404, "project_not_found")


async def test_api_key_cannot_do_owner_things(tenants: tuple[Tenant, Tenant]) -> None:
    a, _ = tenants
    base = f"{API}/projects/{a.app_id}"
    before = await _snapshot(a)
    problem(await a.server.post(f"{API}/projects", json={"name": "From a key"}), 403, "forbidden")
    problem(await a.server.delete(base), 403, "forbidden")
    problem(await a.server.post(f"{base}/certificate/rotate", json={"grace_seconds": 0}), 403, "forbidden")
    problem(await a.server.post(f"{base}/api-keys", json={"name": "more"}), 403, "forbidden")
    problem(await a.server.patch(base, json={"token_required": False}), 403, "forbidden")
    assert await _snapshot(a) == before
    assert [p["name"] for p in (await a.console.get(f"{API}/projects")).json()] == ["Project A"]
    # what a key may do on its own project
    assert (await a.server.get(base)).status_code == 200
    assert (await a.server.get(f"{base}/api-keys")).status_code == 200
    assert (await a.server.post(f"{base}/tokens", json={"user_id": "u1"})).status_code == 201
    assert (await a.server.get(f"{base}/usage")).status_code == 200


async def test_api_key_needs_no_csrf_and_a_cookie_does_not_widen_it(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    # B's key sent together with A's session cookie: the key decides, and it sees only B's project
    a.console.headers["Authorization"] = b.server.headers["Authorization"]
    r = await a.console.get(f"{API}/projects")
    assert [p["app_id"] for p in r.json()] == [b.app_id]
    problem(await a.console.get(f"{API}/projects/{a.app_id}"), 404, "project_not_found")
    del a.console.headers["Authorization"]
    del a.console.headers["X-CSRF-Token"]
    r = await a.server.post(f"{API}/projects/{a.app_id}/tokens", json={"user_id": "u1"})
    assert r.status_code == 201


async def test_token_for_one_project_is_wrong_app_on_another(
    tenants: tuple[Tenant, Tenant], clock: ManualClock
) -> None:
    a, b = tenants
    r = await a.server.post(f"{API}/projects/{a.app_id}/tokens", json={"user_id": "alice"})
    token = r.json()["token"]
    verify_token(token, lookup=lambda x: AppKeys(x, a.project["app_certificate"]), now=clock.now)
    for c in (b.server, b.console):
        problem(await c.post(f"{API}/projects/{b.app_id}/tokens/verify", json={"token": token}), 422, "token_wrong_app")
    # a token naming a project that does not exist gets the same answer (no probing)
    ghost = build_token("0" * 32, "g" * 32, user_id="alice", now=int(clock.now))
    problem(
        await b.server.post(f"{API}/projects/{b.app_id}/tokens/verify", json={"token": ghost}), 422, "token_wrong_app"
    )


async def test_revoked_api_key_is_refused(tenants: tuple[Tenant, Tenant], make_api_key: Any) -> None:
    a, b = tenants
    base = f"{API}/projects/{a.app_id}"
    spare = await make_api_key(a.console, a.app_id)
    # B cannot revoke A's key, even by naming it under B's own project
    problem(await b.console.delete(f"{API}/projects/{b.app_id}/api-keys/{a.key_id}"), 404, "api_key_not_found")
    assert (await a.server.get(base)).status_code == 200
    r = await a.console.delete(f"{base}/api-keys/{a.key_id}")
    assert r.status_code == 204
    for path in (f"{API}/projects", base, f"{base}/usage"):
        problem(await a.server.get(path), 401, "invalid_api_key")
    problem(await a.console.delete(f"{base}/api-keys/{a.key_id}"), 404, "api_key_not_found")
    r = await a.console.get(f"{base}/api-keys")
    assert [k["key_id"] for k in r.json()] == [spare.split(".", 1)[0]]
    assert "api_key" not in r.json()[0]  # the secret is never listed
    # other keys keep working
    assert (await b.server.get(f"{API}/projects")).status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Token hk_0123456789abcdef.secret",
        "bearer-hk_0123",
        "Bearer hk_nodot",
        "Bearer hk_0123456789abcdef.",
        "Bearer notakey.secret",
        "Bearer hk_0123456789abcdef.wrongsecret",
        "Bearer " + "hk_" + "x" * 300 + ".y",
    ],
)
async def test_malformed_authorization_is_401(new_client: Any, authorization: str) -> None:
    c = await new_client()
    r = await c.get(f"{API}/projects", headers={"Authorization": authorization})
    assert r.status_code == 401, r.text
    assert r.json()["code"] in ("unauthenticated", "invalid_api_key")
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_forged_secret_for_a_real_key_id_is_refused(tenants: tuple[Tenant, Tenant], new_client: Any) -> None:
    a, _ = tenants
    c = await new_client()
    problem(
        await c.get(f"{API}/projects", headers={"Authorization": f"Bearer {a.key_id}.forged"}), 401, "invalid_api_key"
    )
    # the real key's secret does not work with another key id either
    secret = a.server.headers["Authorization"].split(".", 1)[1]
    problem(
        await c.get(f"{API}/projects", headers={"Authorization": f"Bearer hk_0000000000000000.{secret}"}),
        401,
        "invalid_api_key",
    )
