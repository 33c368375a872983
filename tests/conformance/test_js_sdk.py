"""The conformance scripts (``scripts/*.json``) against the Web SDK in Node (``run_js.mjs``); changed ones must fail."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from python_runner import all_scripts, load
from python_runner import mutants as _mutants

RUNNER = Path(__file__).resolve().parent / "run_js.mjs"
SCRIPTS = all_scripts()


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not installed: the Web SDK conformance runner needs Node.js 20 or later (apt-get install nodejs)"
        )
    return node


def _run(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_node(), str(RUNNER), *map(str, paths)], capture_output=True, text=True, timeout=60 + 20 * len(paths)
    )


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_script(path: Path) -> None:
    done = _run([path])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"ok {path.stem}"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_a_changed_expectation_fails(path: Path, tmp_path: Path) -> None:
    mutants = _mutants(load(path))[:4]
    assert mutants, f"{path.stem} has no expectation to change"
    files = []
    for i, (_what, mutant) in enumerate(mutants):
        files.append(tmp_path / f"mutant{i}.json")
        files[-1].write_text(json.dumps(mutant), encoding="utf-8")
    done = _run(files)
    verdicts = [line.split()[0] for line in done.stdout.splitlines() if line.startswith(("ok ", "FAIL "))]
    assert len(verdicts) == len(mutants), done.stdout + done.stderr
    passed = [what for (what, _), verdict in zip(mutants, verdicts, strict=True) if verdict != "FAIL"]
    assert not passed, f"{path.stem} still passed with {passed}"
    assert done.returncode == 1, done.stderr
