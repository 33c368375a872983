"""What every use case needs: the database, the clock, the secret box and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hubbub.config import Settings
from hubbub.control.secretbox import SecretBox
from hubbub.util.clock import Clock


@dataclass(frozen=True, slots=True)
class ControlContext:
    db: async_sessionmaker[AsyncSession]
    clock: Clock
    box: SecretBox
    settings: Settings


@dataclass(frozen=True, slots=True)
class UserPrincipal:
    """A console user signed in with a session cookie: sees the projects they own."""

    user_id: int


@dataclass(frozen=True, slots=True)
class ApiKeyPrincipal:
    """A server holding an API key: sees exactly one project."""

    key_id: str
    project_id: int


Principal = UserPrincipal | ApiKeyPrincipal
