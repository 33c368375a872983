"""Messaging limits and storage choices, from ``HUBBUB_RTM_*`` environment variables or code."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hubbub.schema.messaging import MAX_PAYLOAD_BYTES

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


@dataclass(frozen=True, slots=True)
class MessagingSettings:
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    messages_per_s: float = 10.0  # per connection, channel and peer sends together
    burst: int = 20
    frames_per_s: float = 100.0  # every frame; far beyond it (flood_factor x) disconnects
    flood_factor: float = 5.0
    typing_interval_s: float = 1.0  # at most one typing event per target in this interval
    outbox_frames: int = 4096  # a connection's unsent frames before it counts as a slow consumer
    outbox_bytes: int = 8 * 1024 * 1024
    peer_retention_s: float = 7 * 86_400.0
    replay_max: int = 1000  # messages replayed on a resubscribe; beyond, clients page history
    presence_coalesce_over: int = 100  # channels with more members get presence batched
    presence_interval_s: float = 1.0
    login_timeout_s: float = 10.0
    batch_max: int = 256  # channel messages stored in one transaction
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachment_types: tuple[str, ...] = DEFAULT_TYPES
    attachment_dir: Path = Path("data/attachments")
    thumbnail_px: int = 256
    s3_endpoint: str = ""  # set to store attachments in S3-compatible storage
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""
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
