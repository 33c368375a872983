"""The guide: mkdocs.yml builds docs/ with warnings as errors, the Web SDK reference is the JSDoc's,
and a live server serves the built site at /guide/ with nothing loaded from outside the machine."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from urllib.parse import urljoin, urlparse

import httpx
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints

from hubbub.api import guide
from hubbub.config import Settings
from hubbub.server.platform import Platform, ready_banner, serving

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).with_name("mkdocs")
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def _mkdocs(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    if not MKDOCS.exists():
        pytest.fail(f"{MKDOCS} is missing: install the docs extra (pip install -e '.[docs]')")
    return subprocess.run([str(MKDOCS), *args], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The guide built once for this module, with --strict, into a temporary directory."""
    out = tmp_path_factory.mktemp("site")
    started = time.monotonic()
    done = _mkdocs("build", "--strict", "--site-dir", str(out))
    assert done.returncode == 0, done.stderr[-4000:]
    print(f"guide built in {time.monotonic() - started:.1f} s")
    return out


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_web_sdk_doc", ROOT / "scripts" / "gen-web-sdk-doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _nav_pages(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for entry in nav for page in _nav_pages(entry)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


# --- the build -----------------------------------------------------------------------------------


def test_the_guide_builds_strict_with_every_page(site: Path) -> None:
    nav = _nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    assert sorted(nav) == sorted(p.name for p in (ROOT / "docs").glob("*.md")), "every docs/*.md is in the nav"
    for page in ("deployment.md", "settings.md", "troubleshooting.md", "python-sdk.md", "web-sdk-reference.md"):
        assert page in nav
    python = (site / "python-sdk" / "index.html").read_text(encoding="utf-8")
    assert 'id="hubbub.sdk.room.Room.wait_for_track"' in python  # rendered from the docstrings
    assert 'id="hubbub.sdk.token.build_token"' in python
    assert ":class:" not in python and ":func:" not in python  # Sphinx roles shown as plain code
    assert "<blockquote>" not in python and '<span class="gp">&gt;&gt;&gt; </span>' in python  # doctests as code
    web = (site / "web-sdk-reference" / "index.html").read_text(encoding="utf-8")
    assert "room.publishCamera" in web and "trackSubscribed" in web and "connectRtm" in web


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    """--strict with this configuration turns a warning into a failed build."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    config["plugins"] = ["search"]  # the same theme and checks, without the API pages
    config.pop("hooks", None)
    config["nav"] = ["index.md"]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n\nSee [the missing page](nowhere.md).\n")
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    done = _mkdocs("build", "--strict", "--site-dir", str(tmp_path / "site"), cwd=tmp_path)
    assert done.returncode != 0
    assert "nowhere.md" in done.stderr


def test_no_page_loads_anything_from_outside(site: Path) -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["theme"]["font"] is False  # Material would load Google Fonts
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        for tag in re.findall(r"<(?:script|link|img|iframe|source)\b[^>]*>", html):
            for url in ASSET.findall(tag):
                assert not urlparse(url).netloc, f"{page.relative_to(site)} loads {url}"
    for css in (site / "assets").rglob("*.css"):
        assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", css.read_text(encoding="utf-8")), css


# --- the Web SDK reference -----------------------------------------------------------------------


def test_the_web_sdk_reference_is_in_sync_with_the_jsdoc() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-web-sdk-doc.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_every_exported_name_and_method_has_jsdoc() -> None:
    gen = _generator()
    modules = gen.modules()
    exported = {item.name for module in modules for item in module.items}
    assert {"Room", "connect", "LocalPublication", "RtmClient", "connectRtm"} <= exported
    assert gen.undocumented(modules) == []


def test_every_event_the_sdk_emits_is_documented() -> None:
    gen = _generator()
    for module in gen.modules():
        documented = set()
        for item in module.items:
            for member in item.members:
                if member.name == "on":
                    documented |= {value.split()[0] for value in member.doc.all("event")}
        assert documented == module.emitted, module.name


# --- served at /guide/ ---------------------------------------------------------------------------


@pytest.fixture
async def server(tmp_path: Path, site: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    built = tmp_path / "guide"
    shutil.copytree(site, built)
    monkeypatch.setattr(guide, "GUIDE", built)
    async with _serve(tmp_path) as url:
        yield url


class _serve:
    def __init__(self, tmp_path: Path) -> None:
        self.settings = Settings(host="127.0.0.1", port=0, data_dir=tmp_path / "data", rtc_udp_port=0, rtc_tcp_port=0)

    async def __aenter__(self) -> str:
        self.platform = await Platform.start(self.settings)
        self.serving = serving(self.platform)
        return await self.serving.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.serving.__aexit__(None, None, None)
        finally:
            await self.platform.close()


async def test_hubbub_serves_the_guide_and_its_assets_from_loopback(server: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        bare = await http.get(f"{server}/guide")
        assert bare.status_code in (301, 302, 307, 308) and bare.headers["location"].endswith("/guide/")
        loaded: set[str] = set()
        for path in ("/guide/", "/guide/python-sdk/", "/guide/web-sdk-reference/", "/guide/deployment/"):
            page = await http.get(server + path)
            assert page.status_code == 200, path
            assert page.headers["content-type"].startswith("text/html")
            assert "Hubbub guide" in page.text
            for tag in re.findall(r"<(?:script|link|img)\b[^>]*>", page.text):
                for ref in ASSET.findall(tag):
                    url = urljoin(server + path, ref)
                    assert urlparse(url).netloc == urlparse(server).netloc, f"{path} loads {url}"
                    loaded.add(url)
        assert any(u.endswith(".css") for u in loaded) and any(u.endswith(".js") for u in loaded)
        for url in sorted(loaded):
            assert (await http.get(url)).status_code == 200, url


async def test_before_the_guide_is_built_guide_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guide, "GUIDE", tmp_path / "not-built")
    async with _serve(tmp_path) as url, httpx.AsyncClient(timeout=10) as http:
        page = await http.get(f"{url}/guide/")
    assert page.status_code == 404
    assert "scripts/docs.sh" in page.text


def test_the_ready_banner_names_the_guide(tmp_path: Path) -> None:
    out = io.StringIO()
    ready_banner(Settings(host="127.0.0.1", port=8080, data_dir=tmp_path), 8080, out)
    assert "Guide        http://127.0.0.1:8080/guide/" in out.getvalue()
