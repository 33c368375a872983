"""Attachment blob stores: the local disk store and the S3 request signature."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hubbub.storage.blobs import LocalDiskStore, check_key
from hubbub.storage.s3 import sigv4_headers


def test_sigv4_matches_the_aws_documented_get_object_example() -> None:
    """The "GET Object" example of the S3 Signature Version 4 documentation (header form)."""
    headers = sigv4_headers(
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        region="us-east-1",
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        payload=b"",
        now=dt.datetime(2013, 5, 24, tzinfo=dt.UTC),
        extra={"Range": "bytes=0-9"},
    )
    assert headers["x-amz-date"] == "20130524T000000Z"
    assert headers["x-amz-content-sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


@pytest.mark.parametrize("key", ["../x/y", "app/../y", "app/id/a/b/c", "a b/c", "app//x"])
def test_keys_that_could_climb_out_or_are_malformed_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)
    assert check_key("app/id") == "app/id" and check_key("app/id/blob") == "app/id/blob"


async def test_local_disk_store_round_trip(tmp_path: Path) -> None:
    store = LocalDiskStore(tmp_path)
    await store.put("app/abc/blob", b"bytes", "application/octet-stream")
    assert await store.get("app/abc/blob") == b"bytes"
    assert not list(tmp_path.rglob("*.part"))  # written whole, then renamed
    await store.delete("app/abc/blob")
    await store.delete("app/abc/blob")  # deleting what is gone is fine
    with pytest.raises(KeyError):
        await store.get("app/abc/blob")
