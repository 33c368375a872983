"""The conformance scripts (``scripts/*.json``) against the Python SDK, and proof that they can fail."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from python_runner import Json, ScriptFailed, all_scripts, load, run_script

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


def _mutants(script: Json) -> list[tuple[str, Json]]:
    """Copies of the script with one expectation changed: each must fail."""
    found: list[tuple[str, Json]] = []
    for i, step in enumerate(script["steps"]):
        if step.get("expect_events"):
            renamed = copy.deepcopy(script)
            renamed["steps"][i]["expect_events"][-1]["event"] = "no_such_event"
            found.append((f"step {i + 1}: another event name", renamed))
            dropped = copy.deepcopy(script)
            dropped["steps"][i]["expect_events"].pop()
            found.append((f"step {i + 1}: one event fewer", dropped))
        if "expect_sent" in step and len(found) < 6:
            wrong = copy.deepcopy(script)
            wrong["steps"][i]["expect_sent"] = {**step["expect_sent"], "type": "no_such_frame"}
            found.append((f"step {i + 1}: another sent frame", wrong))
    return found


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
async def test_a_changed_expectation_fails(path: Path) -> None:
    for what, mutant in _mutants(load(path))[:4]:
        with pytest.raises(ScriptFailed):
            await run_script(mutant)
            pytest.fail(f"{path.stem} still passed with {what}")
