"""The console's Docs page links each guide to its page in the built site under /guide/."""

from __future__ import annotations

import re
from pathlib import Path

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints

ROOT = Path(__file__).resolve().parents[2]


def test_every_guide_on_the_console_docs_page_is_a_page_of_the_site() -> None:
    app = (ROOT / "src/hubbub/web/console/app.js").read_text(encoding="utf-8")
    guides = re.findall(r"doc\('docs/([\w-]+)\.md'", app)
    assert len(guides) >= 10, guides
    assert "href: '/guide/'" in app
    # The link is /guide/<name>/: a page of the nav, with directory URLs.
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    assert config.get("use_directory_urls", "true") == "true"
    nav = re.findall(r"([\w-]+)\.md", str(config["nav"]))
    assert [g for g in guides if g not in nav] == []
    assert "`/guide/${path.replace(" in app
