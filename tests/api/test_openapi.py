"""The OpenAPI document describes every route, and /docs serves the interactive reference."""

from __future__ import annotations

import importlib
import pkgutil

import httpx
from fastapi import APIRouter
from fastapi.routing import APIRoute

import hubbub.api.routes

API = "/api/v1"

EXPECTED = {
    ("post", f"{API}/auth/signup"),
    ("post", f"{API}/auth/login"),
    ("post", f"{API}/auth/logout"),
    ("get", f"{API}/auth/me"),
    ("get", f"{API}/projects"),
    ("post", f"{API}/projects"),
    ("get", f"{API}/projects/{{app_id}}"),
    ("patch", f"{API}/projects/{{app_id}}"),
    ("delete", f"{API}/projects/{{app_id}}"),
    ("post", f"{API}/projects/{{app_id}}/certificate/rotate"),
    ("get", f"{API}/projects/{{app_id}}/api-keys"),
    ("post", f"{API}/projects/{{app_id}}/api-keys"),
    ("delete", f"{API}/projects/{{app_id}}/api-keys/{{key_id}}"),
    ("post", f"{API}/projects/{{app_id}}/tokens"),
    ("post", f"{API}/projects/{{app_id}}/tokens/verify"),
    ("get", f"{API}/projects/{{app_id}}/usage"),
    ("get", f"{API}/projects/{{app_id}}/channels"),
    ("get", f"{API}/projects/{{app_id}}/channels/{{channel}}"),
    ("delete", f"{API}/projects/{{app_id}}/channels/{{channel}}"),
    ("post", f"{API}/projects/{{app_id}}/channels/{{channel}}/participants/{{identity}}/kick"),
    ("post", f"{API}/projects/{{app_id}}/channels/{{channel}}/tracks/{{track_sid}}/mute"),
    ("post", f"{API}/projects/{{app_id}}/agents"),
    ("get", f"{API}/projects/{{app_id}}/agents"),
    ("get", f"{API}/projects/{{app_id}}/agents/{{agent_id}}"),
    ("delete", f"{API}/projects/{{app_id}}/agents/{{agent_id}}"),
    ("post", f"{API}/projects/{{app_id}}/agents/{{agent_id}}/say"),
    ("post", f"{API}/projects/{{app_id}}/agents/{{agent_id}}/interrupt"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
}


def _declared_routes() -> set[tuple[str, str]]:
    """Every route that a module of ``hubbub.api.routes`` declares, with the path it is served at."""
    found = set()
    for info in pkgutil.iter_modules(hubbub.api.routes.__path__):
        router = getattr(importlib.import_module(f"hubbub.api.routes.{info.name}"), "router", None)
        if not isinstance(router, APIRouter):
            continue
        prefix = "" if info.name == "health" else API
        for route in router.routes:
            assert isinstance(route, APIRoute)
            found |= {(method.lower(), prefix + route.path) for method in route.methods or ()}
    return found


async def test_openapi_lists_every_route(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{API}/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "Hubbub"
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert documented >= _declared_routes() | EXPECTED
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op.get("responses"), (method, path)
            assert op.get("operationId"), (method, path)


async def test_openapi_describes_request_bodies(client: httpx.AsyncClient) -> None:
    doc = (await client.get(f"{API}/openapi.json")).json()
    create = doc["paths"][f"{API}/projects"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["required"] == ["name"]
    assert schema["additionalProperties"] is False
    assert "201" in create["responses"]


async def test_docs_serve_html(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<html" in r.text.lower()
    assert f"{API}/openapi.json" in r.text
