"""Attachments in S3-compatible storage (AWS S3, MinIO, Ceph RGW, R2) over plain HTTPS.

Requests are signed with AWS Signature Version 4 (header form, path-style URLs), so no SDK is
needed: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from urllib.parse import quote, urlsplit

import httpx

from hubbub.storage.blobs import check_key


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_headers(
    method: str,
    url: str,
    *,
    region: str,
    access_key: str,
    secret_key: str,
    payload: bytes,
    now: dt.datetime,
    service: str = "s3",
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers that sign one request (``Authorization``, ``x-amz-date``, ``x-amz-content-sha256``)."""
    parts = urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    payload_hash = hashlib.sha256(payload).hexdigest()
    headers = {"host": parts.netloc, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    headers.update({k.lower(): v.strip() for k, v in (extra or {}).items()})
    names = sorted(headers)
    canonical = "\n".join(
        [
            method,
            quote(parts.path or "/", safe="/-_.~"),
            "&".join(sorted(q for q in parts.query.split("&") if q)),
            "".join(f"{n}:{headers[n]}\n" for n in names),
            ";".join(names),
            payload_hash,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {k: v for k, v in headers.items() if k != "host"}
    out["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


class S3Store:
    def __init__(
        self,
        endpoint: str,
        bucket: str,
        *,
        region: str,
        access_key: str,
        secret_key: str,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.region = region
        self.access_key = access_key
        self.secret_key = secret_key
        self.client = client or httpx.AsyncClient(timeout=30.0)

    def _url(self, key: str) -> str:
        return f"{self.endpoint}/{self.bucket}/{quote(check_key(key), safe='/')}"

    async def _call(self, method: str, key: str, payload: bytes = b"", content_type: str = "") -> httpx.Response:
        url = self._url(key)
        extra = {"content-type": content_type} if content_type else {}
        headers = sigv4_headers(
            method,
            url,
            region=self.region,
            access_key=self.access_key,
            secret_key=self.secret_key,
            payload=payload,
            now=dt.datetime.now(dt.UTC),
            extra=extra,
        )
        return await self.client.request(method, url, content=payload, headers=headers)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        r = await self._call("PUT", key, data, content_type)
        if r.status_code // 100 != 2:
            raise OSError(f"S3 PUT failed with HTTP {r.status_code}")

    async def get(self, key: str) -> bytes:
        r = await self._call("GET", key)
        if r.status_code == 404:
            raise KeyError(key)
        if r.status_code // 100 != 2:
            raise OSError(f"S3 GET failed with HTTP {r.status_code}")
        return r.content

    async def delete(self, key: str) -> None:
        r = await self._call("DELETE", key)
        if r.status_code // 100 != 2 and r.status_code != 404:
            raise OSError(f"S3 DELETE failed with HTTP {r.status_code}")
