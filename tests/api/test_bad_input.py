"""Hostile and broken requests: every error is an RFC 9457 problem document, and nothing breaks."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hubbub.server import Platform

API = "/api/v1"
JSON = {"content-type": "application/json"}


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check the full problem shape (RFC 9457 plus our ``code`` and ``request_id``)."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].split(";")[0].strip() == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == f"urn:hubbub:problem:{code}"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["request_id"] == r.headers["x-request-id"]
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", body["request_id"])
    return body


# --- JSON and shape ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b'{"email": ', b"{'email': 'x'}", b"not json", b'{"email": "a@b.co",}', b"\xff\xfe{}", b"{" * 5000],
)
async def test_malformed_json_is_400(client: httpx.AsyncClient, content: bytes) -> None:
    problem(await client.post(f"{API}/auth/signup", content=content, headers=JSON), 400, "malformed_json")


@pytest.mark.parametrize("levels", [65, 1_000, 100_000])
@pytest.mark.parametrize("kind", ["[]", "{}"])
async def test_a_body_nested_too_deep_is_400_not_a_crash(signed_in: httpx.AsyncClient, levels: int, kind: str) -> None:
    """Valid JSON nested past the limit is refused before any decoder recurses through it."""
    opener, closer = (b"[", b"]") if kind == "[]" else (b'{"a":', b"}")
    body = b'{"name":' + opener * levels + b"1" + closer * levels + b"}"
    detail = problem(await signed_in.post(f"{API}/projects", content=body, headers=JSON), 400, "malformed_json")
    assert "levels" in detail["detail"]
    assert (await signed_in.get(f"{API}/projects")).json() == []
    within = b'{"name":' + b"[" * 60 + b"]" * 60 + b"}"  # deep but allowed: the schema answers
    problem(await signed_in.post(f"{API}/projects", content=within, headers=JSON), 422, "invalid_request")


async def test_malformed_json_on_an_authenticated_route(signed_in: httpx.AsyncClient) -> None:
    problem(await signed_in.post(f"{API}/projects", content=b'{"name": "x"', headers=JSON), 400, "malformed_json")
    assert (await signed_in.get(f"{API}/projects")).json() == []


async def test_unknown_fields_are_named(signed_in: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    body = problem(await signed_in.post(f"{API}/projects", json={"name": "x", "colour": "red"}), 422, "invalid_request")
    assert [e["field"] for e in body["errors"]] == ["colour"]
    assert body["errors"][0]["message"]
    body = problem(
        await client.post(
            f"{API}/auth/signup", json={"email": "a@example.com", "password": "x" * 12, "is_admin": True}
        ),
        422,
        "invalid_request",
    )
    assert [e["field"] for e in body["errors"]] == ["is_admin"]
    assert (await signed_in.get(f"{API}/projects")).json() == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": 123}, "name"),
        ({"name": None}, "name"),
        ({"name": ["x"]}, "name"),
        ({"name": "x", "token_required": "false"}, "token_required"),
        ({"name": "x", "token_required": 0}, "token_required"),
        ({"name": "x", "token_required": None}, "token_required"),
    ],
)
async def test_wrong_types_are_422(signed_in: httpx.AsyncClient, payload: dict[str, Any], field: str) -> None:
    body = problem(await signed_in.post(f"{API}/projects", json=payload), 422, "invalid_request")
    assert field in [e["field"] for e in body["errors"]]
    assert (await signed_in.get(f"{API}/projects")).json() == []


@pytest.mark.parametrize("payload", [[], ["name"], "name", 42, None])
async def test_body_that_is_not_an_object_is_422(signed_in: httpx.AsyncClient, payload: Any) -> None:
    problem(await signed_in.post(f"{API}/projects", json=payload), 422, "invalid_request")


async def test_bad_query_parameters_are_422(signed_in: httpx.AsyncClient, make_project: Any) -> None:
    project = await make_project(signed_in)
    body = problem(
        await signed_in.get(f"{API}/projects/{project['app_id']}/usage", params={"start": "yesterday"}),
        422,
        "invalid_request",
    )
    assert [e["field"] for e in body["errors"]] == ["query.start"]


# --- body size ---------------------------------------------------------------------------------


async def test_oversize_body_with_content_length_is_413(client: httpx.AsyncClient, platform: Platform) -> None:
    limit = platform.settings.max_body_bytes
    payload = b'{"email": "' + b"a" * limit + b'"}'
    r = await client.post(f"{API}/auth/signup", content=payload, headers=JSON)
    assert int(r.request.headers["content-length"]) > limit
    body = problem(r, 413, "body_too_large")
    assert str(limit) in body["detail"]


async def test_lying_content_length_is_413(client: httpx.AsyncClient) -> None:
    for bad in ("abc", "-1", "1e9"):
        r = await client.post(f"{API}/auth/signup", content=b"{}", headers={**JSON, "content-length": bad})
        problem(r, 413, "body_too_large")


async def test_oversize_chunked_body_is_413(signed_in: httpx.AsyncClient, platform: Platform) -> None:
    limit = platform.settings.max_body_bytes
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"name": "'
        while sent <= limit:
            sent += 65_536
            yield b"a" * 65_536
        yield b'"}'

    r = await signed_in.post(f"{API}/projects", content=chunks(), headers=JSON)
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    problem(r, 413, "body_too_large")
    assert (await signed_in.get(f"{API}/projects")).json() == []


async def test_chunked_body_under_the_limit_is_read(signed_in: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"na', b'me": "Chun', b'ked"}'):
            yield part

    r = await signed_in.post(f"{API}/projects", content=chunks(), headers=JSON)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Chunked"


async def test_body_just_under_the_limit_reaches_validation(client: httpx.AsyncClient, platform: Platform) -> None:
    limit = platform.settings.max_body_bytes
    payload = b'{"email": "' + b"a" * (limit - 100) + b'", "password": "xxxxxxxxxxxx"}'
    assert len(payload) <= limit
    body = problem(await client.post(f"{API}/auth/signup", content=payload, headers=JSON), 422, "invalid_request")
    assert body["errors"][0]["field"] == "email"


# --- injection-looking input -------------------------------------------------------------------

SQLISH = [
    "'; DROP TABLE projects; --",
    "Robert'); DROP TABLE users;--",
    '" OR 1=1 --',
    "x' UNION SELECT password_hash FROM users --",
    "%' AND name LIKE '%",
    "\\'; SELECT pg_sleep(10); --",
]


async def test_sql_looking_names_are_stored_verbatim(signed_in: httpx.AsyncClient, sign_in: Any) -> None:
    made = []
    for name in SQLISH:
        r = await signed_in.post(f"{API}/projects", json={"name": name})
        assert r.status_code == 201, r.text
        assert r.json()["name"] == name
        made.append(r.json()["app_id"])
    listed = (await signed_in.get(f"{API}/projects")).json()
    assert [p["name"] for p in listed] == SQLISH
    for app_id, name in zip(made, SQLISH, strict=True):
        assert (await signed_in.get(f"{API}/projects/{app_id}")).json()["name"] == name
    # the tables are all still there and working
    other = await sign_in("robert.tables@example.com")
    r = await other.post(f"{API}/projects", json={"name": SQLISH[0]})
    assert r.status_code == 201
    r = await other.post(f"{API}/projects/{r.json()['app_id']}/api-keys", json={"name": SQLISH[1]})
    assert r.status_code == 201 and r.json()["name"] == SQLISH[1]
    assert (await other.get(f"{API}/projects")).json()[0]["name"] == SQLISH[0]


async def test_sql_looking_app_ids_and_emails_are_harmless(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    for app_id in ("' OR '1'='1", "1; DROP TABLE projects", "%25", "*"):
        r = await signed_in.get(f"{API}/projects/{app_id}")
        assert r.status_code == 404, r.text
    problem(
        await client.post(f"{API}/auth/login", json={"email": "' OR 1=1 --", "password": "x"}),
        401,
        "invalid_credentials",
    )
    problem(
        await client.post(f"{API}/auth/signup", json={"email": "x' OR 1=1@example.com", "password": "x" * 12}),
        422,
        "invalid_email",
    )
    assert (await signed_in.post(f"{API}/projects", json={"name": "Still works"})).status_code == 201


# --- problem documents -------------------------------------------------------------------------


async def test_every_error_is_a_problem_document(client: httpx.AsyncClient, signed_in: httpx.AsyncClient) -> None:
    cases = [
        (await client.get(f"{API}/projects"), 401, "unauthenticated"),
        (await client.get(f"{API}/projects", headers={"Authorization": "Bearer hk_1.2"}), 401, "invalid_api_key"),
        (
            await client.post(f"{API}/auth/login", json={"email": "x@example.com", "password": "y"}),
            401,
            "invalid_credentials",
        ),
        (await client.post(f"{API}/auth/signup", json={"email": "nope", "password": "x" * 12}), 422, "invalid_email"),
        (await client.post(f"{API}/auth/signup", json={}), 422, "invalid_request"),
        (await client.post(f"{API}/auth/signup", content=b"{", headers=JSON), 400, "malformed_json"),
        (await signed_in.get(f"{API}/projects/{'0' * 32}"), 404, "project_not_found"),
        (
            await signed_in.post(f"{API}/projects", json={"name": "a"}, headers={"X-CSRF-Token": "no"}),
            403,
            "csrf_failed",
        ),
        (await client.get("/no/such/path"), 404, "not_found"),
        (await client.get(f"{API}/no-such-thing"), 404, "not_found"),
        (await client.delete("/healthz"), 405, "method_not_allowed"),
        (await client.put(f"{API}/projects"), 405, "method_not_allowed"),
        (await client.get(f"{API}/auth/login"), 405, "method_not_allowed"),
    ]
    request_ids = set()
    for r, status, code in cases:
        body = problem(r, status, code)
        request_ids.add(body["request_id"])
    assert len(request_ids) == len(cases)  # one per request


async def test_404_and_405_details(client: httpx.AsyncClient) -> None:
    body = problem(await client.get("/no/such/path"), 404, "not_found")
    assert body["instance"] == "/no/such/path"
    assert "/no/such/path" in body["detail"]
    r = await client.delete("/healthz")
    problem(r, 405, "method_not_allowed")
    assert "GET" in r.headers["allow"]


async def test_client_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    rid = "client-req_42.abc"
    r = await client.get("/healthz", headers={"X-Request-ID": rid})
    assert r.headers["x-request-id"] == rid
    r = await client.get("/nope", headers={"X-Request-ID": rid})
    assert problem(r, 404, "not_found")["request_id"] == rid


@pytest.mark.parametrize("rid", ["has space", "x" * 65, "semi;colon", "tab\tinside", "trailing\n", "ünïcode", ""])
async def test_unsafe_request_id_is_replaced(client: httpx.AsyncClient, rid: str) -> None:
    r = await client.get("/nope", headers={b"X-Request-ID": rid.encode()})
    body = problem(r, 404, "not_found")
    assert body["request_id"] != rid
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


async def test_success_responses_carry_a_request_id(client: httpx.AsyncClient) -> None:
    a = await client.get("/healthz")
    b = await client.get("/healthz")
    assert a.headers["x-request-id"] != b.headers["x-request-id"]
