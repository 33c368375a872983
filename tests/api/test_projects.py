"""Projects over REST: create, list, rename, delete, testing mode and App Certificate rotation."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from hubbub.control.tokens import AppKeys, verify_token
from hubbub.sdk.token import build_token
from hubbub.server import Platform
from hubbub.util.clock import ManualClock

API = "/api/v1"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    return body


async def create(c: httpx.AsyncClient, name: Any, **fields: Any) -> httpx.Response:
    return await c.post(f"{API}/projects", json={"name": name, **fields})


async def verify(c: httpx.AsyncClient, app_id: str, token: str) -> httpx.Response:
    return await c.post(f"{API}/projects/{app_id}/tokens/verify", json={"token": token})


def token_for(project: dict[str, Any], certificate: str, now: float) -> str:
    return build_token(project["app_id"], certificate, user_id="alice", now=int(now))


# --- create, read, list ------------------------------------------------------------------------


async def test_create_returns_app_id_and_certificate_once(signed_in: httpx.AsyncClient, clock: ManualClock) -> None:
    r = await create(signed_in, "Demo")
    assert r.status_code == 201, r.text
    body = r.json()
    assert HEX32.match(body["app_id"])
    certificate = body["app_certificate"]
    assert isinstance(certificate, str) and len(certificate) >= 32
    assert body["name"] == "Demo"
    assert body["token_required"] is True and body["insecure"] is False
    assert body["created_at"] == body["updated_at"] == body["certificate_created_at"] == clock.now
    assert body["previous_certificate_valid_until"] is None

    one = await signed_in.get(f"{API}/projects/{body['app_id']}")
    listed = await signed_in.get(f"{API}/projects")
    for r in (one, listed):
        assert r.status_code == 200
        assert "app_certificate" not in r.text
        assert certificate not in r.text
    assert {k: v for k, v in body.items() if k != "app_certificate"} == one.json()
    assert listed.json() == [one.json()]


async def test_each_project_gets_its_own_app_id_and_certificate(
    signed_in: httpx.AsyncClient, make_project: Any
) -> None:
    made = [await make_project(signed_in) for _ in range(3)]
    assert len({p["app_id"] for p in made}) == 3
    assert len({p["app_certificate"] for p in made}) == 3
    r = await signed_in.get(f"{API}/projects")
    assert [p["app_id"] for p in r.json()] == [p["app_id"] for p in made]


async def test_list_is_empty_for_a_new_user(signed_in: httpx.AsyncClient) -> None:
    r = await signed_in.get(f"{API}/projects")
    assert r.status_code == 200 and r.json() == []


async def test_unknown_app_id_is_404(signed_in: httpx.AsyncClient) -> None:
    for app_id in ("0" * 32, "nope", "x" * 200):
        problem(await signed_in.get(f"{API}/projects/{app_id}"), 404, "project_not_found")


# --- names -------------------------------------------------------------------------------------


async def test_rename(signed_in: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock) -> None:
    url = f"{API}/projects/{project['app_id']}"
    clock.advance(10)
    r = await signed_in.patch(url, json={"name": "  Renamed  "})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed"
    assert r.json()["updated_at"] == clock.now
    assert r.json()["created_at"] == project["created_at"]
    assert r.json()["token_required"] is True  # untouched fields stay as they were
    assert (await signed_in.get(url)).json()["name"] == "Renamed"
    # an empty PATCH changes nothing but is fine
    r = await signed_in.patch(url, json={})
    assert r.status_code == 200 and r.json()["name"] == "Renamed"


UNICODE_NAMES = [
    "🎉 Launch party 🚀",
    "👩\u200d💻 Dev team",  # an emoji ZWJ sequence
    "🇯🇵 Tokyo",
    "会议室 一号",
    "회의실",
    "مشروع التجربة",
    "פרויקט שלום",
    "\u067e\u0631\u0648\u0698\u0647\u200c\u0647\u0627",  # Persian "projects": needs the ZWNJ
    "Café ☕",
    "x" * 100,
    "名" * 100,
]


async def test_unicode_names_round_trip(signed_in: httpx.AsyncClient) -> None:
    app_ids = []
    for name in UNICODE_NAMES:
        r = await create(signed_in, name)
        assert r.status_code == 201, (name, r.text)
        assert r.json()["name"] == name
        app_ids.append(r.json()["app_id"])
        assert (await signed_in.get(f"{API}/projects/{app_ids[-1]}")).json()["name"] == name
    assert [p["name"] for p in (await signed_in.get(f"{API}/projects")).json()] == UNICODE_NAMES
    for app_id, name in zip(app_ids, UNICODE_NAMES, strict=True):
        renamed = name[:90] + " (2)"
        r = await signed_in.patch(f"{API}/projects/{app_id}", json={"name": renamed})
        assert r.status_code == 200 and r.json()["name"] == renamed


async def test_names_are_stored_in_nfc(signed_in: httpx.AsyncClient) -> None:
    decomposed = "Cafe\u0301"
    r = await create(signed_in, decomposed)
    assert r.status_code == 201
    assert r.json()["name"] == unicodedata.normalize("NFC", decomposed) == "Caf\u00e9"
    # the composed spelling is the same name
    problem(await create(signed_in, "Caf\u00e9"), 409, "project_name_taken")


CONTROL_NAMES = [
    "line\nbreak",
    "tab\there",
    "nul\x00byte",
    "bell\x07",
    "del\x7f",
    "c1\x85control",
    "bidi \u202eoverride",
    "isolate \u2066x\u2069",
    "bom\ufeff",
]


async def test_names_with_control_characters_are_refused(signed_in: httpx.AsyncClient, project: dict[str, Any]) -> None:
    for name in CONTROL_NAMES:
        # ASCII-escaped JSON: "\\u0000" and friends as a JSON client would send them
        body = json.dumps({"name": name}).encode()
        headers = {"content-type": "application/json"}
        problem(await signed_in.post(f"{API}/projects", content=body, headers=headers), 422, "invalid_name")
        problem(
            await signed_in.patch(f"{API}/projects/{project['app_id']}", content=body, headers=headers),
            422,
            "invalid_name",
        )
    # a lone surrogate is not even a valid string to the request parser
    lone = b'{"name": "surrogate \\ud800"}'
    problem(await signed_in.post(f"{API}/projects", content=lone, headers=headers), 422, "invalid_request")
    assert [p["name"] for p in (await signed_in.get(f"{API}/projects")).json()] == [project["name"]]


async def test_empty_and_too_long_names_are_refused(signed_in: httpx.AsyncClient, project: dict[str, Any]) -> None:
    url = f"{API}/projects/{project['app_id']}"
    for name in ("", "x" * 101, "名" * 101):
        body = problem(await create(signed_in, name), 422, "invalid_request")
        assert body["errors"][0]["field"] == "name"
        problem(await signed_in.patch(url, json={"name": name}), 422, "invalid_request")
    for name in ("   ", "\u3000"):
        problem(await create(signed_in, name), 422, "invalid_name")
        problem(await signed_in.patch(url, json={"name": name}), 422, "invalid_name")
    problem(await signed_in.post(f"{API}/projects", json={}), 422, "invalid_request")
    assert (await signed_in.get(url)).json()["name"] == project["name"]


async def test_duplicate_name_per_owner_is_409(signed_in: httpx.AsyncClient, sign_in: Any) -> None:
    assert (await create(signed_in, "Shared name")).status_code == 201
    problem(await create(signed_in, "Shared name"), 409, "project_name_taken")
    problem(await create(signed_in, "  Shared name "), 409, "project_name_taken")
    other = await create(signed_in, "Other")
    problem(
        await signed_in.patch(f"{API}/projects/{other.json()['app_id']}", json={"name": "Shared name"}),
        409,
        "project_name_taken",
    )
    # renaming a project to its own name is not a conflict
    r = await signed_in.patch(f"{API}/projects/{other.json()['app_id']}", json={"name": "Other"})
    assert r.status_code == 200
    # another user may use the same name
    someone_else = await sign_in()
    assert (await create(someone_else, "Shared name")).status_code == 201
    assert sorted(p["name"] for p in (await signed_in.get(f"{API}/projects")).json()) == ["Other", "Shared name"]


# --- delete ------------------------------------------------------------------------------------


async def test_delete(signed_in: httpx.AsyncClient, make_project: Any, make_api_key: Any, new_client: Any) -> None:
    keep = await make_project(signed_in, "Keep")
    gone = await make_project(signed_in, "Gone")
    credential = await make_api_key(signed_in, gone["app_id"])
    url = f"{API}/projects/{gone['app_id']}"
    r = await signed_in.delete(url)
    assert r.status_code == 204 and r.content == b""
    problem(await signed_in.get(url), 404, "project_not_found")
    problem(await signed_in.delete(url), 404, "project_not_found")
    problem(await signed_in.patch(url, json={"name": "Back"}), 404, "project_not_found")
    assert [p["app_id"] for p in (await signed_in.get(f"{API}/projects")).json()] == [keep["app_id"]]
    # its API keys went with it
    server = await new_client()
    problem(
        await server.get(f"{API}/projects", headers={"Authorization": f"Bearer {credential}"}), 401, "invalid_api_key"
    )
    # and its name is free again
    assert (await create(signed_in, "Gone")).status_code == 201


# --- testing mode ------------------------------------------------------------------------------


async def test_testing_mode_is_flagged_insecure(signed_in: httpx.AsyncClient) -> None:
    r = await create(signed_in, "Playground", token_required=False)
    assert r.status_code == 201
    assert r.json()["token_required"] is False and r.json()["insecure"] is True
    url = f"{API}/projects/{r.json()['app_id']}"
    assert (await signed_in.get(url)).json()["insecure"] is True
    r = await signed_in.patch(url, json={"token_required": True})
    assert r.json()["token_required"] is True and r.json()["insecure"] is False
    r = await signed_in.patch(url, json={"token_required": False})
    assert r.json()["insecure"] is True
    assert (await signed_in.get(f"{API}/projects")).json()[0]["insecure"] is True


# --- certificate rotation ----------------------------------------------------------------------


async def test_rotation_keeps_old_certificate_during_grace(
    signed_in: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock
) -> None:
    app_id = project["app_id"]
    old = project["app_certificate"]
    old_token = token_for(project, old, clock.now)
    clock.advance(5)
    r = await signed_in.post(f"{API}/projects/{app_id}/certificate/rotate", json={"grace_seconds": 600})
    assert r.status_code == 200, r.text
    new = r.json()["app_certificate"]
    assert new != old and len(new) >= 32
    assert r.json()["certificate_created_at"] == clock.now
    assert r.json()["previous_certificate_valid_until"] == clock.now + 600
    assert new not in (await signed_in.get(f"{API}/projects/{app_id}")).text

    new_token = token_for(project, new, clock.now)
    assert (await verify(signed_in, app_id, old_token)).status_code == 200
    assert (await verify(signed_in, app_id, new_token)).status_code == 200
    # tokens minted by the server now use the new certificate
    r = await signed_in.post(f"{API}/projects/{app_id}/tokens", json={"user_id": "bob"})
    assert r.status_code == 201
    verify_token(r.json()["token"], lookup=lambda a: AppKeys(a, new), now=clock.now)

    clock.advance(600)
    assert (await verify(signed_in, app_id, old_token)).status_code == 200  # the last second of grace
    clock.advance(1)
    problem(await verify(signed_in, app_id, old_token), 422, "token_bad_signature")
    assert (await verify(signed_in, app_id, new_token)).status_code == 200


async def test_rotation_default_grace_comes_from_settings(
    signed_in: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock, platform: Platform
) -> None:
    r = await signed_in.post(f"{API}/projects/{project['app_id']}/certificate/rotate")
    assert r.status_code == 200, r.text
    assert r.json()["previous_certificate_valid_until"] == clock.now + platform.settings.certificate_grace_s


async def test_rotation_with_zero_grace_kills_old_certificate_at_once(
    signed_in: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock
) -> None:
    app_id = project["app_id"]
    old_token = token_for(project, project["app_certificate"], clock.now)
    assert (await verify(signed_in, app_id, old_token)).status_code == 200
    r = await signed_in.post(f"{API}/projects/{app_id}/certificate/rotate", json={"grace_seconds": 0})
    assert r.status_code == 200
    assert r.json()["previous_certificate_valid_until"] is None
    problem(await verify(signed_in, app_id, old_token), 422, "token_bad_signature")
    new_token = token_for(project, r.json()["app_certificate"], clock.now)
    assert (await verify(signed_in, app_id, new_token)).status_code == 200


async def test_second_rotation_drops_the_first_certificate(
    signed_in: httpx.AsyncClient, project: dict[str, Any], clock: ManualClock
) -> None:
    app_id = project["app_id"]
    first = token_for(project, project["app_certificate"], clock.now)
    r = await signed_in.post(f"{API}/projects/{app_id}/certificate/rotate", json={"grace_seconds": 600})
    second = token_for(project, r.json()["app_certificate"], clock.now)
    r = await signed_in.post(f"{API}/projects/{app_id}/certificate/rotate", json={"grace_seconds": 600})
    third = token_for(project, r.json()["app_certificate"], clock.now)
    problem(await verify(signed_in, app_id, first), 422, "token_bad_signature")
    assert (await verify(signed_in, app_id, second)).status_code == 200
    assert (await verify(signed_in, app_id, third)).status_code == 200


@pytest.mark.parametrize("grace", [-1, 30 * 86_400 + 1, "600", True])
async def test_rotation_refuses_bad_grace(signed_in: httpx.AsyncClient, project: dict[str, Any], grace: Any) -> None:
    url = f"{API}/projects/{project['app_id']}"
    problem(await signed_in.post(f"{url}/certificate/rotate", json={"grace_seconds": grace}), 422, "invalid_request")
    token = token_for(project, project["app_certificate"], 1_795_000_000)
    assert (await verify(signed_in, project["app_id"], token)).status_code == 200
    assert (await signed_in.get(url)).json()["certificate_created_at"] == project["certificate_created_at"]


# --- secrets at rest ---------------------------------------------------------------------------


async def test_certificate_is_encrypted_at_rest(
    signed_in: httpx.AsyncClient, project: dict[str, Any], platform: Platform
) -> None:
    rotated = await signed_in.post(
        f"{API}/projects/{project['app_id']}/certificate/rotate", json={"grace_seconds": 600}
    )
    certificates = [project["app_certificate"], rotated.json()["app_certificate"]]
    async with platform.engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM projects WHERE app_id = :a"), {"a": project["app_id"]})).one()
    raw = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    assert project["app_id"].encode() in raw  # the row is really the project's
    for cert in certificates:
        assert cert.encode() not in raw
        assert bytes.fromhex(cert) not in raw if re.fullmatch(r"[0-9a-f]+", cert) else True
    if platform.engine.dialect.name == "sqlite":
        db_file = Path(platform.settings.effective_database_url.split("///", 1)[1])
        for f in (db_file, db_file.with_name(db_file.name + "-wal")):
            if f.exists():
                data = f.read_bytes()
                for cert in certificates:
                    assert cert.encode() not in data
