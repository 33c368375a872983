"""Console accounts over REST: sign-up, sign-in, sessions, logout, CSRF and the login rate limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from hubbub.server import Platform
from hubbub.storage.models import Base, User
from hubbub.util.clock import ManualClock

API = "/api/v1"
PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.usefixtures("platform")


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    return body


async def signup(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(f"{API}/auth/signup", json={"email": email, "password": password})


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(f"{API}/auth/login", json={"email": email, "password": password})


# --- sign-up -----------------------------------------------------------------------------------


async def test_signup_normalises_email_to_lower_case(client: httpx.AsyncClient) -> None:
    r = await signup(client, "  Alice.Smith@Example.COM ")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["email"] == "alice.smith@example.com"
    assert body["name"] == "alice.smith"
    assert isinstance(body["id"], int)
    assert "password" not in r.text and PASSWORD not in r.text
    # any spelling of the address signs in to the same account
    r = await login(client, "ALICE.smith@example.com")
    assert r.status_code == 200, r.text
    assert r.json()["user"]["id"] == body["id"]


async def test_duplicate_email_is_409_whatever_its_case(client: httpx.AsyncClient) -> None:
    assert (await signup(client, "bob@example.com")).status_code == 201
    problem(await signup(client, "bob@example.com"), 409, "email_taken")
    problem(await signup(client, "BOB@Example.com"), 409, "email_taken")


@pytest.mark.parametrize("password", ["", "short", "123456789"])
async def test_weak_password_is_refused(client: httpx.AsyncClient, password: str) -> None:
    problem(await signup(client, "carol@example.com", password), 422, "weak_password")
    # nothing was created: the address is still free
    assert (await signup(client, "carol@example.com")).status_code == 201


@pytest.mark.parametrize("email", ["", "not-an-email", "a@b", "two@@example.com", "sp ace@example.com", "@example.com"])
async def test_bad_email_is_refused(client: httpx.AsyncClient, email: str) -> None:
    problem(await signup(client, email), 422, "invalid_email")


# --- sign-in -----------------------------------------------------------------------------------


async def test_login_sets_http_only_lax_cookie_and_returns_csrf(
    client: httpx.AsyncClient, clock: ManualClock, platform: Platform
) -> None:
    await signup(client, "dave@example.com")
    r = await login(client, "dave@example.com")
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["csrf_token"]) >= 24
    assert body["user"]["email"] == "dave@example.com"
    assert body["expires_at"] == pytest.approx(clock.now + platform.settings.session_ttl_s)
    cookie = r.headers["set-cookie"]
    attrs = [a.strip().lower() for a in cookie.split(";")]
    assert attrs[0].startswith("hubbub_session=") and len(attrs[0]) > len("hubbub_session=") + 20
    assert "httponly" in attrs
    assert "samesite=lax" in attrs
    assert "path=/" in attrs
    assert f"max-age={int(platform.settings.session_ttl_s)}" in attrs
    assert "secure" not in attrs  # cookie_secure defaults to off for plain-HTTP development
    # the session id is not the CSRF token
    assert body["csrf_token"] not in cookie


async def test_wrong_password_and_unknown_email_look_the_same(client: httpx.AsyncClient) -> None:
    await signup(client, "erin@example.com")
    wrong = problem(await login(client, "erin@example.com", "not the password"), 401, "invalid_credentials")
    unknown = problem(await login(client, "nobody@example.com"), 401, "invalid_credentials")
    assert wrong["detail"] == unknown["detail"]
    assert wrong["title"] == unknown["title"]
    assert "set-cookie" not in (await login(client, "nobody@example.com")).headers


async def test_login_rate_limit_then_lifted_after_a_minute(
    client: httpx.AsyncClient, clock: ManualClock, platform: Platform
) -> None:
    limit = platform.settings.login_attempts_per_minute
    await signup(client, "frank@example.com")
    for _ in range(limit):
        problem(await login(client, "frank@example.com", "wrong password!"), 401, "invalid_credentials")
    r = await login(client, "frank@example.com", "wrong password!")
    body = problem(r, 429, "login_rate_limited")
    retry_after = int(r.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert body["retry_after"] == retry_after
    # even the right password is refused while limited
    problem(await login(client, "Frank@example.com"), 429, "login_rate_limited")
    clock.advance(59)
    problem(await login(client, "frank@example.com"), 429, "login_rate_limited")
    clock.advance(1)
    r = await login(client, "frank@example.com")
    assert r.status_code == 200, r.text


# --- sessions ----------------------------------------------------------------------------------


async def test_me_with_and_without_cookie(client: httpx.AsyncClient, new_client: Any) -> None:
    problem(await client.get(f"{API}/auth/me"), 401, "unauthenticated")
    await signup(client, "gina@example.com")
    csrf = (await login(client, "gina@example.com")).json()["csrf_token"]
    r = await client.get(f"{API}/auth/me")
    assert r.status_code == 200, r.text
    assert r.json()["user"]["email"] == "gina@example.com"
    assert r.json()["csrf_token"] == csrf
    other = await new_client()
    problem(await other.get(f"{API}/auth/me"), 401, "unauthenticated")
    problem(await other.get(f"{API}/auth/me", headers={"Cookie": "hubbub_session=made-up"}), 401, "unauthenticated")
    problem(
        await other.get(f"{API}/auth/me", headers={"Cookie": "hubbub_session=" + "x" * 300}), 401, "unauthenticated"
    )


async def test_logout_invalidates_the_session(client: httpx.AsyncClient, new_client: Any) -> None:
    await signup(client, "hank@example.com")
    csrf = (await login(client, "hank@example.com")).json()["csrf_token"]
    session = client.cookies["hubbub_session"]
    # logout is itself a cookie-authenticated POST: it needs the CSRF token
    problem(await client.post(f"{API}/auth/logout"), 403, "csrf_failed")
    r = await client.post(f"{API}/auth/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204
    assert "hubbub_session=" in r.headers["set-cookie"]
    problem(await client.get(f"{API}/auth/me"), 401, "unauthenticated")
    # a copy of the old cookie kept elsewhere is refused too: the session is gone server-side
    replay = await new_client()
    problem(await replay.get(f"{API}/auth/me", headers={"Cookie": f"hubbub_session={session}"}), 401, "unauthenticated")
    problem(
        await replay.get(f"{API}/projects", headers={"Cookie": f"hubbub_session={session}"}), 401, "unauthenticated"
    )


async def test_two_sessions_are_independent(client: httpx.AsyncClient, new_client: Any) -> None:
    await signup(client, "iris@example.com")
    first = await login(client, "iris@example.com")
    other = await new_client()
    second = await login(other, "iris@example.com")
    assert first.json()["csrf_token"] != second.json()["csrf_token"]
    await client.post(f"{API}/auth/logout", headers={"X-CSRF-Token": first.json()["csrf_token"]})
    assert (await other.get(f"{API}/auth/me")).status_code == 200


async def test_session_expires_after_its_ttl(client: httpx.AsyncClient, clock: ManualClock, platform: Platform) -> None:
    await signup(client, "jill@example.com")
    assert (await login(client, "jill@example.com")).status_code == 200
    clock.advance(platform.settings.session_ttl_s - 1)
    assert (await client.get(f"{API}/auth/me")).status_code == 200
    clock.advance(1)
    problem(await client.get(f"{API}/auth/me"), 401, "unauthenticated")
    problem(await client.get(f"{API}/projects"), 401, "unauthenticated")


# --- CSRF --------------------------------------------------------------------------------------


async def test_csrf_is_required_for_unsafe_cookie_requests(sign_in: Any) -> None:
    c = await sign_in()
    csrf = c.headers.pop("X-CSRF-Token")
    r = await c.post(f"{API}/projects", json={"name": "Guarded"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    app_id = r.json()["app_id"]
    url = f"{API}/projects/{app_id}"

    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": csrf + "x"}):
        problem(await c.post(f"{API}/projects", json={"name": "Forged"}, headers=headers), 403, "csrf_failed")
        problem(await c.patch(url, json={"name": "Renamed"}, headers=headers), 403, "csrf_failed")
        problem(await c.delete(url, headers=headers), 403, "csrf_failed")
        problem(await c.post(f"{url}/certificate/rotate", headers=headers), 403, "csrf_failed")

    # reads need no token, and nothing above took effect
    r = await c.get(f"{API}/projects")
    assert r.status_code == 200
    assert [p["name"] for p in r.json()] == ["Guarded"]
    r = await c.get(url)
    assert r.status_code == 200 and r.json()["name"] == "Guarded"
    assert r.json()["certificate_created_at"] == r.json()["created_at"]
    assert (await c.get(f"{API}/auth/me")).status_code == 200


async def test_csrf_token_of_another_session_is_refused(sign_in: Any) -> None:
    a = await sign_in()
    b = await sign_in()
    problem(
        await a.post(f"{API}/projects", json={"name": "X"}, headers={"X-CSRF-Token": b.headers["X-CSRF-Token"]}),
        403,
        "csrf_failed",
    )


# --- storage -----------------------------------------------------------------------------------


async def test_password_is_stored_as_argon2id_only(client: httpx.AsyncClient, platform: Platform) -> None:
    password = "Zebra-Unique-Passphrase-4711"
    await signup(client, "kim@example.com", password)
    assert (await login(client, "kim@example.com", password)).status_code == 200
    async with platform.engine.connect() as conn:
        stored = (await conn.execute(select(User.password_hash).where(User.email == "kim@example.com"))).scalar_one()
        assert stored.startswith("$argon2id$")
        assert password not in stored
        for table in Base.metadata.sorted_tables:
            rows = (await conn.execute(text(f"SELECT * FROM {table.name}"))).all()
            assert password not in repr(rows), table.name
    if platform.engine.dialect.name == "sqlite":
        db_file = Path(platform.settings.effective_database_url.split("///", 1)[1])
        for f in (db_file, db_file.with_name(db_file.name + "-wal")):
            if f.exists():
                assert password.encode() not in f.read_bytes()
