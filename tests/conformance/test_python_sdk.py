"""The conformance scripts (``scripts/*.json``) against the Python SDK, and proof that they can fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from python_runner import ScriptFailed, all_scripts, load, mutants, run_script

SCRIPTS = all_scripts()


def test_there_are_scripts() -> None:
    assert len(SCRIPTS) >= 2
    for path in SCRIPTS:
        script = load(path)
        assert script["name"] == path.stem
        assert script["description"]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
async def test_script(path: Path) -> None:
    await run_script(load(path))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
async def test_a_changed_expectation_fails(path: Path) -> None:
    for what, mutant in mutants(load(path))[:4]:
        with pytest.raises(ScriptFailed):
            await run_script(mutant)
            pytest.fail(f"{path.stem} still passed with {what}")
