"""Messaging limits and storage choices, from ``HUBBUB_RTM_*`` environment variables or code."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from hubbub.schema.messaging import MAX_PAYLOAD_BYTES

_T = TypeVar("_T")

DEFAULT_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "application/zip",
    "audio/mpeg",
    "audio/ogg",
    "video/mp4",
    "application/octet-stream",
)


def _setting(default: _T, doc: str) -> _T:
    """A field with its meaning (``metadata["doc"]``), for the settings reference."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, slots=True)
class MessagingSettings:
    max_payload_bytes: int = _setting(
        MAX_PAYLOAD_BYTES, "Largest message body, in bytes; a larger one is refused with `payload_too_large`."
    )
    messages_per_s: float = _setting(
        10.0,
        "Messages a connection may send per second, channel and peer sends together; beyond the burst they "
        "are refused with `rate_limited` and a `retry_after`.",
    )
    burst: int = _setting(20, "Messages a connection may send at once before `messages_per_s` applies.")
    frames_per_s: float = _setting(
        100.0, "Frames of any kind a connection may send per second (pings, typing, subscribes included)."
    )
    flood_factor: float = _setting(
        5.0, "A connection that sends more than this many times `frames_per_s` at once is closed (`flood`)."
    )
    typing_interval_s: float = _setting(
        1.0, "At most one typing event per target in this interval, in seconds; extra ones are dropped."
    )
    outbox_frames: int = _setting(
        4096,
        "Frames queued for a connection that is not reading before it is closed as a slow consumer "
        "(`slow_consumer`, close code 4008).",
    )
    outbox_bytes: int = _setting(8 * 1024 * 1024, "Bytes queued for a connection before it counts as a slow consumer.")
    peer_retention_s: float = _setting(
        7 * 86_400.0,
        "How long a peer message waits for an offline recipient before it is deleted, in seconds (default 7 days).",
    )
    replay_max: int = _setting(
        1000, "Messages replayed on a resubscribe; when more were missed, clients page the history instead."
    )
    presence_coalesce_over: int = _setting(
        100,
        "Channels with more members than this get presence changes batched (one frame per tick) instead of "
        "each sent at once.",
    )
    presence_interval_s: float = _setting(
        1.0, "Reserved: batched presence is sent on every messaging tick (a quarter of a second) today."
    )
    login_timeout_s: float = _setting(
        10.0, "How long a new `/rtm/v1` connection may take to send its `login` frame before it is closed, in seconds."
    )
    batch_max: int = _setting(256, "Channel messages stored in one database transaction.")
    attachment_max_bytes: int = _setting(10 * 1024 * 1024, "Largest attachment (image or file) upload, in bytes.")
    attachment_types: tuple[str, ...] = _setting(
        DEFAULT_TYPES, "Content types an attachment may have, comma-separated in the variable."
    )
    attachment_dir: Path = field(
        default=Path("data/attachments"),
        metadata={
            "doc": "Where attachments are stored on disk when no S3 endpoint is set. "
            "Default: `attachments/` in `data_dir`."
        },
    )
    thumbnail_px: int = _setting(256, "Longest side of the thumbnail made for an image attachment, in pixels.")
    s3_endpoint: str = _setting(
        "",
        "URL of an S3-compatible store (AWS S3, MinIO...) to keep attachments in. Empty: on disk in `attachment_dir`.",
    )
    s3_bucket: str = _setting("", "The S3 bucket attachments go to.")
    s3_region: str = _setting("us-east-1", "The S3 region used to sign requests.")
    s3_access_key: str = _setting("", "The S3 access key id.")
    s3_secret_key: str = _setting("", "The S3 secret access key.")
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, data_dir: Path, env: Mapping[str, str] | None = None, **overrides: object) -> MessagingSettings:
        """Defaults, then ``HUBBUB_RTM_<FIELD>`` variables, then ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, object] = {"attachment_dir": data_dir / "attachments"}
        for f in dataclasses.fields(cls):
            raw = env.get(f"HUBBUB_RTM_{f.name.upper()}")
            if raw is None or raw == "" or f.name == "extra":
                continue
            kind = type(getattr(cls(), f.name))
            if kind is tuple:
                values[f.name] = tuple(t.strip() for t in raw.split(",") if t.strip())
            elif kind is bool:
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            elif issubclass(kind, Path):
                values[f.name] = Path(raw)
            else:
                values[f.name] = kind(raw)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
