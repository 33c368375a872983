"""The ASGI application: REST API under /api/v1, operations endpoints, OpenAPI docs at /docs."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from hubbub import __version__
from hubbub.api import problems
from hubbub.api.middleware import RequestContextMiddleware
from hubbub.api.routes import auth, channels, health, projects, tokens, usage
from hubbub.api.services import Services

API_PREFIX = "/api/v1"
WEB = Path(__file__).resolve().parent.parent / "web"  # the Web SDK and the demo pages

DESCRIPTION = """
Hubbub's control plane: console accounts, projects (App ID + App Certificate), API keys,
access tokens and usage. Authenticate server-to-server calls with an API key
(`Authorization: Bearer <key_id>.<secret>`); the console uses a session cookie plus the
`X-CSRF-Token` header. Every error is an RFC 9457 problem document with a stable `code`.
"""


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Hubbub",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
    )
    app.state.services = services
    problems.install(app)
    api = APIRouter(prefix=API_PREFIX)
    for module in (auth, projects, tokens, usage, channels):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    app.mount("/sdk", StaticFiles(directory=WEB / "sdk"), name="sdk")
    app.mount("/demo", StaticFiles(directory=WEB / "demo", html=True), name="demo")
    app.mount("/console", StaticFiles(directory=WEB / "console", html=True), name="console")
    app.add_middleware(RequestContextMiddleware, max_body_bytes=services.settings.max_body_bytes)
    return app
