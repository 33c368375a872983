"""Every page the server serves works without internet: /docs (Swagger UI), the console and the demos.

Two checks. Chromium loads each page with every request to a host other than loopback aborted and
sees it work (the REST operations listed on /docs; nothing was even attempted off the machine).
And a crawl of the served pages and the stylesheets and scripts they load finds no http(s) URL
that is not on loopback, so a font or a CDN script cannot creep back in.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import pytest_asyncio

from hubbub.api.app import WEB

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
PAGES = [
    "/docs",
    *sorted(
        f"/{page.parent.name}/{page.name}" for folder in ("console", "demo") for page in (WEB / folder).glob("*.html")
    ),
]
# Namespace names, not addresses anything is fetched from.
NAMESPACES = ("http://www.w3.org/",)

URL = re.compile(r"""https?://[^\s"'`<>()\\]+""")
HTML_REFS = re.compile(
    r"""<(?:script|link|img|source|iframe|video|audio)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.I
)
JS_IMPORTS = re.compile(r"""(?:\bimport\b[^'"`;]*?|\bimport\s*\(\s*)["']([^"']+)["']""")
CSS_REFS = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)|@import\s+["']([^"']+)["']""")
COMMENTS = re.compile(r"""/\*.*?\*/|(?<![:"'\\])//[^\n]*""", re.S)


def off_machine(url: str) -> bool:
    return (urlsplit(url).hostname or "") not in LOOPBACK and not url.startswith(NAMESPACES)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(live_module: Any) -> Any:
    """The module's live server and browser come from tests/e2e/conftest.py."""
    return live_module


async def crawl(base: str) -> dict[str, list[str]]:
    """Each served page and the same-origin stylesheets and scripts it loads -> the off-machine URLs in it."""
    found: dict[str, list[str]] = {}
    queue = [urljoin(base, page) for page in PAGES]
    async with httpx.AsyncClient(timeout=10) as http:
        while queue:
            url = queue.pop()
            if url in found:
                continue
            response = await http.get(url)
            assert response.status_code == 200, f"{url}: {response.status_code}"
            text = response.text
            kind = response.headers.get("content-type", "").split(";")[0]
            refs: list[str] = []
            if kind == "text/html":
                scanned = text
                refs = HTML_REFS.findall(text)
                for script in re.findall(r"<script\b[^>]*>(.*?)</script>", text, re.S | re.I):
                    refs += JS_IMPORTS.findall(script)
            elif kind == "text/css":
                scanned = " ".join(a or b for a, b in CSS_REFS.findall(text))
                refs = [a or b for a, b in CSS_REFS.findall(text)]
            elif "javascript" in kind:
                refs = JS_IMPORTS.findall(COMMENTS.sub("", text))
                # A vendored bundle (Swagger UI, Chart.js) names spec and licence URLs it never loads:
                # what it fetches is checked in Chromium. Our own scripts are held to every literal.
                scanned = "" if "/vendor/" in url or "/docs/" in url else COMMENTS.sub("", text)
                scanned += " ".join(refs)
            else:
                scanned = ""
            found[url] = [u for u in URL.findall(scanned) if off_machine(u)]
            for ref in refs:
                target = urljoin(url, ref)
                if urlsplit(target).netloc == urlsplit(base).netloc and target.endswith((".js", ".css")):
                    queue.append(target.split("#")[0])
    return found


async def test_served_pages_reference_only_loopback(server: Any) -> None:
    assert "/console/index.html" in PAGES and "/demo/index.html" in PAGES and "/demo/call.html" in PAGES
    found = await crawl(server.url)
    assert any(u.endswith("/docs") for u in found) and any("/console/" in u for u in found)
    assert any(u.endswith(".css") for u in found) and any(u.endswith(".js") for u in found), sorted(found)
    offenders = {url: urls for url, urls in found.items() if urls}
    assert not offenders, f"served pages reference hosts off this machine: {offenders}"


async def open_offline(browser: Any, url: str) -> tuple[Any, Any, list[str]]:
    """A page whose every request to a host other than loopback is aborted (and recorded)."""
    ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
    blocked: list[str] = []

    async def route(r: Any) -> None:
        if off_machine(r.request.url) and r.request.url.startswith(("http:", "https:", "ws:", "wss:")):
            blocked.append(r.request.url)
            await r.abort("internetdisconnected")
        else:
            await r.continue_()

    await ctx.route("**/*", route)
    page = await ctx.new_page()
    await page.goto(url, wait_until="networkidle")
    return ctx, page, blocked


async def test_docs_lists_operations_offline(browser: Any, server: Any) -> None:
    ctx, page, blocked = await open_offline(browser, f"{server.url}/docs")
    try:
        try:
            await page.wait_for_selector(".opblock-summary-path", timeout=15_000)
        except Exception as exc:
            raise AssertionError(f"Swagger UI listed no operation; requests blocked: {blocked}") from exc
        paths = await page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.textContent)")
        assert any("/api/v1/projects" in p for p in paths), paths
        assert len(paths) >= 10, paths
        assert not blocked, f"/docs asked for hosts off this machine: {blocked}"
    finally:
        await ctx.close()


async def test_console_and_demos_load_offline(browser: Any, server: Any) -> None:
    for path in PAGES[1:]:
        ctx, page, blocked = await open_offline(browser, f"{server.url}{path}")
        try:
            assert await page.title(), f"{path} has no title"
            assert not blocked, f"{path} asked for hosts off this machine: {blocked}"
        finally:
            await ctx.close()
