"""Helpers for the REST API tests: signed-in consoles, projects and API keys.

Each console is its own ``httpx.AsyncClient`` on the same ASGI app (so two users never share a
cookie jar); a signed-in client sends its CSRF token on every request.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from hubbub.server import Platform

PASSWORD = "correct horse battery staple"
API = "/api/v1"

NewClient = Callable[[], Awaitable[httpx.AsyncClient]]
SignIn = Callable[..., Awaitable[httpx.AsyncClient]]
MakeProject = Callable[..., Awaitable[dict[str, Any]]]
MakeApiKey = Callable[[httpx.AsyncClient, str], Awaitable[str]]

_emails = itertools.count()


async def sign_up(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(f"{API}/auth/signup", json={"email": email, "password": password})


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(f"{API}/auth/login", json={"email": email, "password": password})


@pytest.fixture
async def new_client(platform: Platform) -> AsyncIterator[NewClient]:
    """Makes more clients on the platform's app, each with its own cookie jar."""
    clients: list[httpx.AsyncClient] = []

    async def make() -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=platform.app), base_url="http://hubbub.test")
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


@pytest.fixture
def sign_in(new_client: NewClient) -> SignIn:
    """Sign up a fresh user (or ``email``) and return a client holding its cookie and CSRF header."""

    async def make(email: str | None = None, password: str = PASSWORD) -> httpx.AsyncClient:
        email = email or f"user{next(_emails)}@example.com"
        c = await new_client()
        r = await sign_up(c, email, password)
        assert r.status_code == 201, r.text
        r = await log_in(c, email, password)
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    return make


@pytest.fixture
async def signed_in(sign_in: SignIn) -> httpx.AsyncClient:
    return await sign_in()


@pytest.fixture
def make_project() -> MakeProject:
    """Create a project as ``client``; returns the creation response (with the App Certificate)."""
    names = itertools.count()

    async def make(client: httpx.AsyncClient, name: str | None = None, **fields: Any) -> dict[str, Any]:
        r = await client.post(f"{API}/projects", json={"name": name or f"Project {next(names)}", **fields})
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    return make


@pytest.fixture
def make_api_key() -> MakeApiKey:
    """Create an API key on ``app_id`` as ``client``; returns the ``key_id.secret`` credential."""

    async def make(client: httpx.AsyncClient, app_id: str) -> str:
        r = await client.post(f"{API}/projects/{app_id}/api-keys", json={"name": "backend"})
        assert r.status_code == 201, r.text
        credential: str = r.json()["api_key"]
        return credential

    return make


@pytest.fixture
async def project(signed_in: httpx.AsyncClient, make_project: MakeProject) -> dict[str, Any]:
    return await make_project(signed_in)


@pytest.fixture
async def api_key(
    signed_in: httpx.AsyncClient, project: dict[str, Any], make_api_key: MakeApiKey, new_client: NewClient
) -> httpx.AsyncClient:
    """A client (no cookie) that authenticates with an API key for ``project``."""
    credential = await make_api_key(signed_in, project["app_id"])
    c = await new_client()
    c.headers["Authorization"] = f"Bearer {credential}"
    return c
