"""The ASGI application: REST API under /api/v1, operations endpoints, OpenAPI docs at /docs."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from hubbub import __version__
from hubbub.api import guide, problems
from hubbub.api.middleware import RequestContextMiddleware
from hubbub.api.routes import agents, auth, channels, health, projects, tokens, usage
from hubbub.api.services import Services

API_PREFIX = "/api/v1"
WEB = Path(__file__).resolve().parent.parent / "web"  # the Web SDK and the demo pages
# Swagger UI's script, stylesheet and icon, shipped by the fastapi-offline package: /docs needs no CDN.
SWAGGER_UI = Path(fastapi_offline.__file__).resolve().parent / "static"
DOCS_ASSETS = "/docs/assets"

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
        docs_url=None,  # served by install_docs, from the package rather than a CDN
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
    )
    app.state.services = services
    problems.install(app)
    api = APIRouter(prefix=API_PREFIX)
    for module in (auth, projects, tokens, usage, channels, agents):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    install_docs(app)
    app.mount("/sdk", StaticFiles(directory=WEB / "sdk"), name="sdk")
    app.mount("/demo", StaticFiles(directory=WEB / "demo", html=True), name="demo")
    app.mount("/lab", StaticFiles(directory=WEB / "lab", html=True), name="lab")  # hubbub bench quality's pages
    app.mount("/console", StaticFiles(directory=WEB / "console", html=True), name="console")
    guide.install(app)  # the user guide at /guide/, built by scripts/docs.sh
    app.add_middleware(RequestContextMiddleware, max_body_bytes=services.settings.max_body_bytes)
    return app


def install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs with every asset served from here, so the page works without internet."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_UI), name="docs-assets")
    openapi_url = app.openapi_url or f"{API_PREFIX}/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - API docs",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            # No badge that sends the document to the public online validator.
            swagger_ui_parameters={"validatorUrl": None},
        )
