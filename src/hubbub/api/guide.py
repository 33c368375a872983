"""The user guide (the MkDocs site built from docs/) at /guide/, from the package: no internet needed.

``scripts/docs.sh`` builds it into ``hubbub/web/guide/`` (``scripts/serve.sh`` and ``scripts/test.sh``
run it); the built site is not in git. Until it is built, /guide/ answers a page that says how.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

GUIDE = Path(__file__).resolve().parent.parent / "web" / "guide"
PREFIX = "/guide"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hubbub guide: not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>The guide is not built yet</h1>
<p>Build it from the checkout with <code>scripts/docs.sh</code> (MkDocs, from the <code>docs</code> extra);
this page then serves it. The same pages are readable as Markdown in <code>docs/</code>.</p>
<p>The REST reference is at <a href="/docs">/docs</a>.</p>
</body></html>
"""


class GuideFiles(StaticFiles):
    """The built site, looked up per request, so a build after the server started is served."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)
        self.root = directory

    async def check_config(self) -> None:
        if self.root.is_dir():  # a missing site is answered by get_response, not an error
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not (self.root / "index.html").is_file():
            return HTMLResponse(NOT_BUILT, status_code=404)
        return await super().get_response(path, scope)


def install(app: Starlette, directory: Path | None = None) -> None:
    """Mount the guide at /guide/ (``directory`` defaults to the package's built site)."""
    app.mount(PREFIX, GuideFiles(directory or GUIDE), name="guide")
