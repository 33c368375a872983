"""Attachments: images and files uploaded over HTTP, referenced from messages by id.

Limits: ``attachment_max_bytes`` (and the server's HTTP body limit) and an allow-list of content
types. An ``image/*`` upload must really be an image of that type (checked with Pillow) and gets
a JPEG or PNG thumbnail no larger than ``thumbnail_px`` on a side.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select

from hubbub.messaging import store
from hubbub.messaging.config import MessagingSettings
from hubbub.messaging.types import refuse
from hubbub.schema.messaging import ErrorCode
from hubbub.storage.blobs import BlobStore, LocalDiskStore
from hubbub.storage.models_messaging import RtmAttachment
from hubbub.util.clock import Clock

_IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    id: str
    app_id: str
    uploader: str
    filename: str
    content_type: str
    size: int
    sha256: str
    width: int
    height: int
    has_thumbnail: bool
    created_at: float
    storage_key: str
    thumb_key: str | None


def _info(r: RtmAttachment) -> AttachmentInfo:
    return AttachmentInfo(
        r.id,
        r.app_id,
        r.uploader,
        r.filename,
        r.content_type,
        r.size,
        r.sha256,
        r.width,
        r.height,
        r.thumb_key is not None,
        r.created_at,
        r.storage_key,
        r.thumb_key,
    )


def thumbnail(data: bytes, content_type: str, px: int) -> tuple[int, int, bytes, str]:
    """Check that ``data`` is an image of ``content_type``; returns its size and a thumbnail.

    Raises ValueError when it is not. Runs in a worker thread (Pillow releases the GIL).
    """
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency; without it no thumbnails
        return 0, 0, b"", ""
    Image.MAX_IMAGE_PIXELS = 50_000_000  # refuse decompression bombs
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != _IMAGE_FORMATS[content_type]:
                raise ValueError("the image's format does not match its content type")
            img.load()
            width, height = img.size
            img.thumbnail((px, px))
            out = io.BytesIO()
            if img.mode in ("RGBA", "LA", "P"):
                img.convert("RGBA").save(out, "PNG", optimize=True)
                return width, height, out.getvalue(), "image/png"
            img.convert("RGB").save(out, "JPEG", quality=80)
            return width, height, out.getvalue(), "image/jpeg"
    except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError("not a readable image") from exc


class AttachmentService:
    def __init__(self, db: store.Db, clock: Clock, settings: MessagingSettings, blobs: BlobStore | None = None) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.blobs = blobs or LocalDiskStore(settings.attachment_dir)

    async def upload(self, app_id: str, uploader: str, filename: str, content_type: str, body: bytes) -> AttachmentInfo:
        content_type = content_type.split(";")[0].strip().lower()
        if len(body) > self.settings.attachment_max_bytes:
            raise refuse(
                ErrorCode.payload_too_large, f"attachments are limited to {self.settings.attachment_max_bytes} bytes"
            )
        if not body:
            raise refuse(ErrorCode.invalid_message, "the attachment is empty")
        if content_type not in self.settings.attachment_types:
            raise refuse(ErrorCode.invalid_message, f"content type {content_type[:60]!r} is not accepted")
        name = "".join(ch for ch in filename if ch.isprintable() and ch not in "/\\")[:255] or "file"
        attachment_id = secrets.token_hex(12)
        width = height = 0
        thumb_key = None
        if content_type in _IMAGE_FORMATS:
            try:
                width, height, thumb, thumb_type = await asyncio.to_thread(
                    thumbnail, body, content_type, self.settings.thumbnail_px
                )
            except ValueError as exc:
                raise refuse(ErrorCode.invalid_message, str(exc)) from None
            if thumb:
                thumb_key = f"{app_id}/{attachment_id}/thumb"
                await self.blobs.put(thumb_key, thumb, thumb_type)
        key = f"{app_id}/{attachment_id}/blob"
        await self.blobs.put(key, body, content_type)
        row = RtmAttachment(
            id=attachment_id,
            app_id=app_id,
            uploader=uploader,
            filename=name,
            content_type=content_type,
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            storage_key=key,
            thumb_key=thumb_key,
            width=width,
            height=height,
            created_at=self.clock(),
        )
        async with self.db() as db:
            db.add(row)
            await db.commit()
        return _info(row)

    async def get(self, app_id: str, attachment_id: str) -> AttachmentInfo:
        async with self.db() as db:
            row = await db.get(RtmAttachment, attachment_id)
        if row is None or row.app_id != app_id:
            raise refuse(ErrorCode.attachment_not_found, "no such attachment")
        return _info(row)

    async def read(self, info: AttachmentInfo, *, thumb: bool = False) -> tuple[bytes, str]:
        if thumb:
            if info.thumb_key is None:
                raise refuse(ErrorCode.attachment_not_found, "this attachment has no thumbnail")
            data = await self.blobs.get(info.thumb_key)
            return data, "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
        return await self.blobs.get(info.storage_key), info.content_type

    async def all_exist(self, app_id: str, ids: list[str]) -> bool:
        async with self.db() as db:
            n = await db.scalar(
                select(func.count())
                .select_from(RtmAttachment)
                .where(RtmAttachment.app_id == app_id, RtmAttachment.id.in_(set(ids)))
            )
        return int(n or 0) == len(set(ids))
