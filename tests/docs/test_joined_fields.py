"""A real ``joined`` frame from a live server carries every field docs/protocol.md lists for it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import websockets
from websockets.asyncio.client import ClientConnection

from hubbub.config import ConfigError, Settings, load_settings, masked
from hubbub.control.context import UserPrincipal
from hubbub.schema import signaling as sig
from hubbub.sdk.token import build_token
from hubbub.server.platform import Platform, serving

_spec = importlib.util.spec_from_file_location("protocol_doc", Path(__file__).with_name("test_protocol_doc.py"))
assert _spec is not None and _spec.loader is not None
_doc = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("protocol_doc", _doc)  # its dataclasses look their module up
_spec.loader.exec_module(_doc)
joined_doc_fields: Callable[[], set[str]] = _doc.joined_doc_fields


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[str, Callable[..., str]]]:
    """A live server (HTTP, signaling, media on real sockets) and a token maker for its project."""
    settings = Settings(host="127.0.0.1", port=0, data_dir=tmp_path / "data", rtc_udp_port=0, rtc_tcp_port=0)
    platform = await Platform.start(settings)
    try:
        async with serving(platform) as url:
            svc = platform.services
            user = await svc.accounts.sign_up("owner@example.com", "correct horse battery")
            project, certificate = await svc.projects.create(UserPrincipal(user.id), "docs")
            yield (
                url,
                lambda who, role="host": build_token(
                    project.app_id, certificate, user_id=who, channel="room1", role=role
                ),
            )
    finally:
        await platform.close()


async def _join(url: str, frame: dict[str, object]) -> tuple[dict[str, Any], ClientConnection]:
    ws = await websockets.connect(url.replace("http", "ws", 1) + "/rtc/v1", max_size=2**22)
    await ws.send(json.dumps(frame))
    return json.loads(await ws.recv()), ws


async def test_joined_carries_every_documented_field(server: tuple[str, Callable[..., str]]) -> None:
    url, token = server
    joined, ws = await _join(url, {"type": "join", "id": "j", "token": token("alice")})
    try:
        assert joined["type"] == "joined" and joined["re"] == "j"
        missing = sorted(joined_doc_fields() - joined.keys())
        assert missing == [], f"joined lacks fields docs/protocol.md lists: {missing}"
        assert joined["ice_servers"] == []  # no STUN/TURN server is configured
        assert joined["protocol"] == sig.PROTOCOL_VERSION
        assert joined["ping_interval"] == 5.0
        assert joined["resumed"] is False
        # What the SDKs decode is the same frame.
        decoded = sig.decode_server(json.dumps(joined))
        assert isinstance(decoded, sig.Joined) and decoded.resumed is False
    finally:
        await ws.close()


async def test_a_resumed_join_says_so(server: tuple[str, Callable[..., str]]) -> None:
    url, token = server
    first, ws1 = await _join(url, {"type": "join", "id": "j1", "token": token("bob")})
    participant = first["participant"]
    assert isinstance(participant, dict)
    await ws1.close()  # dropped, not left: the participant waits
    resume = {"resume_sid": participant["sid"], "resume_key": first["resume_key"]}
    second, ws2 = await _join(url, {"type": "join", "id": "j2", "token": token("bob"), **resume})
    try:
        assert second["type"] == "joined" and second["resumed"] is True, second
        assert second["participant"]["sid"] == participant["sid"]
    finally:
        await ws2.close()


async def test_an_audience_publish_gets_the_code_tokens_md_names(server: tuple[str, Callable[..., str]]) -> None:
    """docs/tokens.md says what an audience token that publishes is told: the code the server sends."""
    url, token = server
    joined, ws = await _join(url, {"type": "join", "id": "j", "token": token("viewer", "audience")})
    try:
        assert joined["type"] == "joined"
        await ws.send(json.dumps({"type": "publish", "id": "p", "cid": "mic", "kind": "audio"}))
        reply = json.loads(await ws.recv())
        assert reply["type"] == "error" and reply["re"] == "p", reply
        tokens_doc = _doc.section((_doc.DOCS / "tokens.md").read_text(encoding="utf-8"), "Error codes")
        assert f"`{reply['code']}`" in tokens_doc, (
            f"docs/tokens.md does not say a publish is refused with {reply['code']}"
        )
    finally:
        await ws.close()


async def test_configured_ice_servers_reach_the_client(tmp_path: Path) -> None:
    """STUN/TURN servers from the settings are in ``joined``; TURN ones with time-limited credentials
    as coturn's ``use-auth-secret`` checks them (username ``<expiry>:<identity>``, HMAC-SHA1)."""
    env = {
        "HUBBUB_ICE_SERVERS": "stun:stun.example.com:3478, turn:turn.example.com:3478?transport=udp,"
        "turns:turn.example.com:443",
        "HUBBUB_TURN_SECRET": "s3cret",
    }
    settings = load_settings({"port": 0, "rtc_udp_port": 0, "rtc_tcp_port": 0, "data_dir": tmp_path}, env=env)
    platform = await Platform.start(settings)
    try:
        async with serving(platform) as url:
            user = await platform.services.accounts.sign_up("owner@example.com", "correct horse battery")
            project, certificate = await platform.services.projects.create(UserPrincipal(user.id), "docs")
            tok = build_token(project.app_id, certificate, user_id="alice", channel="room1")
            joined, ws = await _join(url, {"type": "join", "id": "j", "token": tok})
            await ws.close()
    finally:
        await platform.close()
    stun, turn = joined["ice_servers"]
    assert stun == {"urls": ["stun:stun.example.com:3478"]}
    assert turn["urls"] == ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:443"]
    expiry, identity = turn["username"].split(":")
    assert identity == "alice" and int(expiry) > time.time() + 3600
    digest = hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(digest).decode()


def test_ice_server_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="ice_servers"):
        load_settings(env={"HUBBUB_ICE_SERVERS": "http://stun.example.com"})
    with pytest.raises(ConfigError, match="turn_secret"):
        load_settings(env={"HUBBUB_ICE_SERVERS": "turn:turn.example.com"})
    assert "s3cret" not in str(masked(load_settings(env={"HUBBUB_TURN_SECRET": "s3cret"})))
