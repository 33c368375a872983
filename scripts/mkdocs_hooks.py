"""MkDocs hooks for the guide (mkdocs.yml ``hooks:``).

The SDK's docstrings are written for Sphinx and doctest, which Markdown misreads: ``>>>`` examples
become nested quotes and ``:class:`Room``` keeps its role name. The hooks fence the examples as
``pycon`` code (in pages and, through mkdocstrings, in docstrings) and show a role as plain code
(``~a.b.C`` as ``C``, as Sphinx does).
"""

from __future__ import annotations

import re
from typing import Any

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj|const):<code>(~?)([^<]*)</code>")
PROMPT = re.compile(r"^(\s*)>>> ")


class _Doctest(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        fenced = False
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            prompt = None if fenced else PROMPT.match(line)
            if prompt is None:
                out.append(line)
                i += 1
                continue
            indent = prompt.group(1)
            out += ["", f"{indent}```pycon"]
            while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
                out.append(lines[i])
                i += 1
            out += [f"{indent}```", ""]
        return out


class DoctestExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        md.preprocessors.register(_Doctest(md), "hubbub_doctest", 40)  # before fenced code (25)


@event_priority(100)  # before mkdocstrings reads the extensions for its docstring renderer
def on_config(config: MkDocsConfig, **kwargs: Any) -> MkDocsConfig:
    config.markdown_extensions.append(DoctestExtension())
    return config


def _code(match: re.Match[str]) -> str:
    short, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    return ROLE.sub(_code, html)
