"""The platform starts on both databases and answers its operations endpoints."""

from __future__ import annotations

import httpx


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["database"] in ("sqlite", "postgresql")
    assert r.headers["x-request-id"]


async def test_metrics_count_requests(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    text = (await client.get("/metrics")).text
    assert 'hubbub_http_requests_total{method="GET",route="/healthz",status="200"}' in text
