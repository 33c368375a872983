"""API keys for server-to-server REST calls, each scoped to one project.

A key is shown once as ``<key_id>.<secret>``; only the SHA-256 of the secret is stored (the
secret is 256 random bits, so a slow hash adds nothing). Clients send it as a Bearer token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from hubbub.control.context import ApiKeyPrincipal, ControlContext, Principal
from hubbub.control.errors import Forbidden, InvalidInput, NotFound
from hubbub.control.projects import Projects
from hubbub.storage.models import ApiKey

KEY_PREFIX = "hk_"


@dataclass(frozen=True, slots=True)
class ApiKeyView:
    key_id: str
    name: str
    created_at: float
    last_used_at: float | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _view(k: ApiKey) -> ApiKeyView:
    return ApiKeyView(key_id=k.key_id, name=k.name, created_at=k.created_at, last_used_at=k.last_used_at)


class ApiKeys:
    def __init__(self, ctx: ControlContext, projects: Projects) -> None:
        self.ctx = ctx
        self.projects = projects

    async def create(self, principal: Principal, app_id: str, name: str) -> tuple[ApiKeyView, str]:
        """Returns the key and its full credential ``key_id.secret`` (shown once)."""
        project_id = await self.projects.project_id_for(principal, app_id)  # invisible: 404 before 403
        if isinstance(principal, ApiKeyPrincipal):
            raise Forbidden("forbidden", "API keys cannot create API keys; sign in to the console.")
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise InvalidInput("invalid_name", "An API key name has 1 to 100 characters.")
        key_id = KEY_PREFIX + secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            key_id=key_id, project_id=project_id, name=name, secret_hash=_hash(secret), created_at=self.ctx.clock()
        )
        async with self.ctx.db() as db:
            db.add(key)
            await db.commit()
        return _view(key), f"{key_id}.{secret}"

    async def list_for(self, principal: Principal, app_id: str) -> list[ApiKeyView]:
        project_id = await self.projects.project_id_for(principal, app_id)
        async with self.ctx.db() as db:
            rows = await db.execute(select(ApiKey).where(ApiKey.project_id == project_id).order_by(ApiKey.created_at))
            return [_view(k) for k in rows.scalars()]

    async def revoke(self, principal: Principal, app_id: str, key_id: str) -> None:
        project_id = await self.projects.project_id_for(principal, app_id)
        async with self.ctx.db() as db:
            key = await db.get(ApiKey, key_id)
            if key is None or key.project_id != project_id:
                raise NotFound("api_key_not_found", f"No API key {key_id!r} in this project.")
            await db.delete(key)
            await db.commit()

    async def authenticate(self, credential: str) -> ApiKeyPrincipal | None:
        """The principal for ``key_id.secret``, or None for anything else (unknown, revoked, wrong)."""
        key_id, _, secret = credential.partition(".")
        if not key_id.startswith(KEY_PREFIX) or not secret or len(credential) > 200:
            return None
        async with self.ctx.db() as db:
            key = await db.get(ApiKey, key_id)
            if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
                return None
            now = self.ctx.clock()
            if key.last_used_at is None or now - key.last_used_at > 60:
                key.last_used_at = now
                await db.commit()
            return ApiKeyPrincipal(key_id=key.key_id, project_id=key.project_id)
