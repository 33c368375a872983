"""``hubbub agent``: its help, the empty list against a real server, and the defaults from the environment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubbub.cli import main
from hubbub.config import Settings
from hubbub.control.context import UserPrincipal
from hubbub.server.platform import Platform, serving


@dataclass
class Server:
    url: str
    app_id: str
    api_key: str


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    settings = Settings(
        host="127.0.0.1", port=0, data_dir=tmp_path / "data", rtc_udp_port=0, rtc_tcp_port=0, log_format="json"
    )
    platform = await Platform.start(settings)
    try:
        async with serving(platform) as url:
            svc = platform.services
            user = await svc.accounts.sign_up("owner@example.com", "correct horse battery")
            project, _certificate = await svc.projects.create(UserPrincipal(user.id), "cli")
            _, key = await svc.api_keys.create(UserPrincipal(user.id), project.app_id, "cli")
            yield Server(url, project.app_id, key)
    finally:
        await platform.close()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUBBUB_URL", "HUBBUB_API_KEY", "HUBBUB_APP_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("action", ["start", "list", "stop"])
def test_every_flag_says_what_it_is(action: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["agent", action, "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--url URL the server's base URL (default: $HUBBUB_URL or http://127.0.0.1:8080)" in out
    assert "--app-id APP_ID the project's App ID (default: $HUBBUB_APP_ID)" in out
    assert "(default: $HUBBUB_API_KEY)" in out


async def test_list_says_when_no_agent_runs(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["agent", "list", "--url", server.url, "--api-key", server.api_key, "--app-id", server.app_id]
    assert await asyncio.to_thread(main, argv) == 0
    assert capsys.readouterr().out == f"no agents running in project {server.app_id}\n"


async def test_app_id_url_and_key_default_from_the_environment(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUBBUB_URL", server.url)
    monkeypatch.setenv("HUBBUB_API_KEY", server.api_key)
    monkeypatch.setenv("HUBBUB_APP_ID", server.app_id)
    assert await asyncio.to_thread(main, ["agent", "list"]) == 0
    assert capsys.readouterr().out == f"no agents running in project {server.app_id}\n"
    # a flag still wins over the environment: another project's id is refused by the server
    assert await asyncio.to_thread(main, ["agent", "list", "--app-id", "not-a-project"]) == 2
    assert "not-a-project" not in capsys.readouterr().out


def test_a_missing_app_id_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent", "list", "--api-key", "hk_x.y"]) == 2
    assert "an App ID is needed: --app-id or $HUBBUB_APP_ID" in capsys.readouterr().err
