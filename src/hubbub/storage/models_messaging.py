"""Tables of real-time messaging (RTM) and of webhooks.

Messaging rows are keyed by App ID (what a token carries), so the hot path never looks a project
up. A channel's ``last_seq`` in ``rtm_channels`` is the sequence counter: it is raised in the same
transaction that inserts the messages, so a sequence number is never given twice nor skipped.
Webhook endpoints belong to a project (deleted with it); their deliveries form a persisted
outbox, written in the same transaction as the event they report where possible.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hubbub.storage.base import Base

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


class RtmChannel(Base):
    __tablename__ = "rtm_channels"

    app_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[float] = mapped_column(Float)


class RtmMessage(Base):
    __tablename__ = "rtm_messages"
    __table_args__ = (
        UniqueConstraint("app_id", "channel", "seq", name="uq_rtm_messages_channel_seq"),
        UniqueConstraint("app_id", "channel", "sender", "client_msg_id", name="uq_rtm_messages_client_id"),
        Index("ix_rtm_messages_channel_ts", "app_id", "channel", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    sender: Mapped[str] = mapped_column(String(255))
    client_msg_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[str | None] = mapped_column(Text, nullable=True)  # compact JSON
    attachments: Mapped[str] = mapped_column(Text, default="")  # comma-separated attachment ids
    created_at: Mapped[float] = mapped_column(Float)
    deleted_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class RtmPeerMessage(Base):
    __tablename__ = "rtm_peer_messages"
    __table_args__ = (
        UniqueConstraint("app_id", "sender", "recipient", "client_msg_id", name="uq_rtm_peer_messages_client_id"),
        Index("ix_rtm_peer_messages_inbox", "app_id", "recipient", "seq"),
        Index("ix_rtm_peer_messages_expires_at", "expires_at"),
    )

    seq: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    app_id: Mapped[str] = mapped_column(String(32))
    sender: Mapped[str] = mapped_column(String(255))
    recipient: Mapped[str] = mapped_column(String(255))
    client_msg_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[str | None] = mapped_column(Text, nullable=True)
    attachments: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class RtmReadMarker(Base):
    """The newest seq a user has read in a channel (unread counts start after it)."""

    __tablename__ = "rtm_read_markers"

    app_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


class RtmModeration(Base):
    """A ban (no reading, no sending) or a mute (no sending) of a user in a channel."""

    __tablename__ = "rtm_moderation"

    app_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    action: Mapped[str] = mapped_column(String(8), primary_key=True)  # "ban" | "mute"
    until: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: until lifted
    created_at: Mapped[float] = mapped_column(Float)


class RtmAttachment(Base):
    __tablename__ = "rtm_attachments"
    __table_args__ = (Index("ix_rtm_attachments_app_id", "app_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    uploader: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    thumb_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)


class WebhookEndpoint(Base):
    """Where a project's events go (``kind`` "events") or its pre-delivery hook (``pre_delivery``)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="events")
    url: Mapped[str] = mapped_column(String(2048))
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    events: Mapped[str] = mapped_column(String(1024), default="")  # comma-separated prefixes; "" = all
    timeout_ms: Mapped[int] = mapped_column(Integer, default=5000)
    fail_open: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Float)


class WebhookDelivery(Base):
    """One event for one endpoint: the persisted outbox the delivery worker drains in order."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_order", "endpoint_id", "ordering_key", "id"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    ordering_key: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
