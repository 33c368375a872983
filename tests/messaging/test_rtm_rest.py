"""The REST side: server sends, history, tombstones, moderation, attachments and webhook config
(API key auth, RFC 9457 problems; SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import Image

from hubbub.control.context import UserPrincipal
from hubbub.messaging import MessagingSettings
from hubbub.sdk.token import build_token
from hubbub.server import Platform
from hubbub.util.clock import ManualClock


async def _api(platform: Platform, tmp_path: Any, wire: Any, **limits: Any) -> tuple[httpx.AsyncClient, str, str]:
    platform = (await wire(MessagingSettings(attachment_dir=tmp_path / "att", **limits))).platform
    svc = platform.services
    user = await svc.accounts.sign_up("rest@example.com", "correct horse battery")
    project, certificate = await svc.projects.create(UserPrincipal(user.id), "rest")
    _, credential = await svc.api_keys.create(UserPrincipal(user.id), project.app_id, "backend")
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=platform.app),
        base_url="http://hubbub.test",
        headers={"Authorization": f"Bearer {credential}"},
    )
    return client, project.app_id, certificate


async def test_send_history_delete_and_moderation(platform: Platform, tmp_path: Any, wire_rtm: Any) -> None:
    client, app_id, _ = await _api(platform, tmp_path, wire_rtm)
    base = f"/api/v1/projects/{app_id}/rtm"
    async with client:
        r = await client.post(f"{base}/channels/news/messages", json={"sender": "bot", "text": "hello"})
        assert r.status_code == 201, r.text
        first = r.json()
        r = await client.post(f"{base}/channels/news/messages", json={"data": {"score": 3}, "client_msg_id": "k1"})
        again = await client.post(f"{base}/channels/news/messages", json={"data": {"score": 3}, "client_msg_id": "k1"})
        assert again.json()["duplicate"] and again.json()["seq"] == r.json()["seq"] == 2
        page = (await client.get(f"{base}/channels/news/messages", params={"limit": 1})).json()
        assert [m["seq"] for m in page["messages"]] == [2] and page["has_more"]
        r = await client.delete(f"{base}/channels/news/messages/{first['id']}")
        assert r.json()["deleted"] and r.json()["text"] is None
        page = (await client.get(f"{base}/channels/news/messages", params={"after_seq": 0})).json()
        assert [(m["seq"], m["deleted"]) for m in page["messages"]] == [(1, True), (2, False)]
        r = await client.post(f"{base}/channels/news/messages", json={"text": "x" * (40 * 1024)})
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
        r = await client.post(f"{base}/channels/a%2Ab/messages", json={"text": "x"})
        assert r.status_code == 422 and r.json()["code"] == "invalid_channel"
        r = await client.post(f"{base}/channels/news/messages", json={"text": "a", "data": 1})
        assert r.json()["code"] == "invalid_message"
        assert (await client.put(f"{base}/channels/news/bans/troll", json={"duration_s": 60})).status_code == 204
        assert (await client.put(f"{base}/channels/news/mutes/loud")).status_code == 204
        mods = (await client.get(f"{base}/channels/news/moderation")).json()
        assert sorted((m["user_id"], m["action"]) for m in mods) == [("loud", "mute"), ("troll", "ban")]
        assert (await client.delete(f"{base}/channels/news/bans/troll")).status_code == 204
        r = await client.post(f"{base}/peers/bob/messages", json={"sender": "bot", "text": "hi bob"})
        assert r.status_code == 201 and r.json()["to"] == "bob"
        unread = await client.get(f"{base}/users/carol/unread", params={"channel": ["news"]})
        assert unread.json() == {"news": 1}
        other = await client.get("/api/v1/projects/0123456789abcdef0123456789abcdef/rtm/channels/news/messages")
        assert other.status_code == 404 and other.json()["code"] == "project_not_found"


async def test_attachments_with_thumbnails_and_limits(
    platform: Platform, clock: ManualClock, tmp_path: Any, wire_rtm: Any
) -> None:
    client, app_id, certificate = await _api(platform, tmp_path, wire_rtm, attachment_max_bytes=200_000)
    png = io.BytesIO()
    Image.new("RGB", (800, 400), (200, 30, 30)).save(png, "PNG")
    token = build_token(app_id, certificate, user_id="amy", now=int(clock()))
    async with client:
        r = await client.post(
            "/api/v1/rtm/attachments",
            params={"filename": "red.png"},
            content=png.getvalue(),
            headers={"content-type": "image/png", "x-hubbub-token": token, "authorization": ""},
        )
        assert r.status_code == 201, r.text
        info = r.json()
        assert (info["width"], info["height"], info["has_thumbnail"]) == (800, 400, True)
        r = await client.get(f"/api/v1/rtm/attachments/{info['id']}", params={"token": token, "thumbnail": True})
        assert r.status_code == 200
        assert Image.open(io.BytesIO(r.content)).size == (256, 128)
        full = await client.get(f"/api/v1/projects/{app_id}/rtm/attachments/{info['id']}")
        assert full.content == png.getvalue()
        sent = await client.post(
            f"/api/v1/projects/{app_id}/rtm/channels/pics/messages", json={"text": "look", "attachments": [info["id"]]}
        )
        assert sent.status_code == 201
        missing = await client.post(
            f"/api/v1/projects/{app_id}/rtm/channels/pics/messages", json={"text": "x", "attachments": ["nope"]}
        )
        assert missing.status_code == 404 and missing.json()["code"] == "attachment_not_found"
        fake = await client.post(
            f"/api/v1/projects/{app_id}/rtm/attachments", content=b"not a png", headers={"content-type": "image/png"}
        )
        assert fake.status_code == 422
        big = await client.post(
            f"/api/v1/projects/{app_id}/rtm/attachments", content=b"x" * 300_000, headers={"content-type": "text/plain"}
        )
        assert big.status_code == 413
        exe = await client.post(
            f"/api/v1/projects/{app_id}/rtm/attachments",
            content=b"MZ",
            headers={"content-type": "application/x-msdownload"},
        )
        assert exe.status_code == 422
        r = await client.post(f"/api/v1/projects/{app_id}/webhooks", json={"url": "https://example.test/h"})
        assert r.status_code == 201 and r.json()["secret"].startswith("whsec_")
        listed = (await client.get(f"/api/v1/projects/{app_id}/webhooks")).json()
        assert [w["url"] for w in listed] == ["https://example.test/h"] and listed[0]["secret"] is None
        bad = await client.post(f"/api/v1/projects/{app_id}/webhooks", json={"url": "ftp://x"})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_url"
