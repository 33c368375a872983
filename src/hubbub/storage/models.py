"""Tables of the control plane (SQLAlchemy 2 declarative models).

Timestamps are UTC seconds since the epoch as floats: portable between SQLite and PostgreSQL and
cheap to compare with the injected clocks of the engines above.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hubbub.storage.base import NAMING, Base

__all__ = ["NAMING", "ApiKey", "Base", "Project", "Session", "UsageDaily", "User"]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[float] = mapped_column(Float)


class Session(Base):
    """A console sign-in. The cookie carries a random id; only its SHA-256 is stored."""

    __tablename__ = "sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_projects_owner_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_required: Mapped[bool] = mapped_column(Boolean, default=True)
    # App Certificates are secrets the server must read back to check HMACs: encrypted at rest.
    certificate_enc: Mapped[bytes] = mapped_column(LargeBinary)
    certificate_created_at: Mapped[float] = mapped_column(Float)
    previous_certificate_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    previous_valid_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class ApiKey(Base):
    """A server-to-server credential scoped to one project. Only the secret's hash is stored."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class UsageDaily(Base):
    """Per project and UTC day: what later features meter (participant-minutes, messages, agents)."""

    __tablename__ = "usage_daily"
    __table_args__ = (Index("ix_usage_daily_project_day", "project_id", "day", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    audio_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    video_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    messages: Mapped[int] = mapped_column(BigInteger, default=0)
    agent_minutes: Mapped[float] = mapped_column(Float, default=0.0)


# Registers the RTM and webhook tables on Base.metadata (they import only hubbub.storage.base).
from hubbub.storage import models_messaging as _models_messaging  # noqa: E402, F401
