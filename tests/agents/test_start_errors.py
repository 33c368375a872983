"""Starting an agent whose LLM cannot run here: one clear error that names the fix.

llama-cpp-python is made unimportable for the test (``sys.modules["llama_cpp"] = None``), as on a
default install where ``scripts/build-llama.sh`` has not run.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import httpx
import pytest

from hubbub.cli import main as cli_main


@pytest.fixture
def no_llama(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)


def _says_it_once(text: str) -> None:
    assert text.count("not available") + text.count("cannot run") == 1, text
    assert text.count("llama-cpp-python") == 1, text
    assert text.count("scripts/build-llama.sh") == 1, text
    # The fix: an OpenAI-compatible endpoint, with the exact config keys.
    assert "OpenAI-compatible" in text and '"name": "openai"' in text and '"base_url"' in text, text
    assert "--llm-url" in text, text


async def test_rest_start_without_llama_gives_one_error_with_the_fix(live_agents: Any, no_llama: None) -> None:
    base = f"{live_agents.url}/api/v1/projects/{live_agents.app_id}/agents"
    async with httpx.AsyncClient(headers=live_agents.headers, timeout=20) as http:
        r = await http.post(base, json={"channel": "room1", "listen_to": ["alice"]})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_agent_config"
    assert body["detail"].startswith("providers.llm: "), body["detail"]
    _says_it_once(body["detail"])
    assert [e["field"] for e in body["errors"]] == ["providers.llm"]
    assert live_agents.manager.running == []


async def test_cli_start_without_llama_prints_the_error_once(
    live_agents: Any, no_llama: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["agent", "start", "--url", live_agents.url, "--api-key", live_agents.api_key]
    argv += ["--app-id", live_agents.app_id, "--channel", "room1", "--listen-to", "alice"]
    status = await asyncio.to_thread(cli_main, argv)
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.startswith("hubbub: invalid_agent_config: providers.llm: "), err
    _says_it_once(err)


async def test_every_provider_that_cannot_run_is_named_once(
    live_agents: Any, no_llama: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    base = f"{live_agents.url}/api/v1/projects/{live_agents.app_id}/agents"
    async with httpx.AsyncClient(headers=live_agents.headers, timeout=20) as http:
        r = await http.post(base, json={"channel": "room1"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert [e["field"] for e in body["errors"]] == ["providers.stt", "providers.llm"]
    lines = body["detail"].splitlines()
    assert [line.split(":")[0] for line in lines] == ["providers.stt", "providers.llm"]
    assert "faster-whisper is not installed (pip install faster-whisper)" in lines[0]
    assert '"stt": {"name": "openai"' in lines[0]
    _says_it_once(lines[1])
