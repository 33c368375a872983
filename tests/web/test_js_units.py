"""The Web SDK's unit tests (``tests/web/*.test.mjs``: roster, reconnect loop, statistics) under node --test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TESTS = sorted(HERE.glob("*.test.mjs"))


@pytest.mark.parametrize("path", TESTS, ids=lambda p: p.name.removesuffix(".test.mjs"))
def test_node_unit_tests_pass(path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the Web SDK's unit tests need Node.js 20 or later (apt-get install nodejs)")
    done = subprocess.run([node, "--test", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout and "# pass 0" not in done.stdout, done.stdout[-2000:]
