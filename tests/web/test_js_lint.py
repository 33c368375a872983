"""The Web SDK's JavaScript passes ESLint (eslint.config.mjs) and TypeScript's check of its JSDoc types (jsconfig.json).

Both tools come from the npm registry, pinned in package.json and package-lock.json at the repository
root, and are installed into node_modules/ with ``npm ci`` (scripts/test.sh does it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "node_modules" / ".bin"


def _tool(name: str) -> str:
    if shutil.which("node") is None:
        pytest.fail(
            "node is not installed: the JavaScript checks need Node.js 20 or later (apt-get install nodejs npm)"
        )
    tool = BIN / name
    if not tool.exists():
        pytest.fail(f"{tool.relative_to(ROOT)} is missing: install the JavaScript checks with `npm ci` in {ROOT}")
    return str(tool)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_eslint_finds_nothing() -> None:
    done = _run(_tool("eslint"), "--max-warnings", "0", ".")
    assert done.returncode == 0, f"eslint found problems:\n{done.stdout}{done.stderr}"


def test_the_jsdoc_types_check() -> None:
    done = _run(_tool("tsc"), "--project", "jsconfig.json")
    assert done.returncode == 0, f"tsc --checkJs found problems:\n{done.stdout}{done.stderr}"


def test_eslint_covers_the_sdk_and_the_node_runner() -> None:
    done = _run(_tool("eslint"), "--print-config", "src/hubbub/web/sdk/room.js")
    assert done.returncode == 0 and '"no-undef"' in done.stdout, done.stderr
    for path in ("src/hubbub/web/sdk/hubbub.js", "tests/conformance/run_js.mjs"):
        ignored = _run(_tool("eslint"), "--max-warnings", "0", path)
        assert ignored.returncode == 0 and "ignored" not in ignored.stdout, ignored.stdout
