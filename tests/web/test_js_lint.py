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


LINTED = ("src/hubbub/web/sdk", "tests", "eslint.config.mjs")


def test_eslint_finds_nothing() -> None:
    done = _run(_tool("eslint"), "--max-warnings", "0", *LINTED)
    assert done.returncode == 0, f"eslint found problems:\n{done.stdout}{done.stderr}"


def test_the_jsdoc_types_check() -> None:
    done = _run(_tool("tsc"), "--project", "jsconfig.json")
    assert done.returncode == 0, f"tsc --checkJs found problems:\n{done.stdout}{done.stderr}"


@pytest.mark.parametrize("name", ["src/hubbub/web/sdk/probe.js", "tests/conformance/probe.mjs"])
def test_eslint_reports_a_finding_in_the_sdk_and_the_node_code(name: str) -> None:
    probe = subprocess.run(
        [_tool("eslint"), "--stdin", "--stdin-filename", name],
        input="let unused = 1;\nundefinedName();\n",
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 1, probe.stdout + probe.stderr
    assert "no-unused-vars" in probe.stdout and "no-undef" in probe.stdout and "prefer-const" in probe.stdout
